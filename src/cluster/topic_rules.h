// Rules shared by the metadata stores: topic request validation, Kafka-style replica assignment
// (rack-aware round-robin), and id encodings.
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

// Kafka's replica assignment over `brokers` (live, any order; sorted by id here): round-robin
// with a start index and a replica shift, alternating racks when every broker has a rack.
// `start_index` / `shift` < 0 pick random values. Partitions `first_partition ..
// first_partition + count - 1` are assigned.
std::vector<std::vector<int32_t>> assign_replicas(const std::vector<broker_info>& brokers,
                                                  int32_t count, int32_t rf,
                                                  int32_t first_partition = 0,
                                                  int32_t start_index = -1, int32_t shift = -1);

}  // namespace rill::cluster
