// A partition's log: an ordered set of segments in one directory, with offsets assignment,
// reads as file regions for sendfile, timestamp lookup, durability (flush policy and
// flush_up_to for acks=all), checkpoints, crash recovery, retention, DeleteRecords, producer
// state for idempotence and the hooks the cleaner needs.
//
// THREADING CONTRACT: a partition_log is single-writer. Every method is called on the
// partition's owner executor only (never concurrently). The blocking ones (open, close,
// flush, the synchronous fallback paths used when no flusher/background runner is given) are
// documented as such and belong on a thread that may block. With a `flusher` and a
// `background` runner configured (log_manager does both), append/read/enforce_retention never
// call fsync: syncs, checkpoint writes, producer snapshots and file removal all run elsewhere.
//
// Files and crash safety: see storage/format.h (layout) and storage/checkpoint.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/wire.h"
#include "storage/checkpoint.h"
#include "storage/error.h"
#include "storage/file_system.h"
#include "storage/flusher.h"
#include "storage/log_config.h"
#include "storage/log_dir_failure.h"
#include "storage/producer_state.h"
#include "storage/segment_set.h"

namespace rill::storage {

struct append_result {
    int64_t base_offset = -1;
    int64_t last_offset = -1;
    int64_t log_append_time = -1;  // -1 unless the log uses LogAppendTime
    int64_t log_start_offset = 0;
    bool duplicate = false;  // an idempotent retry: nothing written, original offsets returned
};

struct read_result {
    // Whole batches, in order; each region's keepalive holds the segment file open.
    std::vector<protocol::file_region> regions;
    size_t bytes = 0;
    int64_t last_offset = -1;  // last offset of the last batch returned; -1 when none
};

// Copies a read's regions into memory with blocking preads: for loaders and browsers that
// decode records (the fetch path sends regions with sendfile instead). nullopt on an I/O
// error or a file that ended early.
std::optional<protocol::bytes> read_into_memory(const read_result& r);

struct timestamp_hit {
    int64_t offset = -1;
    int64_t timestamp = -1;
};

struct open_info {
    bool clean = false;             // the clean-shutdown marker was present
    uint64_t truncated_bytes = 0;   // removed by recovery
    size_t segments_recovered = 0;  // re-validated segments
    size_t segments_dropped = 0;    // segments after a corrupt one, removed
};

// Runs a task on a background thread (FIFO). Empty: tasks run inline (blocking).
using task_runner = std::function<void(std::function<void()>)>;

class compaction_job;

class partition_log {
  public:
    struct options {
        std::shared_ptr<file_system> fs;
        std::string dir;  // <log.dir>/<topic>-<partition>
        log_config config;
        flusher* flush = nullptr;  // nullable: then flushes run inline (blocking)
        task_runner background;    // checkpoint writes, snapshots, file removal
        // The log dir holding opts.dir (log_manager sets it; nullable). An I/O error of this log
        // that fails_log_dir() fails the whole dir; a failed dir takes this log offline.
        std::shared_ptr<log_dir_state> log_dir;
    };

    // Opens or creates the log in opts.dir (blocking: recovery, index rebuilds, fsyncs).
    static result<std::unique_ptr<partition_log>> open(options opts, int64_t now_ms);
    ~partition_log();

    // Appends the batches in `batches` (one or more whole magic-2 batches, CRC already
    // validated by the caller). Stamps base offset and partition leader epoch in place, and
    // for LogAppendTime logs the timestamps (recomputing the CRC). Checks producer state;
    // an exact retry of one of the producer's last 5 batches returns its original offsets
    // with duplicate = true. Errors: log_offline / io_error / disk_full (-> KAFKA_STORAGE_ERROR,
    // nothing is acknowledged), corrupt_batch, out_of_order_sequence, invalid_producer_epoch.
    result<append_result> append(std::span<uint8_t> batches, int32_t leader_epoch, int64_t now_ms);

    // ---- Replication: the follower side (Kafka's appendAsFollower / truncateTo /
    // truncateFullyAndStartAt). All three are owner-executor only, like append.

    // Appends batches fetched from the leader verbatim: `batches` is one or more whole magic-2
    // batches exactly as the leader stored them (base offsets, partition leader epochs,
    // timestamps, producer ids/sequences already set). Every batch's header and CRC-32C is
    // validated (the checks recovery applies) before anything is written; the first batch
    // must start at log_end_offset() and each next one right after its predecessor's last
    // offset. Nothing is restamped. Segments roll per config (batch by batch, so segment
    // boundaries follow the same rules as on the leader), indexes are maintained, the
    // leader-epoch cache learns every batch's partition_leader_epoch larger than the latest
    // (starting at that batch's base offset), producer state records every batch without
    // duplicate/sequence/epoch checks (the leader decided), the flush policy applies, and LEO
    // advances. The high watermark is NOT changed (call set_high_watermark). No allocation
    // per record or per batch (a reused scratch vector).
    // Result: base_offset/last_offset of the appended range, log_append_time = -1,
    // duplicate = false.
    // Errors (nothing written unless noted): corrupt_batch (malformed, bad CRC, a trailing
    // partial batch, or batches not contiguous), offset_out_of_range (first base offset !=
    // LEO: a stale fetch; refetch from LEO), invalid_argument (empty), shutting_down,
    // log_offline/io_error/disk_full (when a roll split the input, a prefix of whole batches
    // may have been written: log_end_offset() says where to continue).
    result<append_result> append_replicated(std::span<const uint8_t> batches, int64_t now_ms);

    // Removes every batch with base offset >= `offset`; an offset inside a batch truncates to
    // that batch's base offset (Kafka does the same). No-op when offset >= LEO. Below the
    // first segment's base offset it is truncate_fully_and_start_at(offset). Deletes later
    // segments, cuts the containing one (log, offset index, time index), then LEO = the cut,
    // HWM = min(HWM, LEO), log start = min(log start, LEO), leader-epoch entries starting at
    // or above the cut removed, producer state rebuilt (newest snapshot <= LEO plus the log
    // after it; newer snapshots deleted), recovery point <= LEO.
    // BLOCKING and crash-safe: before returning, every segment is fdatasync'ed, the directory
    // fsynced and the partition and leader-epoch checkpoints written (on the background
    // runner, waited for, so that no older queued checkpoint can overwrite them). A
    // compaction in flight is voided (its install discards the output).
    // Flush waiters for offsets above the new LEO stay queued (the broker fails them on
    // leadership change). Errors: invalid_argument (offset < 0), shutting_down, log_offline,
    // io_error (the log goes offline when files were already changed), corrupt.
    status truncate_to(int64_t offset);

    // Drops every segment and restarts the log empty at `offset` (log start = LEO = HWM =
    // recovery point = cleaner offset = offset): for a follower whose fetch offset is below
    // the leader's log start, or above the leader's LEO after an unclean election. Clears
    // the leader-epoch cache and producer state and deletes all producer snapshots.
    // BLOCKING and crash-safe like truncate_to. Errors: invalid_argument (offset < 0),
    // shutting_down, log_offline, io_error (the log goes offline).
    status truncate_fully_and_start_at(int64_t offset);

    // Non-blocking truncations, for owner executors that must not block (the broker's shards).
    // The same cut as truncate_to / truncate_fully_and_start_at, done when the call returns
    // (files cut and renamed, in-memory and producer state as after the blocking variant); the
    // work that makes it durable (fdatasync of the cut segment and of everything unsynced, the
    // directory fsync, removal of producer snapshots past the cut, the partition and
    // leader-epoch checkpoints) runs on the background runner, after every task queued before
    // it, so no older checkpoint or snapshot can overwrite it. On success `done(st)` runs once,
    // on the background thread when that work finished (inline when nothing had to be cut):
    // post it to the owner executor and call complete_truncation(st) there, which takes the
    // log offline when st failed. On an error return `done` is never called.
    using truncation_done = std::function<void(const status&)>;
    status truncate_to_async(int64_t offset, truncation_done done);
    status truncate_fully_and_start_at_async(int64_t offset, truncation_done done);
    void complete_truncation(const status& st);

    // Whole batches starting with the one holding `offset`, while their last offset <
    // upper_bound (pass the high watermark, LSO, or log_end_offset() for replicas), within
    // max_bytes except that the first batch is always returned whole. Empty when offset ==
    // log_end_offset(). offset_out_of_range when offset < log_start_offset() or > LEO. A read
    // stops before an invalid stored batch (a corrupt segment below the recovery point, never
    // re-validated): corrupt (-> CORRUPT_MESSAGE, logged) when the read starts at it; it never
    // skips to a later segment.
    result<read_result> read(int64_t offset, size_t max_bytes, int64_t upper_bound) const;

    // ListOffsets by timestamp in two steps, so that no file is read on the owner's shard:
    // plan_*() on the owner (in-memory state only), run_timestamp_lookup() on any thread
    // (blocking preads, one batch in memory at a time; the plan's file handles keep the files
    // open). The answer is not clamped: the owner clamps it to the log start and the
    // fetchable end afterwards (clamp_to_log_start below, the high watermark or LSO).
    struct timestamp_lookup {
        int64_t ts = -1;                    // the first record with timestamp >= ts
        std::vector<timestamp_scan> scans;  // candidate segments, in offset order
    };
    timestamp_lookup plan_offset_for_timestamp(int64_t ts) const;
    // The largest timestamp: the first record holding it, in the first segment holding it.
    timestamp_lookup plan_max_timestamp() const;
    static result<std::optional<timestamp_hit>> run_timestamp_lookup(const timestamp_lookup& l);
    // A batch straddling the log start answers with the log start, never below it.
    std::optional<timestamp_hit> clamp_to_log_start(std::optional<timestamp_hit> hit) const;

    // Both steps on the calling thread (blocking; tools and tests). nullopt when there is no
    // such record.
    result<std::optional<timestamp_hit>> offset_for_timestamp(int64_t ts) const;
    result<std::optional<timestamp_hit>> max_timestamp() const;

    int64_t log_start_offset() const { return log_start_; }
    int64_t log_end_offset() const { return leo_; }
    int64_t high_watermark() const { return hwm_; }
    // Set by the broker (single node: after the flush policy/acks; cluster: ISR). Clamped to
    // [log_start, LEO].
    void set_high_watermark(int64_t hwm);
    // The last stable offset: the hook's value when set and not nullopt, else the first offset
    // of the oldest open transaction (producer_state), else the high watermark; never above
    // the HWM.
    int64_t last_stable_offset() const;
    void set_last_stable_offset_hook(std::function<std::optional<int64_t>()> hook) {
        lso_hook_ = std::move(hook);
    }
    // Offsets below this are durable (fdatasync'ed).
    int64_t recovery_point() const { return flush_->durable(); }

    // Durability. `done` runs once every offset below `offset` is durable (see flusher.h for
    // the thread it runs on). Without a flusher, syncs inline (blocking).
    void flush_up_to(int64_t offset, flush_callback done);
    // Blocking flush of everything appended so far.
    status flush();
    // flush.ms policy: requests an asynchronous flush when the oldest unflushed append is
    // older than flush_ms. Call periodically (log_manager does).
    void maybe_flush(int64_t now_ms);
    // Writes the partition and leader-epoch checkpoints (on the background runner).
    void checkpoint();

    // Deletes closed segments past retention.ms (by largest timestamp) / retention.bytes and
    // those entirely below the log start offset. Never deletes data at or above the HWM.
    // Returns the number of segments deleted.
    result<size_t> enforce_retention(int64_t now_ms);
    // DeleteRecords: advances the log start offset to `offset` (<= HWM, else
    // offset_out_of_range) and deletes the segments below it.
    result<int64_t> delete_records(int64_t offset, int64_t now_ms);
    // Forces a roll of a non-empty active segment.
    status roll(int64_t now_ms);

    // Leader epochs (OffsetForLeaderEpoch): {largest epoch <= `epoch`, its end offset}.
    // nullopt when `epoch` is below every known epoch (or none is known); {latest, LEO} when
    // `epoch` is above the latest. See offset_for_leader_epoch() for Kafka's exact answer.
    std::optional<std::pair<int32_t, int64_t>> end_offset_for_epoch(int32_t epoch) const {
        return epochs_.end_offset_for(epoch, leo_);
    }
    // Kafka's OffsetForLeaderEpoch semantics (leader_epoch_cache::offset_for_leader_epoch):
    // undefined {-1, -1} for epoch < 0, an empty cache or epoch > latest; {epoch, LEO} for the
    // latest; {epoch, first entry's start} below the first known epoch; else {largest epoch
    // <= epoch, start offset of the next larger epoch}.
    epoch_end_offset offset_for_leader_epoch(int32_t epoch) const {
        return epochs_.offset_for_leader_epoch(epoch, leo_);
    }
    std::optional<int32_t> latest_epoch() const { return epochs_.latest_epoch(); }
    const leader_epoch_cache& leader_epochs() const { return epochs_; }
    // On becoming leader for `epoch` (Kafka's Partition.makeLeader): records that `epoch`
    // starts at the current LEO, so OffsetForLeaderEpoch answers correctly before the first
    // append in it. Ignored (false) unless epoch > latest_epoch(). Checkpointed in the
    // background.
    bool assign_epoch_start(int32_t epoch);

    // The high watermark of the partition checkpoint read by open() (written by checkpoint(),
    // close(), truncations and retention), clamped to [log start, LEO]; the log start when
    // there was no readable checkpoint. In cluster mode this is the last known HWM to resume
    // from (Kafka's replication-offset-checkpoint). open() also sets high_watermark() to it.
    int64_t checkpointed_high_watermark() const {
        return std::clamp(checkpointed_hwm_, log_start_, leo_);
    }

    const producer_state& producers() const { return producers_; }

    // Compaction (cleanup.policy=compact): the owner prepares a job (cheap), the job runs on
    // a background thread (reads immutable closed segments, writes *.cleaned files), and the
    // owner installs it (renames). nullptr when nothing is cleanable.
    std::shared_ptr<compaction_job> prepare_compaction(int64_t now_ms);
    status install_compaction(compaction_job& job);
    // prepare + run + install on the calling thread (tests, tools).
    status compact_now(int64_t now_ms);

    // Clean shutdown (blocking): flush, checkpoints, producer snapshot, clean-shutdown marker.
    // The files are written on the background runner (after the tasks queued before), or, with
    // `write_here`, on the calling thread: only when no task of this log is queued any more
    // (log_manager::close drains the background first and closes logs in parallel).
    status close(bool write_here = false);

    // Ends this incarnation's claim on its directory (log_manager::remove calls it before
    // renaming the directory away): waits for a running background task of this log and
    // turns every later one (checkpoints, snapshots, file removal) into a no-op, so nothing of
    // the old log can write into a log recreated at the same path. Any thread.
    void retire();

    // Offline: an earlier write or sync failed, or the log dir failed (any thread may ask for
    // the latter through log_dir_failed()).
    bool offline() const { return offline_.has_value() || log_dir_failed(); }
    bool log_dir_failed() const { return opts_.log_dir && opts_.log_dir->failed(); }
    std::optional<error> offline_error() const {
        if (offline_) return offline_;
        if (log_dir_failed()) return opts_.log_dir->offline_error();
        return std::nullopt;
    }
    const std::shared_ptr<log_dir_state>& log_dir() const { return opts_.log_dir; }
    const open_info& opened() const { return open_info_; }
    const std::string& dir() const { return opts_.dir; }
    const log_config& config() const { return opts_.config; }
    void set_config(const log_config& c) { opts_.config = c; }
    size_t segment_count() const { return segments_.size(); }
    uint64_t size_bytes() const { return segments_.total_bytes(); }
    const segment_set& segments() const { return segments_; }

  private:
    explicit partition_log(options opts);

    status load(int64_t now_ms);
    status rebuild_producer_state(int64_t from_offset);
    // Producer state as of the log end: the newest snapshot <= LEO plus the batches after it;
    // takes the log offline on failure.
    status restore_producers_at_end(file_system& fs);
    // `bytes` more to append; `pending` of them are already destined for the active segment
    // (append_replicated groups batches), counting it as non-empty.
    bool should_roll(uint64_t bytes, int64_t last_offset, int64_t now_ms,
                     uint64_t pending = 0) const;
    status roll_locked(int64_t now_ms);
    void remove_files(std::vector<std::string> paths);
    status delete_front_segments(size_t count);
    // Runs `task` on the background runner unless the log was retired by then (then
    // `if_retired`, when given, runs instead: waiters get an answer).
    void run(std::function<void()> task, std::function<void()> if_retired = {});
    // The same guard, on the calling thread.
    void run_here(const std::function<void()>& task, const std::function<void()>& if_retired);
    segment_config seg_config() const;
    void go_offline(const error& e);
    // Takes the log offline when its flush state or its log dir failed; true when offline
    // (offline_ then holds the error to answer with).
    bool check_offline();
    // Reports an error of a file operation to the log dir (which fails when fails_log_dir).
    void report(const error& e) const {
        if (opts_.log_dir) opts_.log_dir->report(e);
    }
    partition_checkpoint make_checkpoint() const;
    // The partition and leader-epoch checkpoints as of now.
    checkpoint_files checkpoint_contents() const;
    // Commits a truncation: syncs, resets flush state, writes checkpoints (waited for).
    status finish_truncation(bool drop_all_snapshots);
    status write_checkpoints_and_wait(bool drop_all_snapshots);
    // truncate_*_async: finish_truncation's durability work, handed to the background runner
    // with deferred_done_ (partition_log_truncation.cc).
    status defer_truncation(bool drop_all_snapshots);

    // Shared with the background tasks of this log: they run under `mu` and skip once
    // `retired`.
    struct incarnation {
        std::mutex mu;
        bool retired = false;
    };

    options opts_;
    std::shared_ptr<incarnation> incarnation_ = std::make_shared<incarnation>();
    segment_set segments_;
    std::shared_ptr<flush_state> flush_;
    producer_state producers_;
    leader_epoch_cache epochs_;
    int64_t log_start_ = 0;
    int64_t leo_ = 0;
    int64_t hwm_ = 0;
    int64_t cleaner_offset_ = 0;
    int64_t checkpointed_hwm_ = 0;
    uint64_t truncations_ = 0;            // voids compaction jobs prepared before a truncation
    std::vector<batch_meta> repl_metas_;  // append_replicated scratch
    int64_t unflushed_messages_ = 0;
    int64_t first_unflushed_ms_ = -1;
    std::optional<error> offline_;
    truncation_done deferred_done_;  // set while a truncate_*_async runs its cut
    std::function<std::optional<int64_t>()> lso_hook_;
    open_info open_info_;
    bool compaction_running_ = false;
    bool closed_ = false;

    friend class compaction_job;
};

}  // namespace rill::storage
