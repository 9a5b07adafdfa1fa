#include "storage/partition_log.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace rill::storage::test {
namespace {

log_config small_config() {
    log_config c;
    c.segment_bytes = 4096;
    c.index_interval_bytes = 256;
    c.retention_ms = -1;
    return c;
}

TEST(PartitionLog, EmptyLogBasics) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"));
    EXPECT_EQ(log->log_start_offset(), 0);
    EXPECT_EQ(log->log_end_offset(), 0);
    EXPECT_EQ(log->high_watermark(), 0);
    auto r = log->read(0, 1 << 20, 100);
    ASSERT_TRUE(r);
    EXPECT_TRUE(r->regions.empty());
    EXPECT_EQ(log->read(1, 100, 100).error().code, errc::offset_out_of_range);
    EXPECT_EQ(log->read(-1, 100, 100).error().code, errc::offset_out_of_range);
}

TEST(PartitionLog, AppendAssignsOffsetsAndStampsHeader) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"));
    auto a = must_append(*log, make_simple(3, 10, 500), 1000, 7);
    EXPECT_EQ(a.base_offset, 0);
    EXPECT_EQ(a.last_offset, 2);
    EXPECT_EQ(a.log_append_time, -1);
    EXPECT_EQ(a.log_start_offset, 0);
    auto b = must_append(*log, make_simple(2, 10, 600), 1000, 7);
    EXPECT_EQ(b.base_offset, 3);
    EXPECT_EQ(log->log_end_offset(), 5);
    auto r = log->read(0, 1 << 20, log->log_end_offset());
    ASSERT_TRUE(r);
    auto bytes = region_bytes(*r);
    auto hs = headers_of(bytes);
    ASSERT_EQ(hs.size(), 2u);
    EXPECT_EQ(hs[0].base_offset, 0);
    EXPECT_EQ(hs[0].partition_leader_epoch, 7);
    EXPECT_EQ(hs[1].base_offset, 3);
    // CRC still valid (base offset and epoch are outside it).
    size_t first = hs[0].total_size();
    EXPECT_EQ(protocol::compute_batch_crc(std::span<const uint8_t>(bytes).subspan(0, first)),
              hs[0].crc);
    EXPECT_EQ(r->last_offset, 4);
    auto ep = log->end_offset_for_epoch(7);
    ASSERT_TRUE(ep);
    EXPECT_EQ(ep->first, 7);
    EXPECT_EQ(ep->second, 5);
}

TEST(PartitionLog, LogAppendTimeRestampsAndKeepsCrcValid) {
    temp_dir d;
    log_config c;
    c.log_append_time = true;
    auto log = open_log(d.sub("t-0"), c);
    auto a = must_append(*log, make_simple(2, 10, 5), 123456);
    EXPECT_EQ(a.log_append_time, 123456);
    auto r = log->read(0, 1 << 20, 10);
    auto bytes = region_bytes(*r);
    auto h = headers_of(bytes)[0];
    EXPECT_TRUE(h.log_append_time());
    EXPECT_EQ(h.max_timestamp, 123456);
    EXPECT_EQ(protocol::compute_batch_crc(bytes), h.crc);
}

TEST(PartitionLog, RejectsMalformedBatchBytes) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"));
    std::vector<uint8_t> junk(30, 1);
    EXPECT_EQ(log->append(junk, 0, 0).error().code, errc::corrupt_batch);
    auto b = make_simple(1, 10, 0);
    b.resize(b.size() - 1);
    EXPECT_EQ(log->append(b, 0, 0).error().code, errc::corrupt_batch);
    EXPECT_EQ(log->log_end_offset(), 0);
}

// Reading at every offset returns whole batches starting with the one holding the offset,
// across index intervals and segment boundaries, for several max_bytes values.
TEST(PartitionLog, ReadAtEveryOffsetAndBoundary) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), small_config());
    std::vector<std::pair<int64_t, int64_t>> batches;  // [base, last]
    for (int i = 0; i < 60; ++i) {
        int n = 1 + i % 4;
        auto a = must_append(*log, make_simple(n, 20 + (i * 37) % 200, 1000 + i));
        batches.push_back({a.base_offset, a.last_offset});
    }
    ASSERT_GT(log->segment_count(), 3u);
    int64_t leo = log->log_end_offset();
    for (size_t max_bytes : {size_t(1), size_t(300), size_t(5000), size_t(1) << 20}) {
        for (int64_t off = 0; off < leo; ++off) {
            auto r = log->read(off, max_bytes, leo);
            ASSERT_TRUE(r) << off;
            auto bytes = region_bytes(*r);
            auto hs = headers_of(bytes);
            ASSERT_FALSE(hs.empty());
            EXPECT_LE(hs.front().base_offset, off);
            EXPECT_GE(hs.front().last_offset(), off);
            if (hs.size() > 1) {
                EXPECT_LE(bytes.size(), max_bytes);
            }
            for (size_t i = 1; i < hs.size(); ++i)
                EXPECT_EQ(hs[i].base_offset, hs[i - 1].last_offset() + 1);
            EXPECT_EQ(r->last_offset, hs.back().last_offset());
            EXPECT_EQ(r->bytes, bytes.size());
        }
    }
    // upper bound: nothing at or beyond it
    auto r = log->read(0, 1 << 20, batches[3].second + 1);
    auto hs = headers_of(region_bytes(*r));
    EXPECT_EQ(hs.back().last_offset(), batches[3].second);
    r = log->read(batches[3].first, 1 << 20, batches[3].first);  // the batch straddles the bound
    EXPECT_TRUE(r->regions.empty());
    EXPECT_TRUE(log->read(leo, 100, leo)->regions.empty());
}

TEST(PartitionLog, BatchLargerThanMaxBytesIsReturnedWhole) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), small_config());
    must_append(*log, make_simple(1, 10000, 1));  // bigger than segment_bytes
    must_append(*log, make_simple(1, 10, 1));
    auto r = log->read(0, 100, 10);
    auto hs = headers_of(region_bytes(*r));
    ASSERT_EQ(hs.size(), 1u);
    EXPECT_GT(r->bytes, 10000u);
}

TEST(PartitionLog, RollsOnSizeTimeAndIndexFull) {
    temp_dir d;
    log_config c = small_config();
    c.segment_ms = 100;
    auto log = open_log(d.sub("t-0"), c);
    must_append(*log, make_simple(1, 3000, 1), 1000);
    must_append(*log, make_simple(1, 3000, 1), 1000);
    EXPECT_EQ(log->segment_count(), 2u);  // size
    must_append(*log, make_simple(1, 10, 1), 1050);
    EXPECT_EQ(log->segment_count(), 2u);
    must_append(*log, make_simple(1, 10, 1), 1200);
    EXPECT_EQ(log->segment_count(), 3u);  // time
    EXPECT_EQ(log->segments().active()->base_offset(), 3);

    temp_dir d2;
    log_config c2;
    c2.index_interval_bytes = 1;
    c2.segment_index_bytes = 8 * 4;  // four entries
    auto log2 = open_log(d2.sub("t-0"), c2);
    for (int i = 0; i < 12; ++i)
        must_append(*log2, make_simple(1, 10, 1));
    EXPECT_GE(log2->segment_count(), 2u);
    for (int64_t o = 0; o < 12; ++o) {
        auto hs = headers_of(region_bytes(*log2->read(o, 1, 12)));
        ASSERT_EQ(hs.size(), 1u);
        EXPECT_EQ(hs[0].base_offset, o);
    }
}

TEST(PartitionLog, ReopenKeepsEverything) {
    temp_dir d;
    std::vector<uint8_t> all;
    {
        auto log = open_log(d.sub("t-0"), small_config());
        for (int i = 0; i < 40; ++i)
            must_append(*log, make_simple(2, 100, i));
        log->set_high_watermark(50);
        all = region_bytes(*log->read(0, 1 << 30, 1 << 30));
        ASSERT_TRUE(log->close());
    }
    auto log = open_log(d.sub("t-0"), small_config());
    EXPECT_TRUE(log->opened().clean);
    EXPECT_EQ(log->log_end_offset(), 80);
    EXPECT_EQ(log->high_watermark(), 50);
    EXPECT_EQ(region_bytes(*log->read(0, 1 << 30, 1 << 30)), all);
    auto a = must_append(*log, make_simple(1, 1, 1));
    EXPECT_EQ(a.base_offset, 80);
}

TEST(PartitionLog, UncleanReopenRecoversAndRebuildsMissingIndexes) {
    temp_dir d;
    std::vector<uint8_t> all;
    {
        auto log = open_log(d.sub("t-0"), small_config());
        for (int i = 0; i < 40; ++i)
            must_append(*log, make_simple(2, 100, i));
        all = region_bytes(*log->read(0, 1 << 30, 1 << 30));
        // no close(): a crash
    }
    for (const auto& e : std::filesystem::directory_iterator(d.sub("t-0")))
        if (e.path().extension() == ".index") std::filesystem::remove(e.path());
    auto log = open_log(d.sub("t-0"), small_config());
    EXPECT_FALSE(log->opened().clean);
    EXPECT_EQ(log->log_end_offset(), 80);
    EXPECT_EQ(region_bytes(*log->read(0, 1 << 30, 1 << 30)), all);
    for (int64_t o = 0; o < 80; o += 7) {
        auto hs = headers_of(region_bytes(*log->read(o, 1, 80)));
        EXPECT_LE(hs[0].base_offset, o);
        EXPECT_GE(hs[0].last_offset(), o);
    }
}

TEST(PartitionLog, TimestampLookup) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), small_config());
    // Batch i holds records with timestamps 100*i + 0..3 (4 records).
    for (int i = 0; i < 50; ++i) {
        std::vector<rec> recs;
        for (int j = 0; j < 4; ++j)
            recs.push_back({"k", std::string(50, 'x'), 100 * i + j});
        must_append(*log, make_batch(recs));
    }
    for (int64_t t : {int64_t(0), int64_t(1), int64_t(203), int64_t(403), int64_t(4903)}) {
        auto hit = log->offset_for_timestamp(t);
        ASSERT_TRUE(hit && *hit) << t;
        int64_t batch = t / 100, j = t % 100;
        EXPECT_EQ((*hit)->offset, batch * 4 + j) << t;
        EXPECT_EQ((*hit)->timestamp, t);
    }
    auto hit = log->offset_for_timestamp(350);  // between batches: first record of batch 4
    EXPECT_EQ((*hit)->offset, 16);
    EXPECT_EQ((*hit)->timestamp, 400);
    EXPECT_FALSE(*log->offset_for_timestamp(5000));
    // Max timestamp: the record holding it, not its batch (KAFKA-16310).
    auto mx = log->max_timestamp();
    ASSERT_TRUE(mx && *mx);
    EXPECT_EQ((*mx)->timestamp, 4903);
    EXPECT_EQ((*mx)->offset, 199);
}

TEST(PartitionLog, TimestampLookupPlannedOnOwnerRunElsewhere) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), small_config());
    for (int i = 0; i < 20; ++i)
        must_append(*log, make_batch({{"k", "v", 1000 + i}}));
    // The plan holds the byte ranges of that moment: records appended later are not seen by
    // it (they are beyond every range), a new plan finds them.
    auto before = log->plan_offset_for_timestamp(5000);
    EXPECT_TRUE(before.scans.empty());
    auto mid = log->plan_offset_for_timestamp(1010);
    must_append(*log, make_batch({{"k", "v", 5000}}));
    auto hit = partition_log::run_timestamp_lookup(mid);
    ASSERT_TRUE(hit && *hit);
    EXPECT_EQ((*hit)->offset, 10);
    auto after = partition_log::run_timestamp_lookup(log->plan_offset_for_timestamp(5000));
    ASSERT_TRUE(after && *after);
    EXPECT_EQ((*after)->offset, 20);
    auto mx = partition_log::run_timestamp_lookup(log->plan_max_timestamp());
    ASSERT_TRUE(mx && *mx);
    EXPECT_EQ((*mx)->offset, 20);
    EXPECT_EQ((*mx)->timestamp, 5000);
    // The plan keeps its files open: the lookup still runs after the log is closed.
    auto late = log->plan_offset_for_timestamp(1015);
    log.reset();
    auto kept = partition_log::run_timestamp_lookup(late);
    ASSERT_TRUE(kept && *kept);
    EXPECT_EQ((*kept)->offset, 15);
}

TEST(PartitionLog, HighWatermarkAndLsoHook) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"));
    must_append(*log, make_simple(5, 1, 1));
    log->set_high_watermark(100);
    EXPECT_EQ(log->high_watermark(), 5);
    log->set_high_watermark(3);
    EXPECT_EQ(log->last_stable_offset(), 3);
    log->set_last_stable_offset_hook([] { return std::optional<int64_t>(2); });
    EXPECT_EQ(log->last_stable_offset(), 2);
    log->set_last_stable_offset_hook([] { return std::optional<int64_t>(); });
    EXPECT_EQ(log->last_stable_offset(), 3);
}

TEST(PartitionLog, KeepaliveOutlivesDeletedSegment) {
    temp_dir d;
    log_config c = small_config();
    c.retention_bytes = 0;
    auto log = open_log(d.sub("t-0"), c);
    for (int i = 0; i < 10; ++i)
        must_append(*log, make_simple(1, 3000, 1));
    auto r = log->read(0, 100, 100);
    ASSERT_TRUE(r);
    auto before = region_bytes(*r);
    log->set_high_watermark(10);
    ASSERT_TRUE(log->enforce_retention(2000));
    EXPECT_EQ(log->log_start_offset(), 9);
    EXPECT_EQ(region_bytes(*r), before);  // fd still open and readable
}

}  // namespace
}  // namespace rill::storage::test
