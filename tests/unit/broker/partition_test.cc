// broker::partition: ISR expansion (high watermark and epoch start, KAFKA-7128), the maximal
// ISR while an ISR change is written (KIP-497), and stale metadata states.
#include "broker/partition.h"

#include <gtest/gtest.h>

#include "storage/test_util.h"

namespace rill::broker {
namespace {

namespace st = storage::test;

constexpr int32_t kSelf = 1;
constexpr int64_t kNow = 1000;

struct proposal {
    std::vector<int32_t> isr;
    std::string why;
};

class PartitionTest : public ::testing::Test {
  protected:
    PartitionTest() {
        log_ = std::shared_ptr<storage::partition_log>(st::open_log(dir_.sub("t-0")));
        part_ = std::make_unique<partition>(
            storage::topic_partition{"t", 0}, 0, log_, kSelf,
            [this](partition&, std::vector<int32_t> isr, const char* why) {
                proposals_.push_back({std::move(isr), why});
            });
    }

    static cluster::partition_info state(int32_t leader, int32_t epoch, int32_t pepoch,
                                         std::vector<int32_t> replicas, std::vector<int32_t> isr) {
        cluster::partition_info pi;
        pi.id = 0;
        pi.leader = leader;
        pi.leader_epoch = epoch;
        pi.partition_epoch = pepoch;
        pi.replicas = std::move(replicas);
        pi.isr = std::move(isr);
        return pi;
    }

    // Appends `n` one-record batches as leader.
    void append(int n) {
        for (int i = 0; i < n; ++i) {
            auto b = st::make_simple(1, 10, kNow);
            ASSERT_TRUE(part_->append(b, kNow)) << "append " << i;
        }
    }

    st::temp_dir dir_;
    std::shared_ptr<storage::partition_log> log_;
    std::unique_ptr<partition> part_;
    std::vector<proposal> proposals_;
};

TEST_F(PartitionTest, FollowerJoinsIsrOnlyFromTheCurrentEpochStart) {
    // A log written under epoch 0 (10 records) whose last known high watermark is 5.
    for (int i = 0; i < 2; ++i)
        st::must_append(*log_, st::make_simple(5, 10, kNow), kNow, 0);
    log_->set_high_watermark(5);
    // Becoming leader at epoch 1 with ISR {1, 3}: replica 3 has not fetched, so the high
    // watermark stays at 5 while the epoch starts at 10.
    auto t = part_->apply_state(state(kSelf, 1, 1, {1, 2, 3}, {1, 3}), true, kNow);
    ASSERT_FALSE(t.ignored);
    ASSERT_TRUE(part_->is_leader());
    EXPECT_EQ(part_->epoch_start_offset(), 10);
    EXPECT_EQ(log_->high_watermark(), 5);

    // Replica 2 at the high watermark but below the epoch start: not in sync (KAFKA-7128).
    part_->on_follower_fetch(2, 5, kNow);
    part_->on_follower_fetch(2, 7, kNow);
    EXPECT_TRUE(proposals_.empty()) << "proposed " << proposals_.front().isr.size();

    // Replica 3 catches up: the high watermark reaches the log end.
    part_->on_follower_fetch(3, 10, kNow);
    EXPECT_EQ(log_->high_watermark(), 10);
    EXPECT_TRUE(proposals_.empty());

    // Replica 2 reaches the epoch start (and the high watermark): proposed.
    part_->on_follower_fetch(2, 10, kNow);
    ASSERT_EQ(proposals_.size(), 1u);
    EXPECT_EQ(proposals_[0].isr, (std::vector<int32_t>{1, 2, 3}));
}

TEST_F(PartitionTest, PendingIsrAdditionHoldsTheHighWatermark) {
    part_->apply_state(state(kSelf, 1, 1, {1, 2}, {1}), true, kNow);
    append(10);
    EXPECT_EQ(log_->high_watermark(), 10);  // ISR {1}: committed at once

    part_->on_follower_fetch(2, 10, kNow);
    ASSERT_EQ(proposals_.size(), 1u);
    ASSERT_TRUE(part_->isr_change_inflight());
    EXPECT_EQ(part_->maximal_isr(), (std::vector<int32_t>{1, 2}));

    // While {1, 2} is being written, the newcomer counts: the high watermark waits for it.
    append(5);
    EXPECT_EQ(log_->high_watermark(), 10);
    part_->on_follower_fetch(2, 12, kNow);
    EXPECT_EQ(log_->high_watermark(), 12);

    // The write is answered and applied: the newcomer is a committed ISR member.
    part_->end_isr_change();
    part_->apply_state(state(kSelf, 1, 2, {1, 2}, {1, 2}), true, kNow);
    EXPECT_FALSE(part_->isr_change_inflight());
    EXPECT_EQ(log_->high_watermark(), 12);
    part_->on_follower_fetch(2, 15, kNow);
    EXPECT_EQ(log_->high_watermark(), 15);
}

TEST_F(PartitionTest, FailedIsrAdditionReleasesTheHighWatermark) {
    part_->apply_state(state(kSelf, 1, 1, {1, 2}, {1}), true, kNow);
    append(3);
    part_->on_follower_fetch(2, 3, kNow);
    ASSERT_EQ(proposals_.size(), 1u);
    append(2);
    EXPECT_EQ(log_->high_watermark(), 3);
    // The conditional write lost (no state applied): only the committed ISR {1} counts again.
    part_->end_isr_change();
    EXPECT_EQ(part_->maximal_isr(), (std::vector<int32_t>{1}));
    part_->advance_high_watermark(kNow);
    EXPECT_EQ(log_->high_watermark(), 5);
}

TEST_F(PartitionTest, PendingIsrRemovalStillCountsTheReplica) {
    part_->apply_state(state(kSelf, 1, 1, {1, 2}, {1, 2}), true, kNow);
    part_->on_follower_fetch(2, 0, kNow);
    append(4);
    part_->on_follower_fetch(2, 2, kNow);
    EXPECT_EQ(log_->high_watermark(), 2);
    part_->shrink_isr(kNow + 100'000, 30'000);
    ASSERT_EQ(proposals_.size(), 1u);
    EXPECT_EQ(proposals_[0].isr, (std::vector<int32_t>{1}));
    append(1);
    EXPECT_EQ(log_->high_watermark(), 2);  // not removed until the change is committed
    part_->end_isr_change();
    part_->apply_state(state(kSelf, 1, 2, {1, 2}, {1}), true, kNow);
    EXPECT_EQ(log_->high_watermark(), 5);
}

// An acks=all append (or a coordinator write) is answered only once every ISR follower fetched
// past it: a follower that keeps fetching at its old offset (a parked fetch re-read on wake-up,
// or a fetch sent before it was paused) moves neither the high watermark nor the waiter.
TEST_F(PartitionTest, AckWaiterWaitsForEveryIsrFollower) {
    part_->apply_state(state(kSelf, 1, 1, {1, 2, 3}, {1, 2, 3}), true, kNow);
    append(1);
    EXPECT_EQ(log_->high_watermark(), 0);  // nobody fetched yet
    part_->on_follower_fetch(2, 1, kNow);
    part_->on_follower_fetch(3, 1, kNow);
    EXPECT_EQ(log_->high_watermark(), 1);

    append(1);
    std::vector<error_code> answers;
    part_->when_committed(2, 1, [&](error_code e) { answers.push_back(e); });
    part_->on_follower_fetch(2, 2, kNow);
    part_->on_follower_fetch(3, 1, kNow);  // the same offset again
    part_->on_follower_fetch(3, 1, kNow + 10);
    EXPECT_EQ(log_->high_watermark(), 1);
    EXPECT_TRUE(answers.empty());
    part_->on_follower_fetch(3, 2, kNow + 20);
    EXPECT_EQ(log_->high_watermark(), 2);
    EXPECT_EQ(answers, (std::vector<error_code>{error_code::none}));
}

TEST_F(PartitionTest, StateWithLowerLeaderEpochIsIgnored) {
    part_->apply_state(state(kSelf, 5, 7, {1, 2}, {1, 2}), true, kNow);
    ASSERT_TRUE(part_->is_leader());
    // A late state of an older leader epoch, even with a larger partition epoch, changes nothing.
    auto t = part_->apply_state(state(2, 4, 9, {1, 2}, {2}), true, kNow);
    EXPECT_TRUE(t.ignored);
    EXPECT_TRUE(part_->is_leader());
    EXPECT_EQ(part_->leader_epoch(), 5);
    EXPECT_EQ(part_->partition_epoch(), 7);
    EXPECT_EQ(part_->isr(), (std::vector<int32_t>{1, 2}));
    // Same leader epoch, older partition epoch: ignored too.
    t = part_->apply_state(state(kSelf, 5, 6, {1, 2}, {1}), true, kNow);
    EXPECT_TRUE(t.ignored);
    EXPECT_EQ(part_->isr(), (std::vector<int32_t>{1, 2}));
    // A newer leader epoch applies.
    t = part_->apply_state(state(2, 6, 8, {1, 2}, {1, 2}), true, kNow);
    EXPECT_FALSE(t.ignored);
    EXPECT_TRUE(t.leader_changed);
    EXPECT_FALSE(part_->is_leader());
    EXPECT_EQ(part_->leader_id(), 2);
}

}  // namespace
}  // namespace rill::broker
