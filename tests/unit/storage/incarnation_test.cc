// Delete then recreate (issue 14, item 5): checkpoint and snapshot tasks queued by a deleted
// log never write into the log recreated at the same path, so a restart loads the new log's
// own state.
#include <gtest/gtest.h>

#include <filesystem>
#include <future>

#include "storage/format.h"
#include "storage/log_manager.h"
#include "test_util.h"

namespace rill::storage::test {
namespace {

TEST(LogIncarnation, QueuedTasksOfADeletedLogSkipItsRecreatedSuccessor) {
    temp_dir d;
    log_manager_config mc;
    mc.log_dirs = {d.sub("a")};
    topic_partition tp{"t", 0};
    std::string snapshot = d.sub("a/t-0/" + offset_file_stem(10) + kSnapshotSuffix);
    {
        auto m = take(log_manager::open(nullptr, mc));
        auto old = take(m->create(tp, log_config{}, 0));
        for (int i = 0; i < 10; ++i)
            must_append(*old, make_simple(1, 10, 1));
        ASSERT_TRUE(old->flush());
        old->set_high_watermark(10);
        // Holds the background thread: the old log's checkpoint and snapshot stay queued.
        std::promise<void> release;
        std::shared_future<void> gate = release.get_future().share();
        m->background()([gate] { gate.wait(); });
        ASSERT_TRUE(old->delete_records(8, 0));  // a checkpoint with log start 8
        ASSERT_TRUE(old->roll(0));               // a producer snapshot at offset 10
        old.reset();
        ASSERT_TRUE(m->remove(tp));
        auto fresh = take(m->create(tp, log_config{}, 0));
        for (int i = 0; i < 3; ++i)
            must_append(*fresh, make_simple(1, 10, 1));
        ASSERT_TRUE(fresh->flush());
        release.set_value();
        // A crash: no close; the manager's destructor runs what is queued.
    }
    EXPECT_FALSE(std::filesystem::exists(snapshot));
    auto m = take(log_manager::open(nullptr, mc));
    EXPECT_TRUE(m->load_all([](const topic_partition&) { return log_config{}; }, 0).empty());
    auto log = m->get(tp);
    ASSERT_NE(log, nullptr);
    EXPECT_EQ(log->log_start_offset(), 0);
    EXPECT_EQ(log->log_end_offset(), 3);
    EXPECT_EQ(headers_of(region_bytes(*log->read(0, 1 << 20, 3))).size(), 3u);
    ASSERT_TRUE(m->close());
}

}  // namespace
}  // namespace rill::storage::test
