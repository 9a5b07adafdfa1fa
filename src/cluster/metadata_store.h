// Cluster metadata: brokers, topics (with stable topic ids), partition assignments and leader
// state, and topic config overrides. One interface, two implementations: the embedded store
// (single node, kept in the data directory) and, later, the ZooKeeper store (cluster mode).
//
// Readers take an immutable snapshot (cheap shared_ptr copy), so request handlers on any
// executor see a consistent view without locks. Writers are serialised inside the store; every
// successful write is durable before it returns and bumps the snapshot's version.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
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
    int32_t leader = -1;
    int32_t leader_epoch = 0;
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
    std::map<int32_t, broker_info> brokers;
    std::map<std::string, topic_info> topics;
    int64_t next_producer_id = 0;  // start of the next unallocated producer id block

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

    // Reserves `count` producer ids, durably, never handed out again; returns the first.
    virtual result<int64_t, meta_error> allocate_producer_ids(int32_t count) = 0;

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
