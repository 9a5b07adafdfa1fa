// One hosted partition: its log, its replication state and the leader's write path.
//
// Ownership: everything here is touched on the partition's owner shard only (`shard`), except
// the identity members (`tp`, `shard`, `log`, `self`), which never change after construction
// and may be read anywhere. The partition_manager creates partitions, applies metadata to them
// (apply_state) and removes them; handlers reach them through partition_manager::on_owner /
// run_on_owners.
//
// The leader write path lives here so that every writer (Produce and the admin HTTP produce via
// append_batches, the group coordinator via group_host) goes through one place: append() writes
// the batch, wakes long polls and raises the high watermark; when_committed() waits for the
// high watermark (acks=all, offset commits); follower fetches (on_follower_fetch) move the
// high watermark and grow the ISR; shrink_isr() drops laggards. ISR changes are written by an
// injected `isr_writer` (the partition manager runs the conditional metadata write off the
// shard and reports back with end_isr_change()).
//
// High watermark: the smallest log end over the leader and the maximal ISR (the committed ISR
// plus a pending addition, KIP-497). A follower joins the ISR once it reached both the high
// watermark and the start offset of the leader's current epoch (KAFKA-7128).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "broker/errors.h"
#include "broker/latch.h"
#include "cluster/metadata_store.h"
#include "storage/log_manager.h"

namespace rill::broker {

using storage::topic_partition;

// What the leader knows about one follower replica.
struct follower_progress {
    int64_t leo = -1;           // the follower's log end (its last fetch offset); -1 unknown
    int64_t caught_up_ms = 0;   // last time its LEO reached the leader's LEO (0: never)
    int64_t last_fetch_ms = 0;  // time of its previous fetch
    int64_t last_fetch_leader_leo = 0;  // the leader's LEO at its previous fetch
};

// Why a leader append was refused.
struct append_failure {
    error_code code = error_code::none;
    std::optional<std::string> message;  // the storage error's detail
};

class partition {
  public:
    // Writes a proposed ISR for `p` (leader, owner shard). The writer must call
    // p.end_isr_change() on the owner shard once the write is answered, whatever the outcome.
    using isr_writer =
        std::function<void(partition& p, std::vector<int32_t> proposed, const char* why)>;

    // REQUIRES: log non-null. `self` is this broker's id.
    partition(topic_partition tp, size_t shard, std::shared_ptr<storage::partition_log> log,
              int32_t self, isr_writer write_isr = {});

    const topic_partition tp;
    const size_t shard;
    const std::shared_ptr<storage::partition_log> log;
    const int32_t self;

    // ---- State (owner shard).
    bool removed() const { return removed_; }
    int32_t leader_id() const { return leader_id_; }  // -1: no leader (offline)
    int32_t leader_epoch() const { return leader_epoch_; }
    int32_t partition_epoch() const { return partition_epoch_; }
    const std::vector<int32_t>& replicas() const { return replicas_; }
    const std::vector<int32_t>& isr() const { return isr_; }  // as committed in metadata
    bool is_leader() const { return leader_id_ == self && !removed_; }
    bool in_isr(int32_t id) const;
    bool isr_change_inflight() const { return isr_inflight_; }
    // The committed ISR plus the replicas of an ISR change being written (KIP-497's maximal
    // ISR): what the high watermark is computed over.
    std::vector<int32_t> maximal_isr() const;
    // Leader: the log end when this broker became leader at leader_epoch() (the epoch's start
    // offset; a follower must reach it to join the ISR, KAFKA-7128).
    int64_t epoch_start_offset() const { return epoch_start_offset_; }
    const std::map<int32_t, follower_progress>& followers() const { return followers_; }

    // ---- Metadata.

    // Single node, before the partition is published: this broker is the only replica, the
    // leader at `leader_epoch` and the whole ISR.
    void make_sole_leader(int32_t leader_epoch);

    // What apply_state() changed.
    struct transition {
        bool ignored = false;         // an older state than the one applied (nothing changed)
        bool was_leader = false;      // before
        bool leader_changed = false;  // the leader or the leader epoch differs
    };
    // Applies a partition's metadata. In cluster mode the leader is pi.leader; on the single
    // node this broker always leads. A state whose leader epoch is lower than the applied one,
    // or (same leader epoch) whose partition epoch is lower, is ignored. On becoming leader (or
    // a new leader epoch) follower progress restarts and the epoch start is recorded in the log
    // (OffsetForLeaderEpoch); on losing leadership acks=all waiters fail with
    // NOT_LEADER_OR_FOLLOWER and long polls wake.
    transition apply_state(const cluster::partition_info& pi, bool cluster_mode, int64_t now_ms);

    // The partition is no longer hosted: fails acks=all waiters with NOT_LEADER_OR_FOLLOWER,
    // wakes long polls. Afterwards removed() is true and nothing writes the log.
    void remove();

    // The log went offline with its log dir: acks=all waiters fail with KAFKA_STORAGE_ERROR and
    // long polls wake (their reads then answer KAFKA_STORAGE_ERROR).
    void on_log_offline();

    // ---- Leader write path (owner shard).

    // Appends one validated batch as leader at leader_epoch(): KAFKA_STORAGE_ERROR when the log
    // is offline, NOT_LEADER_OR_FOLLOWER unless
    // leading, NOT_ENOUGH_REPLICAS when the ISR is smaller than `required_isr` (acks=all;
    // 0: no check), else the storage error. Wakes long polls (consumers and followers) and
    // raises the high watermark (at once on a single replica).
    result<storage::append_result, append_failure> append(std::span<uint8_t> batch, int64_t now_ms,
                                                          int32_t required_isr = 0);

    // Runs `done(e)` once the high watermark reaches `offset` (at once when it already has),
    // NOT_ENOUGH_REPLICAS_AFTER_APPEND when the ISR is then below `min_insync`, or
    // NOT_LEADER_OR_FOLLOWER when leadership is lost first. Shared by acks=all produces and the
    // group coordinator's offset commits. `done` runs on the owner shard.
    void when_committed(int64_t offset, int32_t min_insync, std::function<void(error_code)> done);

    // Long-poll fetches waiting for new data: released on every append and every high
    // watermark advance.
    void add_waiter(std::shared_ptr<latch> l);
    void wake_waiters();

    // Raises the high watermark as far as the ISR allows, then wakes long polls and completes
    // the acks=all waiters it satisfies.
    void advance_high_watermark(int64_t now_ms);

    // ---- ISR (leader, owner shard).

    // A follower fetched from `offset` (its log end): records its progress and catch-up time,
    // proposes its return to the ISR once it has reached the high watermark and the current
    // epoch's start offset, and raises the high watermark.
    void on_follower_fetch(int32_t replica, int64_t offset, int64_t now_ms);
    // Proposes dropping ISR followers that have not caught up for `lag_max_ms`
    // (replica.lag.time.max.ms).
    void shrink_isr(int64_t now_ms, int64_t lag_max_ms);
    // The ISR write proposed through the writer was answered (applied or not); the applied
    // state itself arrives through apply_state().
    void end_isr_change();

  private:
    bool in_sync_candidate(int64_t offset) const;
    void propose_isr(std::vector<int32_t> isr, const char* why);
    void complete_ack_waiters();
    void fail_ack_waiters(error_code e);

    // An acks=all produce (or offset commit) waiting for the high watermark to pass `offset`.
    struct ack_waiter {
        int64_t offset = 0;  // wanted: high watermark >= offset
        int32_t min_insync = 1;
        std::function<void(error_code)> done;  // runs once, on the owner shard
    };

    isr_writer write_isr_;
    bool removed_ = false;
    int32_t leader_id_ = -1;
    int32_t leader_epoch_ = 0;
    int32_t partition_epoch_ = 0;
    std::vector<int32_t> replicas_;
    std::vector<int32_t> isr_;
    std::map<int32_t, follower_progress> followers_;  // leader only: every other replica
    std::vector<ack_waiter> ack_waiters_;             // leader only
    std::vector<std::shared_ptr<latch>> waiters_;
    bool isr_inflight_ = false;
    std::vector<int32_t> pending_isr_;  // the ISR being written while isr_inflight_
    int64_t epoch_start_offset_ = 0;
};

}  // namespace rill::broker
