// A partition that fails to load (issue 14, item 3) stays offline: it is reported, and never
// recreated empty, neither in its own log dir nor in another one.
#include <gtest/gtest.h>

#include <filesystem>

#include "storage/format.h"
#include "storage/log_manager.h"
#include "test_util.h"

namespace rill::storage::test {
namespace {

TEST(OfflineLog, FailedLoadIsOfflineAndNeverRecreated) {
    temp_dir d;
    topic_partition tp{"orders", 0};
    {
        log_manager_config mc;
        mc.log_dirs = {d.sub("a"), d.sub("b")};
        auto m = take(log_manager::open(nullptr, mc));
        auto log = take(m->create(tp, log_config{}, 0));
        must_append(*log, make_simple(5, 10, 1));
        ASSERT_TRUE(m->close());
    }
    // An unreadable checkpoint (EISDIR) makes the load fail.
    std::string ck = d.sub("a/orders-0/") + kPartitionCheckpoint;
    std::filesystem::remove(ck);
    std::filesystem::create_directory(ck);

    // A third, empty log dir would be the natural place for a "new" log.
    log_manager_config mc;
    mc.log_dirs = {d.sub("a"), d.sub("b"), d.sub("c")};
    auto m = take(log_manager::open(nullptr, mc));
    auto failed = m->load_all([](const topic_partition&) { return log_config{}; }, 0);
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_EQ(failed[0].first, tp);
    EXPECT_EQ(m->get(tp), nullptr);
    ASSERT_EQ(m->offline_partitions().count(tp), 1u);
    EXPECT_EQ(m->offline_partitions().at(tp).log_dir, d.sub("a"));

    auto created = m->create(tp, log_config{}, 0);
    ASSERT_FALSE(created);
    EXPECT_EQ(created.error().code, errc::log_offline);
    EXPECT_NE(created.error().message.find("failed to load"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(d.sub("b/orders-0")));
    EXPECT_FALSE(std::filesystem::exists(d.sub("c/orders-0")));
    EXPECT_TRUE(std::filesystem::exists(d.sub("a/orders-0/") + offset_file_stem(0) + kLogSuffix));
    // Other partitions are unaffected.
    EXPECT_TRUE(m->create({"orders", 1}, log_config{}, 0));
    ASSERT_TRUE(m->close());
}

}  // namespace
}  // namespace rill::storage::test
