// Durability off the caller's thread, with group commit.
//
// Each partition_log owns a `flush_state` shared with the `flusher`. The log publishes its log
// end offset after every append and hands over the files of segments it rolls; the flusher
// thread(s) fdatasync the dirty files and then mark everything below the published offset
// durable. Requests that arrive while a sync runs are all served by the next single sync
// (group commit), so N concurrent acks=all producers cost ~2 fdatasyncs, not N.
//
// Callbacks run exactly once, with ok or the sync error: inline on the requesting thread when
// the offset is already durable (or the log already failed), otherwise on a flusher thread;
// the broker posts them back to the partition's executor. A failed sync is sticky: the state
// stays failed and every later request fails (the log goes offline).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "storage/file_system.h"

namespace rill::storage {

using flush_callback = std::function<void(const status&)>;

// Thread-safe.
class flush_state {
  public:
    // `fs`/`dir`: the partition directory, fsynced after a roll created a segment file.
    flush_state(int64_t durable_offset, std::shared_ptr<file_system> fs, std::string dir)
        : fs_(std::move(fs)), dir_(std::move(dir)), durable_(durable_offset) {}

    // Owner thread: everything below `leo` has been written (to the page cache).
    void publish(int64_t leo) { published_.store(leo, std::memory_order_release); }
    // Owner thread: the active segment's log file changed (after a roll); `sealed` are the
    // files of the previous active segment, synced by the next flush.
    void set_active(std::shared_ptr<file> active, std::vector<std::shared_ptr<file>> sealed);
    // Owner thread, after the log was truncated (partition_log::truncate_to and
    // truncate_fully_and_start_at): the log now ends at `leo` and everything below `durable`
    // (<= leo) is durable. Never waits for a sync in progress (the owner may be a shard): it
    // bumps the truncation generation instead, and a sync that started before it does not
    // publish its durable offset (which may lie above the new end, or cover bytes the cut
    // replaced); the next sync does. Waiters for offsets above `leo` stay queued.
    void reset_after_truncation(int64_t leo, int64_t durable);
    // Offsets below this are durable.
    int64_t durable() const { return durable_.load(std::memory_order_acquire); }
    int64_t published() const { return published_.load(std::memory_order_acquire); }
    std::optional<error> failure() const;
    // Called (on the syncing thread, outside the locks) with the error of a failed sync, once.
    // Set before the first sync (partition_log: reports it to the log dir).
    void set_failure_hook(std::function<void(const error&)> hook) { on_failure_ = std::move(hook); }

    // Syncs the dirty files on the calling thread (flusher thread, or the owner for a
    // synchronous flush) and completes the satisfied waiters. Returns the sync status.
    status sync_now();

  private:
    friend class flusher;

    std::shared_ptr<file_system> fs_;
    std::string dir_;
    mutable std::mutex mu_;
    bool dir_dirty_ = false;
    std::shared_ptr<file> active_;
    std::vector<std::shared_ptr<file>> sealed_;
    std::vector<std::pair<int64_t, flush_callback>> waiters_;
    std::optional<error> failed_;
    bool queued_ = false;
    uint64_t truncations_ = 0;  // under mu_: the truncation generation (reset_after_truncation)
    std::mutex sync_mu_;        // one sync at a time per log; only sync_now takes it
    std::atomic<int64_t> published_{0};
    std::atomic<int64_t> durable_;
    std::function<void(const error&)> on_failure_;
};

// Thread-safe. Owns `threads` flusher threads; the destructor completes queued work first.
class flusher {
  public:
    explicit flusher(size_t threads = 1);
    ~flusher();
    flusher(const flusher&) = delete;
    flusher& operator=(const flusher&) = delete;

    // Calls `done` (may be empty) once every offset below `offset` is durable.
    void request(const std::shared_ptr<flush_state>& st, int64_t offset, flush_callback done);

    uint64_t syncs() const { return syncs_.load(); }

  private:
    void run();

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::shared_ptr<flush_state>> queue_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
    std::atomic<uint64_t> syncs_{0};
};

}  // namespace rill::storage
