// Owns every partition log of this broker across one or more log.dirs, one directory per
// partition: <dir>/<topic>-<partition>/. Creates, loads and deletes logs and runs the
// background machinery: the flusher threads (group commit), a FIFO background thread
// (checkpoints, producer snapshots, file removal, directory removal) and a cleaner thread
// (compaction runs).
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
#include <string>
#include <vector>

#include "storage/cleaner.h"
#include "storage/file_system.h"
#include "storage/flusher.h"
#include "storage/log_config.h"
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
};

class log_manager {
  public:
    // Creates the log.dirs as needed. Nothing is loaded yet (see load_all).
    static result<std::unique_ptr<log_manager>> open(std::shared_ptr<file_system> fs,
                                                     log_manager_config cfg);
    ~log_manager();

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
    // Partitions that failed to load (load_all), with their log dir and error.
    const std::map<topic_partition, offline_log>& offline_partitions() const { return offline_; }
    // Forgets the log, renames its directory to <name>.<n>-delete and removes it in the
    // background. REQUIRES: the owner executor no longer uses the log.
    status remove(const topic_partition& tp);

    // Compaction of one log: prepares on the calling (owner) thread, runs on the cleaner
    // thread, then calls `post(install)`; `post` must run `install` on the owner executor.
    // False when nothing is cleanable now. Unlike the methods above, callable from the log's
    // owner executor (it only uses the log and the thread-safe cleaner queue).
    bool schedule_compaction(const std::shared_ptr<partition_log>& log, int64_t now_ms,
                             std::function<void(std::function<void()>)> post);

    // Clean shutdown of every log (blocking), then drains the background threads.
    status close();

    flusher& log_flusher() { return *flusher_; }
    task_runner background();
    // Any thread: tasks waiting on the background thread (checkpoints, snapshots, removals).
    size_t background_backlog() const { return background_->pending(); }
    const std::vector<std::string>& log_dirs() const { return cfg_.log_dirs; }

  private:
    log_manager(std::shared_ptr<file_system> fs, log_manager_config cfg);
    partition_log::options log_options(const std::string& dir, const log_config& cfg);

    std::shared_ptr<file_system> fs_;
    log_manager_config cfg_;
    std::unique_ptr<flusher> flusher_;
    std::unique_ptr<task_queue> background_;
    std::unique_ptr<task_queue> cleaner_;
    std::map<topic_partition, std::shared_ptr<partition_log>> logs_;
    std::map<topic_partition, std::string> log_dir_of_;
    std::map<topic_partition, offline_log> offline_;
    uint64_t delete_seq_ = 0;
    bool closed_ = false;
};

}  // namespace rill::storage
