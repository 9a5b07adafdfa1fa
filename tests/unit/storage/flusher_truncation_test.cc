// A truncation on the owner (a broker shard) never waits for a flusher sync in progress, and a
// sync that raced a truncation never publishes a durable offset past the new log end (#14).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "storage/flusher.h"
#include "storage/task_queue.h"
#include "test_util.h"

namespace rill::storage::test {
namespace {

using namespace std::chrono_literals;

// A file whose sync() blocks until released: a slow fdatasync the test controls.
class gated_file final : public file {
  public:
    result<size_t> pread(uint64_t, std::span<uint8_t>) override { return size_t(0); }
    status pwrite(uint64_t, std::span<const uint8_t>) override { return {}; }
    status sync() override {
        std::unique_lock lk(mu_);
        in_sync_ = true;
        cv_.notify_all();
        cv_.wait(lk, [&] { return released_; });
        return {};
    }
    status truncate(uint64_t) override { return {}; }
    result<uint64_t> size() override { return uint64_t(0); }
    int fd() const override { return -1; }
    const std::string& path() const override { return path_; }

    void wait_in_sync() {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return in_sync_; });
    }
    void release() {
        std::lock_guard lk(mu_);
        released_ = true;
        cv_.notify_all();
    }

  private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool in_sync_ = false;
    bool released_ = false;
    std::string path_ = "gated.log";
};

TEST(FlusherTruncation, ResetDoesNotWaitForASyncInProgress) {
    auto f = std::make_shared<gated_file>();
    flush_state st(0, nullptr, "");
    st.set_active(f, {});
    st.publish(100);
    std::thread syncing([&] { EXPECT_TRUE(st.sync_now()); });
    f->wait_in_sync();
    // The owner truncates to 40 while the sync of [0, 100) is still in fdatasync.
    auto resetting = std::async(std::launch::async, [&] { st.reset_after_truncation(40, 0); });
    const bool prompt = resetting.wait_for(2s) == std::future_status::ready;
    f->release();
    syncing.join();
    resetting.get();
    EXPECT_TRUE(prompt) << "reset_after_truncation waited for the sync in progress";
    // The raced sync must not publish 100 (past the new end), nor even 40: what it synced
    // predates the cut.
    EXPECT_EQ(st.published(), 40);
    EXPECT_EQ(st.durable(), 0);
    // The next sync publishes the new end.
    EXPECT_TRUE(st.sync_now());
    EXPECT_EQ(st.durable(), 40);
}

TEST(FlusherTruncation, WaitersOfARacedSyncAreServedByTheNextOne) {
    auto f = std::make_shared<gated_file>();
    auto st = std::make_shared<flush_state>(0, nullptr, "");
    st->set_active(f, {});
    st->publish(100);
    std::promise<status> first;
    std::promise<status> second;
    {
        flusher fl(1);
        fl.request(st, 100, [&](const status& s) { first.set_value(s); });
        f->wait_in_sync();
        st->reset_after_truncation(40, 0);
        // Asks for the new end while the raced sync runs: completed by the sync after it.
        fl.request(st, 40, [&](const status& s) { second.set_value(s); });
        f->release();
        auto got = second.get_future();
        ASSERT_EQ(got.wait_for(10s), std::future_status::ready);
        EXPECT_TRUE(got.get());
        EXPECT_EQ(st->durable(), 40);
    }
    // The waiter for 100 (above the new end) is never told 100 is durable: it is still queued.
    EXPECT_NE(first.get_future().wait_for(0s), std::future_status::ready);
}

// The same on a real follower log: a truncate_to_async on the owner returns while the flusher
// thread is stuck in a slow fdatasync of that log.
TEST(FlusherTruncation, AsyncTruncationReturnsDuringASlowFlush) {
    // Declared first: the flusher and the background queue may still call them back when an
    // assertion below ends the test early.
    std::promise<status> flushed;
    std::promise<status> truncated;
    temp_dir d;
    auto fsys = std::make_shared<fault_fs>();
    flusher fl(1);
    task_queue bg;
    auto o = opts_for(d.sub("t-0"), {}, fsys);
    o.flush = &fl;
    o.background = [q = &bg](std::function<void()> t) { q->post(std::move(t)); };
    auto log = take(partition_log::open(o, 0));
    for (int i = 0; i < 10; ++i)
        must_append(*log, make_simple(1, 10, 1));
    fsys->f().sync_delay_us = 3'000'000;  // each fdatasync takes 3 s
    log->flush_up_to(log->log_end_offset(), [&](const status& s) { flushed.set_value(s); });
    // Wait until the flusher thread is inside its (slow) sync.
    const int syncs_before = fsys->f().syncs.load();
    for (int i = 0; i < 20000 && fsys->f().syncs.load() == syncs_before; ++i)
        std::this_thread::sleep_for(1ms);
    ASSERT_GT(fsys->f().syncs.load(), syncs_before);
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_TRUE(log->truncate_to_async(5, [&](const status& s) { truncated.set_value(s); }));
    const auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 1500ms) << "the owner waited for the flusher's fdatasync";
    EXPECT_EQ(log->log_end_offset(), 5);
    fsys->f().sync_delay_us = 0;
    auto t = truncated.get_future();
    ASSERT_EQ(t.wait_for(30s), std::future_status::ready);
    ASSERT_TRUE(t.get());
    log->complete_truncation(status{});
    EXPECT_EQ(log->recovery_point(), 5);
    EXPECT_TRUE(log->close());
}

}  // namespace
}  // namespace rill::storage::test
