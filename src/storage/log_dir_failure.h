// Run-time failure of a whole log directory (Kafka's LogDirFailureChannel).
//
// Every log.dirs entry has one `log_dir_state`, shared by the log_manager, the partition logs
// in that directory, their flush states and their background tasks. An I/O error that means
// the directory itself is unusable (EIO, EROFS after a read-only remount, a failed fsync; see
// fails_log_dir) on any file of the directory marks the whole directory failed: from then on
// every log in it refuses appends, reads, truncations and background writes (log_offline ->
// KAFKA_STORAGE_ERROR), so nothing half-written is added. ENOSPC is not such an error: a full
// disk stays the recoverable case (appends fail, then resume once space is freed).
//
// Thread safety: fail() and failed() may be called from any thread (shards, flusher, background
// and cleaner threads) and never block beyond a short uncontended mutex; the first fail()
// notifies the listener once, on the failing thread: the listener must only hand the work
// over (post it), never block.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "storage/error.h"

namespace rill::storage {

// True for errors that take a whole log dir offline: io_error from a file operation whose
// errno says the disk or file system is unusable (EIO, EROFS, ENXIO, ENODEV, ESTALE, EUCLEAN,
// EREMOTEIO). Not ENOSPC/EDQUOT (disk_full: recoverable), not running out of descriptors or
// memory (EMFILE, ENFILE, ENOMEM: the process, not the disk), not errors of one file (EISDIR,
// a short read: that log alone goes offline).
bool fails_log_dir(const error& e);

// Called once per failed log dir with the dir (a log.dirs entry) and the first error.
using log_dir_failure_listener = std::function<void(const std::string& dir, const error& cause)>;

// Shared by the log dir states of one log_manager: where failures are reported.
class log_dir_failure_channel {
  public:
    // Any thread; may be set (or replaced) while logs run.
    void set_listener(log_dir_failure_listener l);
    void notify(const std::string& dir, const error& cause) const;

  private:
    mutable std::mutex mu_;
    log_dir_failure_listener listener_;
};

class log_dir_state {
  public:
    log_dir_state(std::string path, std::shared_ptr<log_dir_failure_channel> channel)
        : path_(std::move(path)), channel_(std::move(channel)) {}

    const std::string& path() const { return path_; }
    bool failed() const { return failed_.load(std::memory_order_acquire); }
    // The first error that failed the dir.
    std::optional<error> cause() const;
    // Marks the dir failed; the first call logs one error line and notifies the channel.
    // Returns true for that first call.
    bool fail(const error& cause);
    // fail(e) when fails_log_dir(e). Returns whether the dir is failed afterwards.
    bool report(const error& e);
    // The error a log in the failed dir answers with (log_offline).
    error offline_error() const;

  private:
    const std::string path_;
    const std::shared_ptr<log_dir_failure_channel> channel_;
    std::atomic<bool> failed_{false};
    mutable std::mutex mu_;
    std::optional<error> cause_;
};

}  // namespace rill::storage
