// The server-side assignors of the consumer group protocol (KIP-848): given the members'
// subscriptions and the partitions of the subscribed topics, the target assignment of every
// member. Both are pure functions (no I/O, no clock), deterministic for a given input.
//
//   uniform  (Kafka's default): balanced (member counts differ by at most one among the
//            members that could take a partition) and sticky: a member keeps the partitions
//            of its previous target assignment unless balance requires moving them.
//            Rack-aware when members have rack ids and the partitions' replicas racks: within
//            what balance allows, a partition goes to a member in a rack holding one of its
//            replicas (so it can fetch close by), and balancing moves such partitions last.
//   range    per topic, the members subscribed to it (by member id) get contiguous ranges of
//            partitions; the first (partitions % members) get one more.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "protocol/wire.h"

namespace rill::coordinator {

// Partitions by topic id.
using assignment = std::map<protocol::uuid, std::set<int32_t>>;

size_t partition_count(const assignment& a);
// Partitions in `a` that are not in `b`.
assignment minus(const assignment& a, const assignment& b);
assignment intersect(const assignment& a, const assignment& b);
bool contains_all(const assignment& outer, const assignment& inner);

struct assignor_member {
    std::string id;
    std::set<protocol::uuid> topics;  // subscribed topics that exist
    assignment previous;              // the member's previous target assignment
    std::optional<std::string> rack;  // the member's rack id
};

struct assignor_input {
    std::vector<assignor_member> members;      // any order
    std::map<protocol::uuid, int32_t> topics;  // partitions of every subscribed topic
    // The racks of each partition's replicas, by topic and partition index (empty: unknown).
    std::map<protocol::uuid, std::vector<std::set<std::string>>> racks;
};

// Member id -> target assignment; every member of the input has an entry.
std::map<std::string, assignment> assign_uniform(const assignor_input& in);
std::map<std::string, assignment> assign_range(const assignor_input& in);

// Kafka's names of the built-in assignors ("uniform", "range"); the class names of Kafka's
// implementations are accepted for group.consumer.assignors. nullopt when unknown.
std::optional<std::string> assignor_name(const std::string& configured);
std::map<std::string, assignment> run_assignor(const std::string& name, const assignor_input& in);

}  // namespace rill::coordinator
