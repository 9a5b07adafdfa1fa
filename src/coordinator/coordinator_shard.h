// One coordinator shard: the groups and committed offsets of one __consumer_offsets
// partition, on the partition's owner shard (Kafka's CoordinatorShard). It owns
//
//   - loading: the replay of the partition's records (GroupMetadata and OffsetCommit, last
//     value per key wins, tombstones delete) when this broker becomes its leader; the host
//     reads the files off the shard, the records are replayed here;
//   - writing: every change is a batch of records appended to the partition; the change is
//     applied to the state (and the request answered) only once the records are committed
//     (the ISR has them, and they are fsynced when rill.acks.all.fsync=true; see shard_host);
//   - the classic group protocol (classic_handlers.cc), the consumer group protocol of KIP-848
//     (consumer_handlers.cc) and the offset APIs (offset_handlers.cc) on top of the classic
//     groups (classic_group.h), the consumer groups (consumer_group.h) and the offsets
//     manager (offsets_manager.h).
//
// Threading: single-threaded. Every method runs on the partition's owner shard, and so does
// every callback the host runs. Protocol-version differences are the broker handlers' job:
// the requests arrive normalized (see join_options and the notes on each entry point).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/result.h"
#include "coordinator/classic_group.h"
#include "coordinator/consumer_group.h"
#include "coordinator/offsets_manager.h"
#include "protocol/generated/consumer_group_describe.h"
#include "protocol/generated/consumer_group_heartbeat.h"
#include "protocol/generated/error_code.h"
#include "protocol/generated/heartbeat.h"
#include "protocol/generated/join_group.h"
#include "protocol/generated/leave_group.h"
#include "protocol/generated/offset_commit.h"
#include "protocol/generated/offset_delete.h"
#include "protocol/generated/offset_fetch.h"
#include "protocol/generated/sync_group.h"
#include "protocol/generated/txn_offset_commit.h"
#include "protocol/record_batch.h"

namespace spdlog {
class logger;
}

namespace rill::coordinator {

// Whole batches of the partition read from some offset, with its bounds.
struct log_chunk {
    protocol::bytes batches;  // empty at the end of the log
    int64_t log_start = 0;
    int64_t log_end = 0;
};

// What one coordinator shard needs from its partition and its thread. The broker's
// implementation is in group_coordinator.cc (over coordinator_host); tests use fakes.
class shard_host {
  public:
    virtual ~shard_host() = default;
    virtual int64_t now_ms() = 0;
    // The leader epoch while this broker leads the partition, else -1.
    virtual int32_t leader_epoch() = 0;
    // Reads batches from `from` (at most about `max_bytes`) and runs `done` on this shard with
    // them, or with the error text when the log cannot be read. The file reads happen off the
    // shard (a work pool); `done` may run before read() returns when there is nothing to read.
    using read_callback = std::function<void(result<log_chunk, std::string>)>;
    virtual void read(int64_t from, size_t max_bytes, read_callback done) = 0;
    // Appends one batch as leader (acks=all rules of the offsets topic); the base offset, or
    // the partition's error.
    virtual result<int64_t, protocol::error_code> append(protocol::bytes& batch) = 0;
    // Runs `done` once every offset below `end` is committed: replicated to the ISR (and
    // fsynced when configured); or with the error (leadership lost, ISR below
    // min.insync.replicas, offsets.commit.timeout.ms passed). Completions run in order.
    virtual void when_committed(int64_t end, std::function<void(protocol::error_code)> done) = 0;
    // Partitions of `topic`, nullopt when it does not exist.
    virtual std::optional<int32_t> partition_count(const std::string& topic) = 0;
    // The id and partition count of `topic`, nullopt when it does not exist.
    virtual std::optional<topic_meta> topic(const std::string& name) = 0;
    // The names of every topic but the internal ones (regex subscriptions resolve against
    // them); the same pointer as long as the list does not change.
    virtual std::shared_ptr<const std::vector<std::string>> topic_names() = 0;
    // The racks (broker.rack) of the live brokers holding each partition's replicas, by
    // partition index; empty when the topic does not exist or no broker has a rack.
    virtual std::vector<std::set<std::string>> partition_racks(const std::string& topic) = 0;
    // The group's config overrides (KIP-848 group configs, the GROUP resource), nullopt when
    // it has none.
    virtual std::optional<config_values> group_configs(const std::string& group) {
        (void)group;
        return std::nullopt;
    }
};

// Who sent a request (JoinGroup records it; DescribeGroups shows it).
struct client_info {
    std::string client_id;
    std::string host;
};

// OffsetCommit behaviour that depends on the request version (the handler decides).
struct commit_options {
    // v9+ (KIP-848): a member of a consumer-protocol group must commit with v9 or above;
    // below it gets UNSUPPORTED_VERSION (Kafka's rule).
    bool consumer_protocol = true;
};

// JoinGroup behaviour that depends on the request version (the handler decides).
struct join_options {
    bool require_known_member_id = true;  // v4+: a new member gets MEMBER_ID_REQUIRED (KIP-394)
    bool skip_assignment = false;         // v9+: a static leader may skip the assignment
};

class coordinator_shard : public std::enable_shared_from_this<coordinator_shard> {
  public:
    enum class status { unloaded, loading, loaded };

    coordinator_shard(topic_partition tp, std::unique_ptr<shard_host> host,
                      const broker_config& config);
    ~coordinator_shard();
    coordinator_shard(const coordinator_shard&) = delete;
    coordinator_shard& operator=(const coordinator_shard&) = delete;

    const topic_partition& tp() const { return tp_; }
    status load_status() const { return status_; }

    // NONE when the groups can be used now; else NOT_COORDINATOR (not the leader) or
    // COORDINATOR_LOAD_IN_PROGRESS (loading started or continuing). Drops the state when the
    // leader epoch changed since it was loaded.
    protocol::error_code ready();
    // Forgets every group (waiting members get NOT_COORDINATOR); pending writes complete
    // without applying anything.
    void unload(const char* why);

    // ---- the classic protocol (classic_handlers.cc). `cb` may run before returning.
    // REQUIRES: req.rebalance_timeout_ms set (the handler copies the session timeout for v0).
    void join(protocol::messages::join_group_request req, join_options opts, client_info ci,
              join_callback cb);
    // v0-4 requests carry no protocol type/name (nullopt: not checked).
    void sync(protocol::messages::sync_group_request req, sync_callback cb);
    protocol::error_code heartbeat(const protocol::messages::heartbeat_request& req);
    // REQUIRES: req.members filled (the handler moves a v0-2 member_id there). The answer has
    // one entry per member.
    protocol::messages::leave_group_response leave(
        const protocol::messages::leave_group_request& req);

    // ---- the consumer protocol (consumer_handlers.cc). `cb` may run before returning.
    // REQUIRES: req.member_id set (the handler generates one for a v0 join). Requests of one
    // group run one at a time, each on the state the previous one committed.
    void consumer_heartbeat(
        protocol::messages::consumer_group_heartbeat_request req, client_info ci,
        std::function<void(protocol::messages::consumer_group_heartbeat_response)> cb);
    // ConsumerGroupDescribe of one group (GROUP_ID_NOT_FOUND when it is not a consumer group).
    protocol::messages::consumer_group_describe_response::described_group consumer_describe(
        const std::string& group_id);

    // ---- offsets (offset_handlers.cc). Callbacks run once the records are committed.
    // REQUIRES: normalized: generation -1 for v0, committed_leader_epoch -1 before v6,
    // retention_time_ms -1 outside v2-4.
    void commit(const protocol::messages::offset_commit_request& req,
                std::function<void(protocol::messages::offset_commit_response)> cb,
                commit_options opts = {});
    // Committed offsets of one group; `topics` nullopt = every committed offset.
    // A member of a consumer group names itself (OffsetFetch v9): UNKNOWN_MEMBER_ID,
    // STALE_MEMBER_EPOCH when it is not the member's current epoch.
    protocol::messages::offset_fetch_response::offset_fetch_response_group fetch(
        const std::string& group_id,
        const std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>& topics,
        const std::optional<std::string>& member_id = std::nullopt, int32_t member_epoch = -1);
    // Deletes an empty group and its offsets: NONE, GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, ...
    void delete_group(const std::string& group_id, std::function<void(protocol::error_code)> cb);
    void offset_delete(const protocol::messages::offset_delete_request& req,
                       std::function<void(protocol::messages::offset_delete_response)> cb);

    // ---- transactional offsets (txn_offsets.cc): TxnOffsetCommit writes the offsets as a
    // transactional batch of the producer; they stay pending (OffsetFetch does not see them)
    // until the producer's COMMIT marker lands on this partition (complete_txn), and are
    // dropped on ABORT. REQUIRES: generation -1 / member "" when the request has none (v0-2).
    void txn_commit(const protocol::messages::txn_offset_commit_request& req,
                    std::function<void(protocol::messages::txn_offset_commit_response)> cb);
    // A marker of `producer_id` was written to this partition.
    void complete_txn(int64_t producer_id, bool commit);
    // Partitions of the group whose offsets wait for their transaction's end (OffsetFetch
    // require_stable answers UNSTABLE_OFFSET_COMMIT for them).
    std::set<topic_partition> pending_txn_partitions(const std::string& group_id) const;

    // Session expiry, join/sync deadlines, offset expiry. Call periodically.
    void tick();

    // ---- state, for views and tests (owner shard)
    group* find_group(const std::string& id);
    classic_group* find_classic(const std::string& id);
    consumer_group* find_consumer(const std::string& id);
    const std::map<std::string, std::unique_ptr<group>>& groups() const { return groups_; }
    const offsets_manager& offsets() const { return offsets_; }
    // Writes appended but not yet committed.
    size_t pending_writes() const { return pending_writes_; }

  private:
    // ---- loading (coordinator_shard.cc)
    void load_step();
    void on_chunk(result<log_chunk, std::string> chunk);
    void replay(const protocol::record_view& rec);
    void finish_load();
    void abort_load(const std::string& why);

    // ---- writing (coordinator_shard.cc): appends `recs` as one batch; `done` runs once they
    // are committed (NONE) or failed (the error a client should see).
    void write(std::vector<protocol::record> recs, std::function<void(protocol::error_code)> done);
    // As write(), in a batch of `spec`'s producer (transactional offsets).
    void write_as(const protocol::batch_spec& spec, std::vector<protocol::record> recs,
                  std::function<void(protocol::error_code)> done);
    // Loading: an offset record of a transactional batch of `producer_id`.
    void replay_txn(int64_t producer_id, const protocol::record_view& rec);

    // ---- classic protocol internals (classic_handlers.cc)
    classic_group& new_classic(const std::string& id);
    void set_state(classic_group& g, group_state s);
    void add_member(classic_group& g, const std::string& id,
                    const protocol::messages::join_group_request& req, const client_info& ci,
                    join_callback cb);
    // `old_id` by value: the caller's reference is the static_members entry this rewrites.
    void replace_static_member(classic_group& g, std::string old_id, const std::string& new_id,
                               const protocol::messages::join_group_request& req, join_options opts,
                               join_callback cb);
    // The replacement's group record failed: `old_id` is the instance's member id again.
    void restore_static_member(classic_group& g, const std::string& instance_id,
                               const std::string& new_id, const std::string& old_id);
    void prepare_rebalance(classic_group& g, const std::string& reason);
    void try_complete_join(classic_group& g);
    void complete_join(classic_group& g);
    void members_changed(classic_group& g, const std::string& reason);
    void store_assignment(
        classic_group& g,
        std::vector<protocol::messages::sync_group_request::sync_group_request_assignment>
            assignments);
    void expire_members(classic_group& g, int64_t now);

    // ---- consumer protocol internals (consumer_handlers.cc)
    using group_op = std::function<void(std::function<void()> release)>;
    // Runs `op` once every earlier op of the group called its `release`.
    void serialized(const std::string& group_id, group_op op);
    void run_next_op(const std::string& group_id);
    void heartbeat_now(
        const protocol::messages::consumer_group_heartbeat_request& req, const client_info& ci,
        std::function<void(protocol::messages::consumer_group_heartbeat_response)> cb);
    // Writes the records from the group's committed state to `next`; `next` replaces it once
    // they are committed.
    void commit_group(consumer_group next, std::function<void(protocol::error_code)> done);
    // Recomputes the subscribed topics' metadata and, when it or `membership_changed`,
    // bumps the group epoch and computes the target assignment.
    void refresh_target(consumer_group& g, bool membership_changed);
    // Resolves the members' regexes against the topic list (again when it or they changed).
    void resolve_regexes(consumer_group& g);
    void expire_consumer_members(int64_t now);
    std::vector<std::string> configured_assignors() const;

    // ---- offsets internals (offset_handlers.cc)
    void expire_offsets(int64_t now);
    // Writes tombstones for `tps` of the group (and the group's own when `whole_group`) and
    // applies them once committed.
    void delete_offsets(const std::string& group_id, std::vector<topic_partition> tps,
                        bool whole_group, std::function<void(protocol::error_code)> done);

    int64_t cfg(std::string_view key) const;
    // A key that a group config may override (common/group_config.h): the group's value, else
    // the broker's.
    int64_t group_cfg(const std::string& group, std::string_view key) const;

    topic_partition tp_;
    std::unique_ptr<shard_host> host_;
    const broker_config& config_;
    std::shared_ptr<spdlog::logger> log_;

    status status_ = status::unloaded;
    int32_t leader_epoch_ = -1;  // the epoch the state was loaded at
    uint64_t incarnation_ = 0;   // bumped by unload(): writes of an older one apply nothing
    uint64_t load_gen_ = 0;      // bumped by each load: reads of an older one are dropped
    size_t pending_writes_ = 0;
    int64_t last_expiry_check_ = 0;

    std::map<std::string, std::unique_ptr<group>> groups_;
    offsets_manager offsets_;
    // Consumer groups: the ops waiting for their turn (the front one runs), and the groups
    // with a member expiry queued.
    std::map<std::string, std::deque<group_op>> group_ops_;
    std::set<std::string> expiring_;

    // Loading: the next offset to read and what was read so far (last value per key wins).
    int64_t load_next_ = 0;
    std::map<std::string, std::optional<protocol::messages::group_metadata_value>> staged_groups_;
    std::map<std::pair<std::string, topic_partition>, std::optional<committed_offset>>
        staged_offsets_;
    consumer_group_loader staged_consumer_;

    // Transactional offsets by producer id, waiting for the producer's marker (and, while
    // loading, those read so far).
    using txn_offsets = std::map<std::pair<std::string, topic_partition>, committed_offset>;
    std::map<int64_t, txn_offsets> pending_txn_;
    std::map<int64_t, txn_offsets> staged_txn_;
};

}  // namespace rill::coordinator
