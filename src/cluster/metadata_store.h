// Cluster metadata: brokers, topics (with stable topic ids), partition assignments and leader
// state, and topic config overrides. One interface, two implementations: the embedded store
// (single node, kept in the data directory) and the ZooKeeper store (cluster mode,
// `zookeeper.connect` set; see zk_store.h).
//
// Readers take an immutable snapshot (cheap shared_ptr copy), so request handlers on any
// executor see a consistent view without locks. Writers are serialised inside the store; every
// successful write is durable before it returns and bumps the snapshot's version.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/result.h"
#include "protocol/wire.h"

namespace rill::cluster {

struct broker_endpoint {
    std::string listener_name;  // PLAINTEXT
    std::string host;
    uint16_t port = 0;
};

struct broker_info {
    int32_t id = 0;
    std::optional<std::string> rack;
    std::vector<broker_endpoint> endpoints;  // advertised listeners
};

struct partition_info {
    int32_t id = 0;
    std::vector<int32_t> replicas;
    std::vector<int32_t> isr;
    int32_t leader = -1;  // -1: offline (no live in-sync replica to elect)
    int32_t leader_epoch = 0;
    // Bumped by every change of leader or ISR (ZooKeeper: the state znode's version). A
    // leader's ISR change is conditional on it, so a stale writer loses.
    int32_t partition_epoch = 0;
    // An ongoing reassignment (AlterPartitionReassignments): replicas being added / removed.
    std::vector<int32_t> adding_replicas;
    std::vector<int32_t> removing_replicas;
};

struct topic_info {
    std::string name;
    protocol::uuid id;
    bool internal = false;
    config_values configs;  // overrides only
    std::vector<partition_info> partitions;
    int16_t replication_factor() const {
        return partitions.empty() ? 0 : static_cast<int16_t>(partitions[0].replicas.size());
    }
};

struct metadata_snapshot {
    uint64_t version = 0;
    std::string cluster_id;
    int32_t controller_id = -1;
    bool cluster_mode = false;               // true for the ZooKeeper store
    std::map<int32_t, broker_info> brokers;  // live (registered) brokers only
    std::map<std::string, topic_info> topics;
    // Per consumer group config overrides (KIP-848 group configs, the GROUP resource), by group
    // id; only groups with at least one override.
    std::map<std::string, config_values> group_configs;
    int64_t next_producer_id = 0;  // start of the next unallocated producer id block
    // Cluster mode: per broker, its replicas that are offline (a failed log dir), as reported
    // with report_offline_replicas(). The controller treats them as not up.
    std::map<int32_t, std::set<std::pair<std::string, int32_t>>> offline_replicas;
    bool replica_offline(int32_t broker, const std::string& topic, int32_t partition) const {
        auto it = offline_replicas.find(broker);
        return it != offline_replicas.end() && it->second.contains({topic, partition});
    }

    const topic_info* find_topic(const std::string& name) const {
        auto it = topics.find(name);
        return it == topics.end() ? nullptr : &it->second;
    }
    const topic_info* find_topic(const protocol::uuid& id) const;
};

enum class meta_errc {
    topic_exists,
    unknown_topic,
    invalid_topic,
    invalid_partitions,
    invalid_replication_factor,
    invalid_config,
    storage_error,
    not_controller,
    stale_state,  // a conditional write lost: re-read the snapshot and retry
    not_leader,   // alter_isr from a broker that is not (or no longer) the leader
    invalid_replica_assignment,
    no_reassignment_in_progress,
    election_not_needed,
    preferred_leader_not_available,
    unavailable,  // the metadata service (ZooKeeper) cannot be reached
};

struct meta_error {
    meta_errc code;
    std::string message;
};

struct new_topic {
    std::string name;
    int32_t partitions = -1;                              // -1: num.partitions
    int16_t replication_factor = -1;                      // -1: default.replication.factor
    std::map<int32_t, std::vector<int32_t>> assignments;  // explicit replica assignment, optional
    config_values configs;
    bool internal = false;
};

// Checks a topic name: 1..249 chars of [a-zA-Z0-9._-], not "." or "..".
result<void, std::string> validate_topic_name(const std::string& name);

class metadata_store {
  public:
    virtual ~metadata_store() = default;

    virtual std::shared_ptr<const metadata_snapshot> snapshot() const = 0;

    // Creates a topic. With validate_only, checks everything and changes nothing.
    virtual result<topic_info, meta_error> create_topic(const new_topic& t, bool validate_only) = 0;
    virtual result<void, meta_error> delete_topic(const std::string& name) = 0;
    // Grows a topic to `total` partitions.
    virtual result<void, meta_error> create_partitions(const std::string& name, int32_t total,
                                                       bool validate_only) = 0;
    // Replaces a topic's config overrides (AlterConfigs semantics).
    virtual result<void, meta_error> set_topic_configs(const std::string& name,
                                                       const config_values& configs,
                                                       bool validate_only) = 0;

    // Replaces a group's config overrides (the caller has validated them; an empty set removes
    // the group's entry). Durable before it returns. Blocking: not on a shard thread.
    virtual result<void, meta_error> set_group_configs(const std::string& group,
                                                       const config_values& configs) = 0;

    // Reserves `count` producer ids, durably, never handed out again; returns the first.
    virtual result<int64_t, meta_error> allocate_producer_ids(int32_t count) = 0;

    // The leader's ISR change (Kafka's AlterPartition; in ZooKeeper mode a conditional write of
    // the partition state znode). Applies only while `leader` still leads the partition at
    // `leader_epoch` and the state is still at `partition_epoch` (stale_state otherwise;
    // not_leader when leadership moved). `isr` must contain the leader. Returns the new state.
    // Blocking (a ZooKeeper round trip): never call it on a shard thread.
    virtual result<partition_info, meta_error> alter_isr(const std::string& topic,
                                                         int32_t partition, int32_t leader,
                                                         int32_t leader_epoch,
                                                         int32_t partition_epoch,
                                                         std::vector<int32_t> isr) = 0;

    // AlterPartitionReassignments: moves partition `partition` of `topic` to `replicas`
    // (an empty vector cancels an ongoing reassignment). The controller adds the new replicas,
    // waits until they are in the ISR, moves leadership if needed and drops the old ones.
    virtual result<void, meta_error> reassign_partition(const std::string& topic, int32_t partition,
                                                        std::vector<int32_t> replicas) {
        (void)topic, (void)partition, (void)replicas;
        return unexpected(meta_error{meta_errc::invalid_replica_assignment,
                                     "reassignment needs cluster mode (zookeeper.connect)"});
    }
    // ElectLeaders (preferred election): makes the first replica the leader when it is alive
    // and in the ISR. election_not_needed when it already leads.
    virtual result<void, meta_error> elect_preferred_leader(const std::string& topic,
                                                            int32_t partition) {
        (void)topic, (void)partition;
        return unexpected(meta_error{meta_errc::election_not_needed, "single node"});
    }
    // Controlled shutdown: asks the controller to move leadership of every partition this
    // broker leads to another in-sync replica (and drop this broker from the ISRs), waiting up
    // to `timeout`. Returns the number of partitions it still leads. Blocking.
    virtual int controlled_shutdown(std::chrono::milliseconds timeout) {
        (void)timeout;
        return 0;
    }

    // A log dir of this broker failed (Kafka's log dir event notification): `partitions` are
    // all of this broker's offline replicas now. In cluster mode the controller then treats
    // them as not up: leadership moves to another in-sync replica and they leave the ISR.
    // Single node: nothing to tell. Blocking (a ZooKeeper round trip): not on a shard thread.
    virtual result<void, meta_error> report_offline_replicas(
        const std::set<std::pair<std::string, int32_t>>& partitions) {
        (void)partitions;
        return {};
    }

    // Called (from the writer's thread) after every change, with the new snapshot.
    using listener = std::function<void(std::shared_ptr<const metadata_snapshot>)>;
    virtual void subscribe(listener l) = 0;
};

// The embedded store: a single node that is its own controller. State is kept in
// `<dir>/rill-metadata.json` (written atomically) and the cluster id in `<dir>/meta.properties`.
// Thread-safe.
std::unique_ptr<metadata_store> make_embedded_store(const std::string& dir, broker_info self,
                                                    const broker_config& config,
                                                    std::string* error);

}  // namespace rill::cluster
