// Flusher / group commit, injected write and sync failures.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "storage/flusher.h"
#include "test_util.h"

namespace rill::storage::test {
namespace {

struct waiter {
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    int failed = 0;
    flush_callback cb() {
        return [this](const status& s) {
            std::lock_guard lk(mu);
            ++done;
            if (!s) ++failed;
            cv.notify_all();
        };
    }
    void wait_for(int n) {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return done >= n; });
    }
};

TEST(Durability, FlushUpToCompletesAndAdvancesRecoveryPoint) {
    temp_dir d;
    flusher fl(1);
    auto o = opts_for(d.sub("t-0"));
    o.flush = &fl;
    auto log = take(partition_log::open(o, 0));
    must_append(*log, make_simple(3, 10, 1));
    EXPECT_EQ(log->recovery_point(), 0);
    waiter w;
    log->flush_up_to(log->log_end_offset(), w.cb());
    w.wait_for(1);
    EXPECT_EQ(w.failed, 0);
    EXPECT_EQ(log->recovery_point(), 3);
    // Already durable: completes at once.
    log->flush_up_to(2, w.cb());
    EXPECT_EQ(w.done, 2);
}

TEST(Durability, GroupCommitSharesSyncs) {
    temp_dir d;
    auto fsys = std::make_shared<fault_fs>();
    fsys->f().sync_delay_us = 5000;
    flusher fl(1);
    auto o = opts_for(d.sub("t-0"), {}, fsys);
    o.flush = &fl;
    auto log = take(partition_log::open(o, 0));
    waiter w;
    const int n = 200;
    for (int i = 0; i < n; ++i) {
        must_append(*log, make_simple(1, 100, 1));
        log->flush_up_to(log->log_end_offset(), w.cb());
    }
    w.wait_for(n);
    EXPECT_EQ(w.failed, 0);
    EXPECT_EQ(log->recovery_point(), n);
    EXPECT_LT(fl.syncs(), static_cast<uint64_t>(n / 4));
}

TEST(Durability, FlushMessagesPolicyFlushesInBackground) {
    temp_dir d;
    flusher fl(1);
    log_config c;
    c.flush_messages = 10;
    auto o = opts_for(d.sub("t-0"), c);
    o.flush = &fl;
    auto log = take(partition_log::open(o, 0));
    for (int i = 0; i < 9; ++i)
        must_append(*log, make_simple(1, 10, 1));
    must_append(*log, make_simple(1, 10, 1));
    for (int i = 0; i < 5000 && log->recovery_point() < 10; ++i)
        ::usleep(1000);
    EXPECT_EQ(log->recovery_point(), 10);
}

TEST(Durability, FlushMsPolicy) {
    temp_dir d;
    log_config c;
    c.flush_ms = 100;
    auto log = open_log(d.sub("t-0"), c);  // no flusher: inline
    must_append(*log, make_simple(1, 10, 1), 1000);
    log->maybe_flush(1050);
    EXPECT_EQ(log->recovery_point(), 0);
    log->maybe_flush(1100);
    EXPECT_EQ(log->recovery_point(), 1);
}

TEST(Durability, WriteFailureIsReportedAndNothingIsLost) {
    temp_dir d;
    auto fsys = std::make_shared<fault_fs>();
    auto log = open_log(d.sub("t-0"), {}, fsys);
    must_append(*log, make_simple(2, 10, 1));
    fsys->f().fail_writes = true;
    auto b = make_simple(2, 10, 1);
    auto r = log->append(b, 0, 1);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::disk_full);
    EXPECT_EQ(log->log_end_offset(), 2);
    EXPECT_EQ(headers_of(region_bytes(*log->read(0, 1 << 20, 10))).size(), 1u);
    fsys->f().fail_writes = false;
    EXPECT_EQ(must_append(*log, make_simple(2, 10, 1)).base_offset, 2);
}

TEST(Durability, PartialWriteIsTruncatedAway) {
    temp_dir d;
    std::string dir = d.sub("t-0");
    auto fsys = std::make_shared<fault_fs>();
    {
        auto log = open_log(dir, {}, fsys);
        must_append(*log, make_simple(2, 10, 1));
        fsys->f().partial_writes = true;
        auto b = make_simple(5, 1000, 1);
        EXPECT_FALSE(log->append(b, 0, 1));
        fsys->f().partial_writes = false;
        EXPECT_FALSE(log->offline());
        EXPECT_EQ(must_append(*log, make_simple(1, 10, 1)).base_offset, 2);
        auto hs = headers_of(region_bytes(*log->read(0, 1 << 20, 10)));
        ASSERT_EQ(hs.size(), 2u);
        EXPECT_EQ(hs[1].base_offset, 2);
    }
    auto log = open_log(dir, {}, fsys);
    EXPECT_EQ(log->log_end_offset(), 3);
}

TEST(Durability, PartialWriteWithoutTruncateTakesTheLogOffline) {
    temp_dir d;
    std::string dir = d.sub("t-0");
    auto fsys = std::make_shared<fault_fs>();
    {
        auto log = open_log(dir, {}, fsys);
        must_append(*log, make_simple(2, 10, 1));
        fsys->f().partial_writes = true;
        fsys->f().fail_truncates = true;
        auto b = make_simple(5, 1000, 1);
        EXPECT_FALSE(log->append(b, 0, 1));
        fsys->f().partial_writes = false;
        fsys->f().fail_truncates = false;
        EXPECT_TRUE(log->offline());
        auto c = make_simple(1, 10, 1);
        EXPECT_EQ(log->append(c, 0, 1).error().code, errc::log_offline);             // sticky
        EXPECT_EQ(headers_of(region_bytes(*log->read(0, 1 << 20, 10))).size(), 1u);  // reads work
        EXPECT_FALSE(log->close());
    }
    auto log = open_log(dir, {}, fsys);  // recovery drops the torn tail
    EXPECT_EQ(log->log_end_offset(), 2);
    EXPECT_GT(log->opened().truncated_bytes, 0u);
}

TEST(Durability, SyncFailureFailsWaitersAndGoesOffline) {
    temp_dir d;
    auto fsys = std::make_shared<fault_fs>();
    flusher fl(2);
    auto o = opts_for(d.sub("t-0"), {}, fsys);
    o.flush = &fl;
    auto log = take(partition_log::open(o, 0));
    must_append(*log, make_simple(2, 10, 1));
    fsys->f().fail_syncs = true;
    waiter w;
    log->flush_up_to(2, w.cb());
    w.wait_for(1);
    EXPECT_EQ(w.failed, 1);
    auto b = make_simple(1, 10, 1);
    auto r = log->append(b, 0, 1);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::log_offline);
    EXPECT_TRUE(log->read(0, 100, 10));
    log->flush_up_to(2, w.cb());  // fails fast
    EXPECT_EQ(w.failed, 2);
    EXPECT_EQ(log->recovery_point(), 0);
}

}  // namespace
}  // namespace rill::storage::test
