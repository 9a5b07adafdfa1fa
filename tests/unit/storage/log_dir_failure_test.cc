// Run-time log dir failure (Kafka's LogDirFailureChannel, issue 14 item 3): an EIO/EROFS on any
// file of a log dir takes that dir's logs offline, notifies the listener once, leaves the other
// log dirs serving; ENOSPC stays recoverable.
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "fault_fs.h"
#include "storage/format.h"
#include "storage/log_manager.h"
#include "test_util.h"

namespace rill::storage::test {
namespace {

struct failures {
    std::mutex mu;
    std::vector<std::pair<std::string, error>> seen;
    void add(const std::string& d, const error& e) {
        std::lock_guard lk(mu);
        seen.emplace_back(d, e);
    }
    size_t size() {
        std::lock_guard lk(mu);
        return seen.size();
    }
};

struct two_dirs {
    temp_dir d;
    std::shared_ptr<fault_fs> fs = std::make_shared<fault_fs>();
    std::unique_ptr<log_manager> m;
    failures f;
    two_dirs() {
        fs->f().skip_syncs = true;
        log_manager_config mc;
        mc.log_dirs = {d.sub("a"), d.sub("b")};
        m = take(log_manager::open(fs, mc));
        m->set_failure_listener([this](const std::string& dir, const error& e) { f.add(dir, e); });
        (void)m->load_all([](const topic_partition&) { return log_config{}; }, 0);
    }
    std::shared_ptr<partition_log> create(const topic_partition& tp,
                                          const std::string& expect_dir) {
        auto log = take(m->create(tp, log_config{}, 0));
        EXPECT_EQ(m->log_dir_of(tp), expect_dir);
        return log;
    }
};

uint64_t file_size(const std::string& p) {
    std::error_code ec;
    auto n = std::filesystem::file_size(p, ec);
    return ec ? 0 : n;
}

TEST(LogDirFailure, EioTakesOnlyItsDirOffline) {
    two_dirs t;
    auto a0 = t.create({"t", 0}, t.d.sub("a"));
    auto b1 = t.create({"t", 1}, t.d.sub("b"));
    auto a2 = t.create({"t", 2}, t.d.sub("a"));
    for (auto* l : {a0.get(), b1.get(), a2.get()})
        must_append(*l, make_simple(3, 10, 1));
    const std::string a2_log = t.d.sub("a/t-2/") + offset_file_stem(0) + kLogSuffix;
    const uint64_t a2_size = file_size(a2_log);

    t.fs->f().fail_under(t.d.sub("a"), EIO);
    auto b = make_simple(2, 10, 1);
    auto r = a0->append(b, 0, 1000);
    ASSERT_FALSE(r);
    EXPECT_TRUE(a0->offline());
    // One notification for the dir, with the cause.
    ASSERT_EQ(t.f.size(), 1u);
    EXPECT_EQ(t.f.seen[0].first, t.d.sub("a"));
    EXPECT_EQ(t.f.seen[0].second.sys_errno, EIO);
    ASSERT_EQ(t.m->failed_log_dirs().size(), 1u);
    EXPECT_EQ(t.m->failed_log_dirs()[0].dir, t.d.sub("a"));
    EXPECT_TRUE(t.m->log_dir_failed(t.d.sub("a")));
    EXPECT_FALSE(t.m->log_dir_failed(t.d.sub("b")));

    // The untouched log of the same dir is offline too: appends and reads refused.
    EXPECT_TRUE(a2->offline());
    auto b2 = make_simple(2, 10, 1);
    auto r2 = a2->append(b2, 0, 1000);
    ASSERT_FALSE(r2);
    EXPECT_EQ(r2.error().code, errc::log_offline);
    auto rd = a2->read(0, 1 << 20, a2->log_end_offset());
    ASSERT_FALSE(rd);
    EXPECT_EQ(rd.error().code, errc::log_offline);
    EXPECT_FALSE(a2->truncate_to(1));
    EXPECT_FALSE(a2->delete_records(1, 1000));

    // The other dir keeps serving.
    EXPECT_FALSE(b1->offline());
    must_append(*b1, make_simple(2, 10, 1));
    EXPECT_TRUE(b1->read(0, 1 << 20, b1->log_end_offset()));

    auto off = t.m->offline_partitions();
    EXPECT_EQ(off.size(), 2u);
    EXPECT_TRUE(off.contains({"t", 0}));
    EXPECT_TRUE(off.contains({"t", 2}));
    EXPECT_EQ(off.at({"t", 2}).log_dir, t.d.sub("a"));

    // New partitions go to the working dir only; offline ones are never recreated.
    t.create({"t", 3}, t.d.sub("b"));
    t.create({"t", 4}, t.d.sub("b"));
    EXPECT_FALSE(t.m->create({"t", 2}, log_config{}, 0));

    // Sticky: nothing more is written into the failed dir, even once the fault is gone, and
    // a second failure does not notify again.
    t.fs->f().fail_under("", 0);
    auto b3 = make_simple(2, 10, 1);
    EXPECT_FALSE(a2->append(b3, 0, 1000));
    a2->checkpoint();
    EXPECT_FALSE(a0->roll(2000));
    EXPECT_EQ(file_size(a2_log), a2_size);
    EXPECT_EQ(t.f.size(), 1u);
    // The failed dir's logs are left alone at shutdown (no marker written); not an error.
    EXPECT_TRUE(t.m->close());
    EXPECT_FALSE(std::filesystem::exists(t.d.sub("a/t-2/") + kCleanShutdownMarker));
    EXPECT_TRUE(std::filesystem::exists(t.d.sub("b/t-1/") + kCleanShutdownMarker));
}

TEST(LogDirFailure, FailedFsyncOnFlusherFailsTheDir) {
    two_dirs t;
    auto a0 = t.create({"t", 0}, t.d.sub("a"));
    auto b1 = t.create({"t", 1}, t.d.sub("b"));
    t.fs->f().skip_syncs = false;
    must_append(*a0, make_simple(3, 10, 1));
    t.fs->f().fail_under(t.d.sub("a"), EROFS);
    std::promise<status> done;
    a0->flush_up_to(a0->log_end_offset(), [&](const status& s) { done.set_value(s); });
    auto st = done.get_future().get();
    ASSERT_FALSE(st);
    // The flusher thread reported it: the dir is failed before the log is used again.
    ASSERT_EQ(t.f.size(), 1u);
    EXPECT_EQ(t.f.seen[0].first, t.d.sub("a"));
    EXPECT_TRUE(a0->offline());
    EXPECT_FALSE(b1->offline());
    must_append(*b1, make_simple(1, 10, 1));
    (void)t.m->close();
}

TEST(LogDirFailure, FailedCheckpointOnBackgroundThreadFailsTheDir) {
    two_dirs t;
    auto a0 = t.create({"t", 0}, t.d.sub("a"));
    must_append(*a0, make_simple(3, 10, 1));
    t.fs->f().fail_under(t.d.sub("a"), EIO);
    a0->checkpoint();
    for (int i = 0; i < 200 && t.f.size() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_EQ(t.f.size(), 1u);
    EXPECT_TRUE(a0->offline());
    (void)t.m->close();
}

TEST(LogDirFailure, DiskFullStaysRecoverable) {
    two_dirs t;
    auto a0 = t.create({"t", 0}, t.d.sub("a"));
    must_append(*a0, make_simple(3, 10, 1));
    t.fs->f().fail_writes = true;  // ENOSPC
    auto b = make_simple(2, 10, 1);
    auto r = a0->append(b, 0, 1000);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::disk_full);
    t.fs->f().fail_writes = false;
    must_append(*a0, make_simple(2, 10, 1));
    EXPECT_EQ(t.f.size(), 0u);
    EXPECT_TRUE(t.m->failed_log_dirs().empty());
    EXPECT_FALSE(a0->offline());
    ASSERT_TRUE(t.m->close());
}

TEST(LogDirFailure, DirFailingAtStartupLeavesTheOthers) {
    temp_dir d;
    auto fs = std::make_shared<fault_fs>();
    fs->f().skip_syncs = true;
    fs->f().fail_under(d.sub("a"), EIO);
    log_manager_config mc;
    mc.log_dirs = {d.sub("a"), d.sub("b")};
    auto m = take(log_manager::open(fs, mc));
    ASSERT_EQ(m->failed_log_dirs().size(), 1u);
    EXPECT_EQ(m->failed_log_dirs()[0].dir, d.sub("a"));
    (void)m->load_all([](const topic_partition&) { return log_config{}; }, 0);
    // Its content is unknown: no partition may be created anywhere (it might be there).
    auto c = m->create({"t", 0}, log_config{}, 0);
    ASSERT_FALSE(c);
    EXPECT_EQ(c.error().code, errc::log_offline);
    EXPECT_FALSE(std::filesystem::exists(d.sub("b/t-0")));
    ASSERT_TRUE(m->close());

    // Every dir failing is an error.
    auto fs2 = std::make_shared<fault_fs>();
    fs2->f().fail_under(d.path(), EIO);
    log_manager_config mc2;
    mc2.log_dirs = {d.sub("x"), d.sub("y")};
    EXPECT_FALSE(log_manager::open(fs2, mc2));
}

TEST(LogDirFailure, LoadErrorOfOneFileKeepsTheDir) {
    temp_dir d;
    {
        log_manager_config mc;
        mc.log_dirs = {d.sub("a")};
        auto m = take(log_manager::open(nullptr, mc));
        must_append(*take(m->create({"t", 0}, log_config{}, 0)), make_simple(2, 10, 1));
        must_append(*take(m->create({"t", 1}, log_config{}, 0)), make_simple(2, 10, 1));
        ASSERT_TRUE(m->close());
    }
    std::string ck = d.sub("a/t-0/") + kPartitionCheckpoint;
    std::filesystem::remove(ck);
    std::filesystem::create_directory(ck);  // EISDIR: this log alone
    log_manager_config mc;
    mc.log_dirs = {d.sub("a")};
    auto m = take(log_manager::open(nullptr, mc));
    auto failed = m->load_all([](const topic_partition&) { return log_config{}; }, 0);
    ASSERT_EQ(failed.size(), 1u);
    EXPECT_TRUE(m->failed_log_dirs().empty());
    ASSERT_NE(m->get({"t", 1}), nullptr);
    EXPECT_FALSE(m->get({"t", 1})->offline());
    ASSERT_TRUE(m->close());
}

}  // namespace
}  // namespace rill::storage::test
