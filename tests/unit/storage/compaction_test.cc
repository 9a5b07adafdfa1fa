#include "storage/cleaner.h"

#include "protocol/record_batch.h"

#include <gtest/gtest.h>

#include <map>

#include "test_util.h"

namespace rill::storage::test {
namespace {

struct seen {
    int64_t offset;
    std::optional<std::string> value;
};

// key -> every (offset, value) present, in log order; checks batch structure on the way.
std::map<std::string, std::vector<seen>> scan(partition_log& log) {
    std::map<std::string, std::vector<seen>> out;
    auto bytes = region_bytes(*log.read(log.log_start_offset(), 1 << 30, 1 << 30));
    int64_t next = log.log_start_offset();
    for (size_t p = 0; p < bytes.size();) {
        auto span = std::span<const uint8_t>(bytes).subspan(p);
        auto h = *protocol::parse_batch_header(span);
        EXPECT_EQ(h.base_offset, next);
        EXPECT_EQ(protocol::compute_batch_crc(span.subspan(0, h.total_size())), h.crc);
        raw_record_iterator it(span.subspan(0, h.total_size()));
        raw_record r;
        int32_t count = 0;
        while (it.next(r)) {
            ++count;
            std::string k(r.key->begin(), r.key->end());
            std::optional<std::string> v;
            if (r.value) v = std::string(r.value->begin(), r.value->end());
            out[k].push_back({h.base_offset + r.offset_delta, v});
        }
        EXPECT_FALSE(it.failed());
        EXPECT_EQ(count, h.record_count);
        next = h.last_offset() + 1;
        p += h.total_size();
    }
    EXPECT_EQ(next, log.log_end_offset());
    return out;
}

log_config compact_config() {
    log_config c;
    c.segment_bytes = 700;
    c.index_interval_bytes = 100;
    c.cleanup_compact = true;
    c.cleanup_delete = false;
    c.retention_ms = -1;
    c.min_cleanable_dirty_ratio = 0.0;
    c.delete_retention_ms = 1000;
    return c;
}

TEST(Compaction, KeepsLatestPerKeyWithOriginalOffsets) {
    temp_dir d;
    std::string dir = d.sub("t-0");
    auto log = open_log(dir, compact_config());
    std::map<std::string, int64_t> latest;
    for (int i = 0; i < 40; ++i) {
        std::vector<rec> recs;
        for (int j = 0; j < 3; ++j) {
            std::string k = "key" + std::to_string((i * 3 + j) % 7);
            recs.push_back({k, "value-" + std::to_string(i) + "-" + std::to_string(j), 5000});
        }
        auto a = must_append(*log, make_batch(recs));
        for (int j = 0; j < 3; ++j)
            latest["key" + std::to_string((i * 3 + j) % 7)] = a.base_offset + j;
    }
    int64_t leo = log->log_end_offset();
    log->set_high_watermark(leo);
    uint64_t before = log->size_bytes();
    int64_t active_base = log->segments().active()->base_offset();
    ASSERT_TRUE(log->compact_now(10000));
    EXPECT_LT(log->size_bytes(), before);
    EXPECT_EQ(log->log_end_offset(), leo);
    auto keys = scan(*log);
    for (const auto& [k, v] : keys) {
        // Closed segments hold at most the latest record per key; the active one is untouched.
        std::vector<seen> closed;
        for (const auto& s : v)
            if (s.offset < active_base) closed.push_back(s);
        // (the map covers the cleaned segments only, like Kafka's: a key's newest record in
        // the active segment does not remove its latest cleaned one yet)
        ASSERT_EQ(closed.size(), 1u) << k;
        if (latest[k] < active_base) {
            EXPECT_EQ(closed[0].offset, latest[k]);
        }
    }
    // Reading at a removed offset yields the batch that covered it (kept, maybe emptied).
    auto r = log->read(1, 1, leo);
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->regions.empty());
    // Still right after a clean and an unclean reopen.
    ASSERT_TRUE(log->close());
    log = open_log(dir, compact_config());
    auto again = scan(*log);
    EXPECT_EQ(again.size(), keys.size());
    log.reset();
    std::filesystem::remove(dir + "/partition.checkpoint");
    log = open_log(dir, compact_config());
    EXPECT_EQ(scan(*log).size(), keys.size());
}

TEST(Compaction, TombstonesDroppedAfterDeleteRetention) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), compact_config());
    must_append(*log, make_batch({{"old", "1", 100}, {"recent", "1", 100}, {"alive", "1", 100}}));
    must_append(*log, make_batch({{"old", std::nullopt, 200}}));      // tombstone, old
    must_append(*log, make_batch({{"recent", std::nullopt, 9500}}));  // tombstone, recent
    for (int i = 0; i < 10; ++i)
        must_append(*log, make_simple(1, 400, 9600));
    log->set_high_watermark(log->log_end_offset());
    ASSERT_TRUE(log->compact_now(10000));  // horizon: 10000 - 1000 = 9000
    auto keys = scan(*log);
    EXPECT_EQ(keys.count("old"), 0u);
    ASSERT_EQ(keys["recent"].size(), 1u);
    EXPECT_FALSE(keys["recent"][0].value.has_value());
    ASSERT_EQ(keys["alive"].size(), 1u);
    EXPECT_EQ(keys["alive"][0].offset, 2);
}

TEST(Compaction, RespectsDirtyRatioAndCompactionLag) {
    temp_dir d;
    log_config c = compact_config();
    c.min_compaction_lag_ms = 5000;
    auto log = open_log(d.sub("t-0"), c);
    for (int i = 0; i < 10; ++i)
        must_append(*log, make_batch({{"k", std::string(400, 'x'), 8000}}));
    log->set_high_watermark(log->log_end_offset());
    EXPECT_EQ(log->prepare_compaction(10000), nullptr);  // too recent
    auto job = log->prepare_compaction(13001);
    ASSERT_NE(job, nullptr);
    ASSERT_TRUE(job->run());
    ASSERT_TRUE(log->install_compaction(*job));
    // Everything cleaned is now clean: ratio 0.5 not reached without new dirty data.
    log->set_config([&] {
        auto c2 = c;
        c2.min_cleanable_dirty_ratio = 0.5;
        return c2;
    }());
    EXPECT_EQ(log->prepare_compaction(20000), nullptr);
}

}  // namespace
}  // namespace rill::storage::test

namespace rill::storage::test {
namespace {

std::vector<uint8_t> compressed_batch(const std::vector<rec>& recs, protocol::compression_codec c) {
    protocol::batch_spec spec;
    spec.codec = c;
    std::vector<protocol::record> rs;
    for (const auto& r : recs) {
        protocol::record x;
        if (r.key) x.key = protocol::bytes(r.key->begin(), r.key->end());
        if (r.value) x.value = protocol::bytes(r.value->begin(), r.value->end());
        x.timestamp = r.timestamp;
        rs.push_back(std::move(x));
    }
    auto b = protocol::build_batch(spec, rs);
    if (!b) std::abort();
    return *b;
}

TEST(Compaction, CompressedBatchesAreRebuiltWithTheirCodec) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), compact_config());
    for (int i = 0; i < 30; ++i) {
        std::vector<rec> recs;
        for (int j = 0; j < 4; ++j)
            recs.push_back(
                {"k" + std::to_string((i * 4 + j) % 5), std::string(100, 'a' + j), 9000});
        must_append(*log, compressed_batch(recs, protocol::compression_codec::zstd));
    }
    must_append(*log, make_simple(1, 10, 9000));
    int64_t leo = log->log_end_offset();
    log->set_high_watermark(leo);
    uint64_t before = log->size_bytes();
    ASSERT_TRUE(log->compact_now(10000));
    EXPECT_LT(log->size_bytes(), before);
    auto bytes = region_bytes(*log->read(0, 1 << 30, 1 << 30));
    std::map<std::string, int> per_key;
    int64_t next = 0;
    for (size_t p = 0; p < bytes.size();) {
        auto span = std::span<const uint8_t>(bytes).subspan(p);
        auto h = *protocol::parse_batch_header(span);
        ASSERT_EQ(h.base_offset, next);
        auto batch = span.subspan(0, h.total_size());
        ASSERT_TRUE(protocol::validate_batch(batch));
        auto recs = protocol::read_records(batch);
        ASSERT_TRUE(recs);
        for (const auto& r : *recs)
            if (r.key && h.base_offset < log->segments().active()->base_offset()) {
                ++per_key[std::string(r.key->begin(), r.key->end())];
            }
        if (h.record_count > 0 && h.base_offset < 100) {
            EXPECT_EQ(h.codec(), protocol::compression_codec::zstd);
        }
        next = h.last_offset() + 1;
        p += h.total_size();
    }
    EXPECT_EQ(next, leo);
    for (const auto& [k, n] : per_key)
        EXPECT_EQ(n, 1) << k;
}

TEST(Compaction, TimestampLookupInsideCompressedBatch) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"));
    must_append(*log, compressed_batch({{"a", "1", 10}, {"b", "2", 20}, {"c", "3", 30}},
                                       protocol::compression_codec::lz4));
    auto hit = log->offset_for_timestamp(15);
    ASSERT_TRUE(hit && *hit);
    EXPECT_EQ((*hit)->offset, 1);
    EXPECT_EQ((*hit)->timestamp, 20);
}

}  // namespace
}  // namespace rill::storage::test
