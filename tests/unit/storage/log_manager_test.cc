#include "storage/log_manager.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "test_util.h"

namespace rill::storage::test {
namespace {

TEST(LogManager, TopicPartitionNames) {
    auto tp = topic_partition::parse("my-topic-12");
    ASSERT_TRUE(tp);
    EXPECT_EQ(tp->topic, "my-topic");
    EXPECT_EQ(tp->partition, 12);
    EXPECT_FALSE(topic_partition::parse("nopartition"));
    EXPECT_FALSE(topic_partition::parse("t-x"));
    EXPECT_EQ(tp->dir_name(), "my-topic-12");
}

TEST(LogManager, CreateLoadRemoveAcrossDirs) {
    temp_dir d;
    log_manager_config mc;
    mc.log_dirs = {d.sub("a"), d.sub("b")};
    {
        auto m = take(log_manager::open(nullptr, mc));
        for (int p = 0; p < 4; ++p) {
            auto log = m->create({"orders", p}, log_config{}, 0);
            ASSERT_TRUE(log);
            must_append(**log, make_simple(p + 1, 10, 1));
        }
        EXPECT_EQ(m->create({"orders", 0}, log_config{}, 0).error().code, errc::already_exists);
        EXPECT_TRUE(std::filesystem::exists(d.sub("a/orders-0")));
        EXPECT_TRUE(std::filesystem::exists(d.sub("b/orders-1")));
        ASSERT_TRUE(m->close());
    }
    auto m = take(log_manager::open(nullptr, mc));
    auto failed = m->load_all([](const topic_partition&) { return log_config{}; }, 0);
    EXPECT_TRUE(failed.empty());
    ASSERT_EQ(m->partitions().size(), 4u);
    for (int p = 0; p < 4; ++p) {
        auto log = m->get({"orders", p});
        ASSERT_NE(log, nullptr);
        EXPECT_EQ(log->log_end_offset(), p + 1);
        EXPECT_TRUE(log->opened().clean);
    }
    // flush_up_to through the manager's flusher
    std::atomic<bool> done{false};
    auto log0 = m->get({"orders", 0});
    must_append(*log0, make_simple(1, 10, 1));
    log0->flush_up_to(log0->log_end_offset(), [&](const status& s) { done = s.has_value(); });
    for (int i = 0; i < 10000 && !done; ++i)
        ::usleep(1000);
    EXPECT_TRUE(done);
    log0.reset();
    ASSERT_TRUE(m->remove({"orders", 0}));
    EXPECT_EQ(m->get({"orders", 0}), nullptr);
    ASSERT_TRUE(m->close());
    EXPECT_FALSE(std::filesystem::exists(d.sub("a/orders-0")));
    size_t entries = 0;
    for (auto& e : std::filesystem::directory_iterator(d.sub("a"))) {
        (void)e;
        ++entries;
    }
    EXPECT_EQ(entries, 1u);  // orders-2 only; the deleted dir is gone
}

// close() closes logs in parallel (a clean shutdown with thousands of partitions was one fsync
// chain after another), and every log still comes back clean with its data.
TEST(LogManager, CloseClosesLogsInParallel) {
    temp_dir d;
    auto fsys = std::make_shared<fault_fs>();
    log_manager_config mc;
    mc.log_dirs = {d.sub("a"), d.sub("b")};
    mc.close_threads = 8;
    constexpr int kLogs = 16;
    {
        auto m = take(log_manager::open(fsys, mc));
        for (int p = 0; p < kLogs; ++p) {
            auto log = m->create({"many", p}, log_config{}, 0);
            ASSERT_TRUE(log);
            must_append(**log, make_simple(p + 1, 10, 1));
        }
        fsys->f().sync_delay_us = 20'000;  // each fdatasync takes 20 ms
        const int syncs_before = fsys->f().syncs.load();
        const auto t0 = std::chrono::steady_clock::now();
        ASSERT_TRUE(m->close());
        const auto took = std::chrono::steady_clock::now() - t0;
        const int per_log = (fsys->f().syncs.load() - syncs_before) / kLogs;
        ASSERT_GE(per_log, 2);
        // One by one this takes kLogs * per_log * 20 ms; 8 threads take an eighth of it.
        const auto serial = std::chrono::milliseconds(kLogs * per_log * 20);
        EXPECT_LT(took, serial / 2) << "per log " << per_log << " syncs";
        fsys->f().sync_delay_us = 0;
    }
    auto m = take(log_manager::open(fsys, mc));
    EXPECT_TRUE(m->load_all([](const topic_partition&) { return log_config{}; }, 0).empty());
    ASSERT_EQ(m->partitions().size(), static_cast<size_t>(kLogs));
    for (int p = 0; p < kLogs; ++p) {
        auto log = m->get({"many", p});
        ASSERT_NE(log, nullptr);
        EXPECT_EQ(log->log_end_offset(), p + 1);
        EXPECT_TRUE(log->opened().clean);
    }
    ASSERT_TRUE(m->close());
}

TEST(LogManager, ScheduledCompactionInstallsOnOwner) {
    temp_dir d;
    log_manager_config mc;
    mc.log_dirs = {d.sub("a")};
    auto m = take(log_manager::open(nullptr, mc));
    log_config c;
    c.segment_bytes = 500;
    c.cleanup_compact = true;
    c.min_cleanable_dirty_ratio = 0;
    auto log = take(m->create({"c", 0}, c, 0));
    for (int i = 0; i < 20; ++i)
        must_append(*log, make_batch({{"same", std::string(300, 'x'), 1}}));
    log->set_high_watermark(log->log_end_offset());
    uint64_t before = log->size_bytes();
    std::mutex mu;
    std::vector<std::function<void()>> owner_queue;
    ASSERT_TRUE(m->schedule_compaction(log, 100000, [&](std::function<void()> f) {
        std::lock_guard lk(mu);
        owner_queue.push_back(std::move(f));
    }));
    for (int i = 0; i < 10000; ++i) {
        std::lock_guard lk(mu);
        if (!owner_queue.empty()) break;
        ::usleep(1000);
    }
    std::lock_guard lk(mu);
    ASSERT_EQ(owner_queue.size(), 1u);
    owner_queue[0]();
    EXPECT_LT(log->size_bytes(), before);
    ASSERT_TRUE(m->close());
}

}  // namespace
}  // namespace rill::storage::test
