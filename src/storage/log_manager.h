// Owns every partition log of this broker across one or more log.dirs, one directory per
// partition: <dir>/<topic>-<partition>/. Creates, loads and deletes logs and runs the
// background machinery: the flusher threads (group commit), a FIFO background thread
// (checkpoints, producer snapshots, file removal, directory removal) and a cleaner thread
// (compaction runs).
//
// LOG DIR FAILURE (Kafka's LogDirFailureChannel): an I/O error that fails_log_dir() on any
// file of a log dir (EIO, EROFS, a failed fsync; never ENOSPC) marks the whole dir failed, at
// run time or while loading: its logs go offline (log_dir_state), nothing more is written in
// it, and the failure listener hears of it once. A log dir that cannot be created or listed at
// startup is failed from the start (open() fails only when every log dir fails). Partitions in
// a failed dir are never recreated elsewhere: create() refuses them, and refuses every
// partition while a dir whose content could not be listed is failed.
//
// THREADING CONTRACT
//   - log_manager's own methods (open, load_all, create, get, remove, close) are called from
//     one control thread (the broker's startup/controller thread); they may block.
//   - Each partition_log it hands out is single-writer and is used only on its owner executor
//     (the shard the broker pins the partition to). Periodic work is driven by that owner:
//     call log->enforce_retention(now) every log.retention.check.interval.ms,
//     log->maybe_flush(now) and log->checkpoint() on their intervals, and
//     schedule_compaction() for compacted topics. None of those block on I/O.
//   - Callbacks (flush_up_to's done, schedule_compaction's post) arrive on storage threads:
//     post them to the owner executor before touching the log.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "storage/cleaner.h"
#include "storage/file_system.h"
#include "storage/flusher.h"
#include "storage/log_config.h"
#include "storage/log_dir_failure.h"
#include "storage/partition_log.h"
#include "storage/task_queue.h"

namespace rill::storage {

struct topic_partition {
    std::string topic;
    int32_t partition = 0;

    std::string dir_name() const { return topic + "-" + std::to_string(partition); }
    // "<topic>-<partition>"; nullopt for anything else (e.g. directories being deleted).
    static std::optional<topic_partition> parse(const std::string& dir_name);
    friend auto operator<=>(const topic_partition&, const topic_partition&) = default;
};

struct log_manager_config {
    std::vector<std::string> log_dirs;  // log.dirs
    size_t flusher_threads = 1;
    // close(): logs closed in parallel by this many threads (each close fsyncs and writes
    // checkpoints; one by one, a clean shutdown with thousands of partitions takes long).
    size_t close_threads = 8;
};

class log_manager {
  public:
    // Creates the log.dirs as needed. Nothing is loaded yet (see load_all).
    static result<std::unique_ptr<log_manager>> open(std::shared_ptr<file_system> fs,
                                                     log_manager_config cfg);
    ~log_manager();

    // Any thread: who hears of log dir failures (once per dir, on the failing thread: post the
    // work elsewhere). Dirs that failed before it was set are in failed_log_dirs().
    void set_failure_listener(log_dir_failure_listener l) { channel_->set_listener(std::move(l)); }
    struct failed_dir {
        std::string dir;
        error cause;
    };
    // Any thread: the failed log dirs, in log.dirs order.
    std::vector<failed_dir> failed_log_dirs() const;
    bool log_dir_failed(const std::string& dir) const;
    // The log.dirs entry holding the partition (loaded, created or offline).
    std::optional<std::string> log_dir_of(const topic_partition& tp) const;

    // Opens (recovering as needed) every partition directory found; `config_for` gives each
    // log its config. Returns the logs that failed to load (their dir is left alone, logged,
    // and they stay offline: see offline_partitions()).
    std::vector<std::pair<topic_partition, error>> load_all(
        const std::function<log_config(const topic_partition&)>& config_for, int64_t now_ms);

    // A partition whose directory exists but could not be loaded: offline (Kafka's
    // KAFKA_STORAGE_ERROR for it), never recreated empty here or in another log dir.
    struct offline_log {
        std::string log_dir;  // the log.dirs entry holding it
        error cause;
    };

    // A new log in the log dir holding the fewest logs; already_exists if present, log_offline
    // when the partition failed to load (its data stays where it is).
    result<std::shared_ptr<partition_log>> create(const topic_partition& tp, const log_config& cfg,
                                                  int64_t now_ms);
    std::shared_ptr<partition_log> get(const topic_partition& tp) const;
    std::vector<topic_partition> partitions() const;
    // Offline partitions with their log dir and error: those that failed to load (load_all)
    // and every log of a failed log dir.
    std::map<topic_partition, offline_log> offline_partitions() const;
    // Forgets the log, renames its directory to <name>.<n>-delete and removes it in the
    // background. REQUIRES: the owner executor no longer uses the log.
    status remove(const topic_partition& tp);

    // Compaction of one log: prepares on the calling (owner) thread, runs on the cleaner
    // thread, then calls `post(install)`; `post` must run `install` on the owner executor.
    // False when nothing is cleanable now. Unlike the methods above, callable from the log's
    // owner executor (it only uses the log and the thread-safe cleaner queue).
    bool schedule_compaction(const std::shared_ptr<partition_log>& log, int64_t now_ms,
                             std::function<void(std::function<void()>)> post);

    // Clean shutdown of every log (blocking), then drains the background threads. Logs in a
    // failed log dir are left as they are (not an error). The background queue is drained
    // first, then up to `close_threads` threads close the logs in parallel (REQUIRES: no
    // owner executor uses the logs any more).
    status close();

    flusher& log_flusher() { return *flusher_; }
    task_runner background();
    // Any thread: tasks waiting on the background thread (checkpoints, snapshots, removals).
    size_t background_backlog() const { return background_->pending(); }
    const std::vector<std::string>& log_dirs() const { return cfg_.log_dirs; }

  private:
    log_manager(std::shared_ptr<file_system> fs, log_manager_config cfg);
    partition_log::options log_options(const std::string& log_dir, const std::string& dir,
                                       const log_config& cfg);
    log_dir_state& dir_state(const std::string& log_dir) const { return *dir_states_.at(log_dir); }

    std::shared_ptr<file_system> fs_;
    log_manager_config cfg_;
    std::unique_ptr<flusher> flusher_;
    std::unique_ptr<task_queue> background_;
    std::unique_ptr<task_queue> cleaner_;
    std::map<topic_partition, std::shared_ptr<partition_log>> logs_;
    std::map<topic_partition, std::string> log_dir_of_;
    std::map<topic_partition, offline_log> offline_;
    std::shared_ptr<log_dir_failure_channel> channel_ = std::make_shared<log_dir_failure_channel>();
    std::map<std::string, std::shared_ptr<log_dir_state>> dir_states_;  // one per log.dirs entry
    std::set<std::string> unlisted_dirs_;  // failed before their content was listed
    uint64_t delete_seq_ = 0;
    bool closed_ = false;
};

}  // namespace rill::storage
