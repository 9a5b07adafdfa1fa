// The group coordinator: routes each group to the coordinator shard (coordinator_shard.h) of
// its __consumer_offsets partition and hops to that partition's owner shard.
//
// Placement: group G lives on partition P = abs(java_hash(G)) % offsets.topic.num.partitions
// of `__consumer_offsets`; its state is touched only on P's owner shard by P's coordinator
// shard, which writes every change to P in Kafka's own record schemas (GroupMetadataKey/Value,
// OffsetCommitKey/Value) and applies it only once committed. State is rebuilt from P when this
// broker becomes P's leader (COORDINATOR_LOAD_IN_PROGRESS until done).
//
// The protocol entry points take version-neutral requests: the broker's handlers
// (handlers/groups.cc, handlers/group_offsets.cc) normalize requests and shape responses per
// version. The read-only views below are what the admin endpoint and metrics use.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <functional>

#include "cluster/metadata_store.h"
#include "common/asio.h"
#include "common/config.h"
#include "common/result.h"
#include "coordinator/coordinator_shard.h"
#include "protocol/generated/delete_groups.h"
#include "protocol/generated/describe_groups.h"
#include "protocol/generated/error_code.h"
#include "protocol/generated/heartbeat.h"
#include "protocol/generated/join_group.h"
#include "protocol/generated/leave_group.h"
#include "protocol/generated/list_groups.h"
#include "protocol/generated/offset_commit.h"
#include "protocol/generated/offset_delete.h"
#include "protocol/generated/offset_fetch.h"
#include "protocol/generated/sync_group.h"
#include "protocol/generated/txn_offset_commit.h"
#include "storage/log_manager.h"
#include "storage/partition_log.h"

namespace rill::coordinator {

struct member_view {
    std::string member_id;
    std::optional<std::string> group_instance_id;
    std::string client_id;
    std::string client_host;
    // Partitions assigned to this member, decoded from the consumer-protocol assignment
    // (empty for non-"consumer" protocol types).
    std::vector<std::pair<std::string, int32_t>> assignment;
};

struct group_view {
    std::string group_id;
    // Kafka state names: "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead".
    std::string state;
    std::string protocol_type;  // "consumer" for Kafka consumers; "" for offsets-only groups
    std::string protocol;       // chosen assignor, e.g. "range"
    int32_t generation = 0;
    std::optional<std::string> leader_id;
    std::vector<member_view> members;
};

// One committed partition of a group with its lag.
struct partition_lag_view {
    std::string topic;
    int32_t partition = 0;
    int64_t committed_offset = -1;
    int64_t log_end_offset = -1;  // the partition's high watermark
    int64_t lag = 0;              // max(0, high watermark - max(committed, log start))
    // The member that owns the partition now, if any ("" when none).
    std::string member_id;
    std::string client_id;
    std::string client_host;
    std::optional<std::string> group_instance_id;
};

// What the coordinator needs from the broker, as functions so this library does not depend on
// the broker's (the broker's handlers depend on this one).
struct coordinator_host {
    std::vector<boost::asio::io_context*> shards;
    // Any thread: the shard that owns `tp`.
    std::function<size_t(const storage::topic_partition&)> shard_of;
    // Owner shard only: the hosted log of `tp`, or nullptr.
    std::function<std::shared_ptr<storage::partition_log>(const storage::topic_partition&)> log_of;
    // Owner shard only: the leader epoch of `tp` while this broker leads it, else -1. The
    // coordinator drops a partition's groups when it changes (leadership moved) and reloads.
    std::function<int32_t(const storage::topic_partition&)> leader_epoch_of;
    // Owner shard only: appends one batch as leader with acks=all rules (NOT_ENOUGH_REPLICAS
    // when the ISR is below the offsets topic's min.insync.replicas; offsets are stamped in
    // place), advances the high watermark and wakes fetchers. The base offset or the error.
    std::function<result<int64_t, protocol::error_code>(const storage::topic_partition&,
                                                        protocol::bytes&)>
        append;
    // Owner shard only: runs `done` (on the owner shard) once every offset below `end` of `tp`
    // is committed: the high watermark reached it (the whole ISR has it, whatever
    // min.insync.replicas says) and, with rill.acks.all.fsync=true, it is fsynced. Errors:
    // leadership lost, the ISR shrank below min.insync.replicas, offsets.commit.timeout.ms
    // passed. Completions for one partition run in offset order. Null: no waiting.
    std::function<void(const storage::topic_partition&, int64_t,
                       std::function<void(protocol::error_code)>)>
        when_committed;
    // Any thread: runs `work` on a thread where blocking file I/O is allowed (the broker's
    // work pool), never on a shard. Null: runs it inline.
    std::function<void(std::function<void()>)> run_blocking;
    // Any thread: runs `work` on the broker's metadata thread (metadata store writes, one at a
    // time and in order with the broker's own: broker::store_write). Null: runs it inline.
    std::function<void(std::function<void()>)> run_metadata_write;
    // Any executor: {log start offset, high watermark} of each partition, {-1, -1} when the
    // partition is not hosted here.
    std::function<boost::asio::awaitable<std::vector<std::pair<int64_t, int64_t>>>(
        std::vector<storage::topic_partition>)>
        watermarks;
};

inline constexpr const char* kOffsetsTopic = "__consumer_offsets";

// Kafka's placement: abs(Java String.hashCode(group)) % partitions.
int32_t partition_for_group(const std::string& group_id, int32_t partitions);

class group_coordinator {
  public:
    group_coordinator(coordinator_host host, broker_config& config,
                      cluster::metadata_store& metadata);
    ~group_coordinator();
    group_coordinator(const group_coordinator&) = delete;
    group_coordinator& operator=(const group_coordinator&) = delete;

    // Starts loading every hosted __consumer_offsets partition (in the background, on the
    // owner shards) and the periodic timers (sessions, rebalance deadlines, offset expiry).
    void start();
    // Stops timers and fails waiting requests with COORDINATOR_NOT_AVAILABLE. Call on the way
    // down, before the shards stop.
    void stop();

    // Any executor: NONE once __consumer_offsets exists. When it does not, starts creating it
    // (a metadata store write on the broker's metadata thread, never on a shard) and waits for
    // that write, at most `wait`; COORDINATOR_NOT_AVAILABLE when it failed, cannot be done
    // yet (too few brokers for the replication factor) or is still pending. The other entry
    // points do not wait: they start the creation and answer COORDINATOR_NOT_AVAILABLE.
    boost::asio::awaitable<protocol::error_code> ensure_offsets_topic(
        std::chrono::milliseconds wait);

    // ---- protocol entry points: any executor; each resumes the caller on its executor.
    // Requests are normalized by the handlers (see coordinator_shard.h).
    boost::asio::awaitable<protocol::messages::join_group_response> join_group(
        protocol::messages::join_group_request req, join_options opts, client_info client);
    boost::asio::awaitable<protocol::messages::sync_group_response> sync_group(
        protocol::messages::sync_group_request req);
    boost::asio::awaitable<protocol::error_code> heartbeat(
        protocol::messages::heartbeat_request req);
    // One answer per entry of req.members.
    boost::asio::awaitable<protocol::messages::leave_group_response> leave_group(
        protocol::messages::leave_group_request req);
    boost::asio::awaitable<protocol::messages::offset_commit_response> offset_commit(
        protocol::messages::offset_commit_request req, commit_options opts = {});
    // The committed offsets of one group; `topics` nullopt: all of them.
    using fetch_topics = std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>;
    boost::asio::awaitable<protocol::messages::offset_fetch_response::offset_fetch_response_group>
    offset_fetch(std::string group_id, fetch_topics topics,
                 std::optional<std::string> member_id = std::nullopt, int32_t member_epoch = -1);
    // ---- the consumer protocol (KIP-848)
    boost::asio::awaitable<protocol::messages::consumer_group_heartbeat_response>
    consumer_group_heartbeat(protocol::messages::consumer_group_heartbeat_request req,
                             client_info client);
    boost::asio::awaitable<protocol::messages::consumer_group_describe_response::described_group>
    consumer_group_describe(std::string group_id);
    // Every group this broker coordinates (error: a partition still loading). Filters are
    // lower-case state / type names; empty = all.
    boost::asio::awaitable<protocol::messages::list_groups_response> list_groups(
        std::set<std::string> states, std::set<std::string> types);
    boost::asio::awaitable<protocol::messages::describe_groups_response::described_group>
    describe_group_protocol(std::string group_id);
    boost::asio::awaitable<protocol::messages::offset_delete_response> offset_delete(
        protocol::messages::offset_delete_request req);

    // ---- transactions (coordinator_shard::txn_commit / complete_txn)
    boost::asio::awaitable<protocol::messages::txn_offset_commit_response> txn_offset_commit(
        protocol::messages::txn_offset_commit_request req);
    // The transaction coordinator wrote a marker of `producer_id` to __consumer_offsets
    // partition `partition`: its pending offsets apply (commit) or go.
    boost::asio::awaitable<void> txn_marker_written(int32_t partition, int64_t producer_id,
                                                    bool commit);
    // The group's partitions whose transactional offsets wait for their transaction's end.
    boost::asio::awaitable<std::set<topic_partition>> pending_txn_partitions(std::string group_id);

    // ---- admin views: any executor; they hop to the owner shards and back ----
    // Every group this broker coordinates, members included.
    boost::asio::awaitable<std::vector<group_view>> list_groups();
    // nullopt when the group is unknown here.
    boost::asio::awaitable<std::optional<group_view>> describe_group(std::string group_id);
    // Committed offsets of the group with lag; empty when unknown or nothing committed.
    boost::asio::awaitable<std::vector<partition_lag_view>> group_lag(std::string group_id);
    // Deletes an empty group (tombstones written): NONE, GROUP_ID_NOT_FOUND,
    // NON_EMPTY_GROUP, COORDINATOR_LOAD_IN_PROGRESS.
    boost::asio::awaitable<protocol::error_code> delete_group(std::string group_id);

    struct impl;

  private:
    std::shared_ptr<impl> impl_;  // shared: metadata-thread work holds it weakly
};

}  // namespace rill::coordinator
