#include "storage/producer_state.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace rill::storage::test {
namespace {

batch_opts prod(int64_t pid, int16_t epoch, int32_t seq) {
    return {pid, epoch, seq, 0};
}

TEST(ProducerState, DuplicateReturnsOriginalOffsets) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"));
    auto a = must_append(*log, make_simple(3, 10, 1, prod(7, 0, 0)));
    auto b = must_append(*log, make_simple(2, 10, 1, prod(7, 0, 3)));
    EXPECT_EQ(b.base_offset, 3);
    auto dup = must_append(*log, make_simple(3, 10, 1, prod(7, 0, 0)));
    EXPECT_TRUE(dup.duplicate);
    EXPECT_EQ(dup.base_offset, a.base_offset);
    EXPECT_EQ(dup.last_offset, a.last_offset);
    EXPECT_EQ(log->log_end_offset(), 5);
}

TEST(ProducerState, SequenceGapEpochAndUnknownProducer) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"));
    // Unknown producer: any sequence.
    must_append(*log, make_simple(2, 10, 1, prod(9, 3, 42)));
    auto gap = make_simple(1, 10, 1, prod(9, 3, 45));
    EXPECT_EQ(log->append(gap, 0, 1).error().code, errc::out_of_order_sequence);
    auto stale = make_simple(1, 10, 1, prod(9, 2, 44));
    EXPECT_EQ(log->append(stale, 0, 1).error().code, errc::invalid_producer_epoch);
    auto new_epoch_bad = make_simple(1, 10, 1, prod(9, 4, 5));
    EXPECT_EQ(log->append(new_epoch_bad, 0, 1).error().code, errc::out_of_order_sequence);
    must_append(*log, make_simple(1, 10, 1, prod(9, 4, 0)));
    must_append(*log, make_simple(1, 10, 1, prod(9, 4, 1)));
    EXPECT_EQ(log->log_end_offset(), 4);
    // Non-idempotent batches are never checked.
    must_append(*log, make_simple(1, 10, 1));
    must_append(*log, make_simple(1, 10, 1));
}

TEST(ProducerState, OnlyTheLastFiveBatchesAreCached) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"));
    for (int i = 0; i < 7; ++i)
        must_append(*log, make_simple(1, 10, 1, prod(1, 0, i)));
    EXPECT_TRUE(must_append(*log, make_simple(1, 10, 1, prod(1, 0, 2))).duplicate);
    auto old = make_simple(1, 10, 1, prod(1, 0, 1));
    EXPECT_EQ(log->append(old, 0, 1).error().code, errc::out_of_order_sequence);
}

TEST(ProducerState, SequenceWrapsAtInt32Max) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"));
    must_append(*log, make_simple(1, 10, 1, prod(1, 0, INT32_MAX)));
    must_append(*log, make_simple(2, 10, 1, prod(1, 0, 0)));
}

TEST(ProducerState, DedupSurvivesCleanAndUncleanRestart) {
    temp_dir d;
    log_config c;
    c.segment_bytes = 2000;
    for (bool clean : {true, false}) {
        std::string dir = d.sub(std::string(clean ? "c" : "u") + "-0");
        {
            auto log = open_log(dir, c);
            for (int i = 0; i < 30; ++i)
                must_append(*log, make_simple(2, 50, 1, prod(5, 1, 2 * i)));
            if (clean) {
                ASSERT_TRUE(log->close());
            }
        }
        auto log = open_log(dir, c);
        EXPECT_GT(log->segment_count(), 2u);
        auto dup = must_append(*log, make_simple(2, 50, 1, prod(5, 1, 56)));
        EXPECT_TRUE(dup.duplicate) << clean;
        EXPECT_EQ(dup.base_offset, 56);
        auto next = must_append(*log, make_simple(2, 50, 1, prod(5, 1, 60)));
        EXPECT_FALSE(next.duplicate);
        EXPECT_EQ(next.base_offset, 60);
        auto stale = make_simple(1, 10, 1, prod(5, 0, 0));
        EXPECT_EQ(log->append(stale, 0, 1).error().code, errc::invalid_producer_epoch);
    }
}

TEST(ProducerState, SnapshotRoundTripAndCorruption) {
    producer_state st;
    protocol::batch_header h;
    h.producer_id = 3;
    h.producer_epoch = 2;
    h.base_sequence = 10;
    h.last_offset_delta = 4;
    h.base_offset = 100;
    h.max_timestamp = 77;
    st.update(h);
    auto bytes = st.serialize();
    auto back = producer_state::deserialize(bytes);
    ASSERT_TRUE(back);
    ASSERT_NE(back->find(3), nullptr);
    EXPECT_EQ(back->find(3)->batches.back().last_seq, 14);
    EXPECT_EQ(back->find(3)->batches.back().first_offset, 100);
    bytes[6] ^= 1;
    EXPECT_FALSE(producer_state::deserialize(bytes));
}

}  // namespace
}  // namespace rill::storage::test
