// Rules shared by the metadata stores: topic request validation, Kafka-style replica assignment
// (rack-aware round-robin), id encodings and the data directory's meta.properties.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cluster/metadata_store.h"

namespace rill::cluster {

inline constexpr int32_t kMaxPartitionsPerTopic = 100000;

protocol::uuid random_topic_uuid();
// URL-safe base64 without padding (Kafka's cluster id / topic id text form), and back.
std::string uuid_to_base64url(const protocol::uuid& u);
std::optional<protocol::uuid> uuid_from_base64url(const std::string& s);

struct resolved_topic {
    int32_t partitions = 0;
    int32_t replication_factor = 0;
};

// Validates a CreateTopics request against the current snapshot: name, existence and
// '.'/'_' collisions, partition count and replication factor (defaults from `config`),
// replication factor <= number of live brokers, configs, explicit assignment (distinct,
// registered brokers, same size for every partition, partitions 0..n-1).
result<resolved_topic, meta_error> resolve_new_topic(const new_topic& req,
                                                     const metadata_snapshot& snap,
                                                     const broker_config& config);

// CreatePartitions: a topic with `have` partitions may grow to `total` (more, within the
// per-topic limit); invalid_partitions with Kafka's message otherwise.
result<void, meta_error> check_partition_increase(int32_t have, int32_t total);

// Kafka's replica assignment over `brokers` (live, any order; sorted by id here): round-robin
// with a start index and a replica shift, alternating racks when every broker has a rack.
// `start_index` / `shift` < 0 pick random values. Partitions `first_partition ..
// first_partition + count - 1` are assigned.
std::vector<std::vector<int32_t>> assign_replicas(const std::vector<broker_info>& brokers,
                                                  int32_t count, int32_t rf,
                                                  int32_t first_partition = 0,
                                                  int32_t start_index = -1, int32_t shift = -1);

// What a data directory's meta.properties says (Kafka's file: cluster.id and broker.id, or
// node.id in KRaft's shape); nullopt when the file does not exist, an error message when it
// cannot be read or parsed.
struct meta_properties {
    std::optional<std::string> cluster_id;
    std::optional<std::string> node_id;  // broker.id or node.id
};
result<std::optional<meta_properties>, std::string> read_meta_properties(const std::string& path);

}  // namespace rill::cluster
