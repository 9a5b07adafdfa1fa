// partition_log::truncate_to_async / truncate_fully_and_start_at_async: the cut is done when the
// call returns, the durability work runs on the background runner, `done` reports it.
#include <gtest/gtest.h>

#include <future>
#include <optional>

#include "storage/format.h"
#include "storage/partition_log.h"
#include "storage/task_queue.h"
#include "test_util.h"

namespace rill::storage::test {
namespace {

constexpr int64_t kProducer = 7;

// A log whose background runner is a task_queue that the test can hold (gate) and drain.
struct gated_log {
    explicit gated_log(const std::string& dir, std::shared_ptr<file_system> fs = nullptr)
        : dir(dir), fs(fs) {
        log = reopen();
    }

    std::unique_ptr<partition_log> reopen() {
        auto o = opts_for(dir, config(), fs);
        task_queue* q = &bg;
        o.background = [q](std::function<void()> t) { q->post(std::move(t)); };
        return take(partition_log::open(o, 1000));
    }

    static log_config config() {
        log_config c;
        c.segment_bytes = 2048;
        c.retention_ms = -1;
        return c;
    }

    // Holds the background thread until release(): tasks queued meanwhile wait.
    void hold() {
        gate.emplace();
        auto f = gate->get_future().share();
        bg.post([f] { f.wait(); });
    }
    void release() {
        gate->set_value();
        bg.drain();
    }

    // `n` batches of two records of one idempotent producer, at leader epoch 3.
    void fill(int n) {
        for (int i = 0; i < n; ++i, seq += 2)
            must_append(*log, make_simple(2, 50, 5000 + i, {kProducer, 0, seq, 0}), 1000, 3);
    }

    std::string dir;
    std::shared_ptr<file_system> fs;
    task_queue bg;
    std::optional<std::promise<void>> gate;
    std::unique_ptr<partition_log> log;
    int32_t seq = 0;
};

struct done_probe {
    std::promise<status> p;
    std::shared_future<status> f = p.get_future().share();
    partition_log::truncation_done callback() {
        return [this](const status& s) { p.set_value(s); };
    }
    bool called() const { return f.wait_for(std::chrono::seconds(0)) == std::future_status::ready; }
};

TEST(TruncateAsync, CutsAtOnceAndIsDurableOnceDone) {
    temp_dir d;
    gated_log g(d.sub("t-0"));
    g.fill(40);  // offsets 0..79, several segments
    ASSERT_GT(g.log->segment_count(), 2u);
    g.log->set_high_watermark(60);

    g.hold();
    done_probe probe;
    ASSERT_TRUE(g.log->truncate_to_async(31, probe.callback()));
    // The cut is visible at once: inside the batch [30, 31] it goes to its base offset.
    EXPECT_EQ(g.log->log_end_offset(), 30);
    EXPECT_EQ(g.log->high_watermark(), 30);
    EXPECT_EQ(g.log->end_offset_for_epoch(3)->second, 30);
    const producer_entry* pe = g.log->producers().find(kProducer);
    ASSERT_TRUE(pe);
    EXPECT_EQ(pe->batches.back().last_offset, 29);
    EXPECT_EQ(pe->batches.back().last_seq, 29);
    // Its durability work waits behind the held background thread.
    EXPECT_FALSE(probe.called());

    g.release();
    ASSERT_TRUE(probe.called());
    ASSERT_TRUE(probe.f.get());
    g.log->complete_truncation(probe.f.get());
    EXPECT_FALSE(g.log->offline());

    // Appends continue at the cut, with the producer's sequence from there.
    g.seq = 30;
    g.fill(1);
    EXPECT_EQ(g.log->log_end_offset(), 32);

    // A crash afterwards recovers the cut log (nothing of the old tail comes back).
    g.log.reset();
    g.log = g.reopen();
    EXPECT_EQ(g.log->log_end_offset(), 32);
    EXPECT_EQ(g.log->checkpointed_high_watermark(), 30);
    EXPECT_EQ(g.log->producers().find(kProducer)->batches.back().last_seq, 31);
}

TEST(TruncateAsync, FullTruncationRemovesSnapshotsInTheBackground) {
    temp_dir d;
    gated_log g(d.sub("t-0"));
    g.fill(20);
    ASSERT_TRUE(g.log->close());  // writes a producer snapshot at the log end
    g.log = g.reopen();
    ASSERT_FALSE(take(list_snapshots(*posix_file_system(), d.sub("t-0"))).empty());

    g.hold();
    done_probe probe;
    ASSERT_TRUE(g.log->truncate_fully_and_start_at_async(500, probe.callback()));
    EXPECT_EQ(g.log->log_start_offset(), 500);
    EXPECT_EQ(g.log->log_end_offset(), 500);
    EXPECT_EQ(g.log->producers().size(), 0u);
    EXPECT_FALSE(g.log->latest_epoch());
    EXPECT_FALSE(probe.called());
    g.release();
    ASSERT_TRUE(probe.f.get());
    EXPECT_TRUE(take(list_snapshots(*posix_file_system(), d.sub("t-0"))).empty());

    g.log.reset();  // crash
    g.log = g.reopen();
    EXPECT_EQ(g.log->log_start_offset(), 500);
    EXPECT_EQ(g.log->log_end_offset(), 500);
    EXPECT_EQ(g.log->producers().size(), 0u);
}

TEST(TruncateAsync, NothingToCutCallsDoneAtOnceAndErrorsNever) {
    temp_dir d;
    gated_log g(d.sub("t-0"));
    g.fill(3);
    done_probe inline_probe;
    ASSERT_TRUE(g.log->truncate_to_async(6, inline_probe.callback()));
    ASSERT_TRUE(inline_probe.called());
    EXPECT_TRUE(inline_probe.f.get());
    EXPECT_EQ(g.log->log_end_offset(), 6);

    bool called = false;
    auto never = [&](const status&) { called = true; };
    EXPECT_EQ(g.log->truncate_to_async(-1, never).error().code, errc::invalid_argument);
    EXPECT_EQ(g.log->truncate_fully_and_start_at_async(-1, never).error().code,
              errc::invalid_argument);
    g.bg.drain();
    EXPECT_FALSE(called);
}

TEST(TruncateAsync, FailedDurabilityTakesTheLogOfflineOnCompletion) {
    temp_dir d;
    auto fs = std::make_shared<fault_fs>();
    gated_log g(d.sub("t-0"), fs);
    g.fill(10);
    fs->f().fail_syncs = true;
    done_probe probe;
    ASSERT_TRUE(g.log->truncate_to_async(8, probe.callback()));
    g.bg.drain();
    ASSERT_TRUE(probe.called());
    status st = probe.f.get();
    ASSERT_FALSE(st);
    g.log->complete_truncation(st);
    EXPECT_TRUE(g.log->offline());
    auto b = make_simple(1, 10, 1);
    EXPECT_EQ(g.log->append(b, 3, 1000).error().code, errc::log_offline);
}

}  // namespace
}  // namespace rill::storage::test
