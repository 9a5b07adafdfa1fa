#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace rill::storage::test {
namespace {

log_config cfg() {
    log_config c;
    c.segment_bytes = 1000;
    c.index_interval_bytes = 100;
    c.retention_ms = -1;
    return c;
}

size_t count_suffix(const std::string& dir, const std::string& suffix) {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        std::string s = e.path().filename();
        if (s.size() >= suffix.size() &&
            s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
            ++n;
    }
    return n;
}

TEST(Retention, ByTimeUsesLargestTimestampAndStopsAtHighWatermark) {
    temp_dir d;
    log_config c = cfg();
    c.retention_ms = 1000;
    auto log = open_log(d.sub("t-0"), c);
    // 10 segments, segment i has timestamps 1000*i
    for (int i = 0; i < 10; ++i) {
        must_append(*log, make_simple(1, 600, 1000 * i));
        must_append(*log, make_simple(1, 600, 1000 * i));
    }
    ASSERT_EQ(log->segment_count(), 20u);
    log->set_high_watermark(6);
    auto n = log->enforce_retention(6500);  // segments with max ts < 5500 are expired
    ASSERT_TRUE(n);
    EXPECT_EQ(*n, 6u);  // the HWM (6) holds back the rest
    EXPECT_EQ(log->log_start_offset(), 6);
    log->set_high_watermark(20);
    n = log->enforce_retention(6500);
    EXPECT_EQ(*n, 6u);  // timestamps 0..5000 are past 6500 - 1000
    EXPECT_EQ(log->log_start_offset(), 12);
    EXPECT_EQ(log->read(11, 100, 100).error().code, errc::offset_out_of_range);
    auto hs = headers_of(region_bytes(*log->read(12, 1 << 20, 100)));
    EXPECT_EQ(hs.front().base_offset, 12);
    EXPECT_EQ(count_suffix(d.sub("t-0"), ".log"), 8u);
    EXPECT_EQ(count_suffix(d.sub("t-0"), ".deleted"), 0u);  // removed (inline runner)
}

TEST(Retention, ExpiredActiveSegmentIsRolledAndDeleted) {
    temp_dir d;
    log_config c = cfg();
    c.retention_ms = 100;
    auto log = open_log(d.sub("t-0"), c);
    must_append(*log, make_simple(3, 10, 50));
    log->set_high_watermark(3);
    EXPECT_EQ(*log->enforce_retention(1000), 1u);
    EXPECT_EQ(log->log_start_offset(), 3);
    EXPECT_EQ(log->log_end_offset(), 3);
    EXPECT_EQ(must_append(*log, make_simple(1, 10, 1000)).base_offset, 3);
}

TEST(Retention, BySize) {
    temp_dir d;
    log_config c = cfg();
    c.retention_bytes = 2500;
    auto log = open_log(d.sub("t-0"), c);
    for (int i = 0; i < 20; ++i)
        must_append(*log, make_simple(1, 600, 1));
    log->set_high_watermark(20);
    uint64_t before = log->size_bytes();
    auto n = log->enforce_retention(0);
    ASSERT_TRUE(n);
    EXPECT_GT(*n, 0u);
    EXPECT_GE(log->size_bytes(), 2500u);
    EXPECT_LT(log->size_bytes(), before);
    EXPECT_LT(log->size_bytes() - log->segments().front()->size(), 2500u);
}

TEST(Retention, DeleteRecordsAdvancesLogStartAndPersists) {
    temp_dir d;
    std::string dir = d.sub("t-0");
    {
        auto log = open_log(dir, cfg());
        for (int i = 0; i < 20; ++i)
            must_append(*log, make_simple(2, 300, 1));
        log->set_high_watermark(30);
        EXPECT_EQ(log->delete_records(31, 0).error().code, errc::offset_out_of_range);
        auto r = log->delete_records(13, 0);
        ASSERT_TRUE(r);
        EXPECT_EQ(*r, 13);
        EXPECT_EQ(log->log_start_offset(), 13);
        EXPECT_EQ(log->read(12, 10, 40).error().code, errc::offset_out_of_range);
        auto hs = headers_of(region_bytes(*log->read(13, 1, 40)));
        EXPECT_LE(hs.front().base_offset, 13);
        EXPECT_LE(log->segments().front()->base_offset(), 13);
        EXPECT_GT(log->segments().front()->next_offset(), 13);
        // crash: no close
    }
    auto log = open_log(dir, cfg());
    EXPECT_EQ(log->log_start_offset(), 13);
    EXPECT_EQ(log->log_end_offset(), 40);
}

TEST(Retention, DeletionGoesThroughDeletedFilesWithBackgroundRunner) {
    temp_dir d;
    std::vector<std::function<void()>> queued;
    auto o = opts_for(d.sub("t-0"), cfg());
    o.config.retention_bytes = 0;
    o.background = [&](std::function<void()> t) { queued.push_back(std::move(t)); };
    auto opened = partition_log::open(o, 0);
    ASSERT_TRUE(opened);
    auto log = std::move(*opened);
    for (auto& t : queued)
        t();
    queued.clear();
    for (int i = 0; i < 5; ++i)
        must_append(*log, make_simple(1, 900, 1));
    log->set_high_watermark(5);
    ASSERT_TRUE(log->enforce_retention(0));
    EXPECT_EQ(count_suffix(d.sub("t-0"), ".log.deleted"), 4u);
    for (auto& t : queued)
        t();
    EXPECT_EQ(count_suffix(d.sub("t-0"), ".deleted"), 0u);
}

}  // namespace
}  // namespace rill::storage::test
