#include "storage/producer_state.h"

#include <gtest/gtest.h>

#include <map>

#include "protocol/record_batch.h"
#include "storage/format.h"
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

namespace rill::storage::test {
namespace {

std::vector<uint8_t> txn_batch(int n, int64_t pid, int16_t epoch, int32_t seq) {
    auto b = make_simple(n, 10, 1, prod(pid, epoch, seq));
    b[protocol::kAttributesOffset + 1] |= static_cast<uint8_t>(protocol::kAttrTransactional);
    protocol::update_batch_crc(b);
    return b;
}

std::vector<uint8_t> marker(int64_t pid, int16_t epoch, bool commit) {
    protocol::batch_spec spec;
    spec.producer_id = pid;
    spec.producer_epoch = epoch;
    protocol::control_record c;
    c.type = commit ? protocol::control_type::commit : protocol::control_type::abort;
    c.coordinator_epoch = 3;
    auto b = protocol::build_control_batch(spec, c, 5);
    EXPECT_TRUE(b);
    return std::vector<uint8_t>(b->begin(), b->end());
}

TEST(ProducerStateTxn, ControlTypeOfMarkers) {
    EXPECT_EQ(control_type_of(marker(1, 0, true)), kControlCommit);
    EXPECT_EQ(control_type_of(marker(1, 0, false)), kControlAbort);
    EXPECT_EQ(control_type_of(std::vector<uint8_t>(10)), -1);
}

TEST(ProducerStateTxn, LastStableOffsetAndAbortedIndex) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"));
    must_append(*log, make_simple(2, 10, 1));  // 0-1 plain
    must_append(*log, txn_batch(3, 5, 0, 0));  // 2-4 txn of 5
    must_append(*log, txn_batch(2, 6, 0, 0));  // 5-6 txn of 6
    log->set_high_watermark(log->log_end_offset());
    EXPECT_EQ(log->last_stable_offset(), 2);
    must_append(*log, marker(5, 0, false));  // 7: abort of 5
    log->set_high_watermark(log->log_end_offset());
    EXPECT_EQ(log->last_stable_offset(), 5);
    must_append(*log, txn_batch(1, 5, 0, 3));  // 8: a new transaction of 5
    must_append(*log, marker(6, 0, true));     // 9: commit of 6
    must_append(*log, marker(5, 0, false));    // 10: abort of 5
    log->set_high_watermark(log->log_end_offset());
    EXPECT_EQ(log->last_stable_offset(), 11);
    auto ab = log->producers().aborted_between(0, 11);
    ASSERT_EQ(ab.size(), 2u);
    EXPECT_EQ(ab[0], (aborted_txn{5, 2, 7}));
    EXPECT_EQ(ab[1], (aborted_txn{5, 8, 10}));
    // Only transactions overlapping the range; sorted by first offset.
    EXPECT_EQ(log->producers().aborted_between(8, 11).size(), 1u);
    EXPECT_EQ(log->producers().aborted_between(0, 2).size(), 0u);

    // A snapshot keeps the index and the open transactions.
    must_append(*log, txn_batch(1, 6, 0, 2));  // 11: open
    auto back = producer_state::deserialize(log->producers().serialize());
    ASSERT_TRUE(back);
    EXPECT_EQ(back->aborted(), log->producers().aborted());
    EXPECT_EQ(back->first_unstable_offset(), std::optional<int64_t>(11));
}

TEST(ProducerStateTxn, RecoveryRebuildsFromTheLog) {
    temp_dir d;
    {
        auto log = open_log(d.sub("t-0"));
        must_append(*log, txn_batch(3, 5, 0, 0));  // 0-2
        must_append(*log, marker(5, 0, false));    // 3
        must_append(*log, txn_batch(2, 7, 0, 0));  // 4-5 open
        ASSERT_TRUE(log->close());
    }
    // Without snapshots the state comes from the batches themselves.
    auto snaps = list_snapshots(*posix_file_system(), d.sub("t-0"));
    ASSERT_TRUE(snaps);
    for (int64_t off : *snaps)
        std::remove((d.sub("t-0") + "/" + offset_file_stem(off) + kSnapshotSuffix).c_str());
    auto log = open_log(d.sub("t-0"));
    log->set_high_watermark(log->log_end_offset());
    EXPECT_EQ(log->last_stable_offset(), 4);
    auto ab = log->producers().aborted_between(0, 100);
    ASSERT_EQ(ab.size(), 1u);
    EXPECT_EQ(ab[0], (aborted_txn{5, 0, 3}));
    // Retention past the marker drops the entry.
    producer_state st = log->producers();
    st.remove_below(4);
    EXPECT_TRUE(st.aborted().empty());
    EXPECT_EQ(st.first_unstable_offset(), std::optional<int64_t>(4));
}

TEST(ProducerStateTxn, CompactionDropsAbortedRecordsAndStopsAtTheLso) {
    temp_dir d;
    log_config c;
    c.segment_bytes = 1 << 20;
    c.cleanup_compact = true;
    c.cleanup_delete = false;
    c.retention_ms = -1;
    c.min_cleanable_dirty_ratio = 0.0;
    auto log = open_log(d.sub("t-0"), c);
    must_append(*log, make_simple(2, 10, 1));  // 0-1: k0, k1 committed (plain)
    must_append(*log, txn_batch(2, 5, 0, 0));  // 2-3: k0, k1 of an aborted transaction
    must_append(*log, marker(5, 0, false));    // 4
    ASSERT_TRUE(log->roll(1000));
    must_append(*log, txn_batch(1, 6, 0, 0));  // 5: k0, still open
    ASSERT_TRUE(log->roll(1000));
    must_append(*log, make_simple(1, 10, 1));  // 6: the active segment
    log->set_high_watermark(log->log_end_offset());
    ASSERT_TRUE(log->compact_now(1000));
    // Values by offset: the plain records survive the aborted ones that came later.
    auto bytes = region_bytes(*log->read(0, 1 << 30, 1 << 30));
    std::map<int64_t, std::string> keys;
    for (size_t p = 0; p < bytes.size();) {
        auto span = std::span<const uint8_t>(bytes).subspan(p);
        auto h = *protocol::parse_batch_header(span);
        auto recs = protocol::read_records(span.subspan(0, h.total_size()));
        ASSERT_TRUE(recs);
        if (!h.is_control())
            for (const auto& r : *recs)
                keys[r.offset] = std::string(r.key->begin(), r.key->end());
        p += h.total_size();
    }
    EXPECT_EQ(keys.count(0), 1u);
    EXPECT_EQ(keys.count(1), 1u);
    EXPECT_EQ(keys.count(2), 0u);  // aborted: removed
    EXPECT_EQ(keys.count(3), 0u);
    EXPECT_EQ(keys.count(5), 1u);  // above the LSO: not cleaned
}

}  // namespace
}  // namespace rill::storage::test
