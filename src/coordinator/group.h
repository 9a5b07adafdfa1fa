// What every group type shares, as the offsets manager and the coordinator shard see it.
// Kafka has two group types: the classic protocol (JoinGroup/SyncGroup; classic_group.h) and
// the consumer protocol of KIP-848 (ConsumerGroupHeartbeat). Only the classic type exists
// here; `group_type::consumer` is the tag a consumer-protocol group will carry.
#pragma once

#include <cstdint>
#include <string>

namespace rill::coordinator {

enum class group_type { classic, consumer };

// Kafka's names ("classic", "consumer"), as ListGroups v5 reports them.
const char* type_name(group_type t);

class group {
  public:
    virtual ~group() = default;
    virtual group_type type() const = 0;
    virtual const std::string& id() const = 0;
    // The state as Kafka names it for this type (ListGroups, DescribeGroups).
    virtual const char* state_name() const = 0;
    // No members (DeleteGroups allows it; committed offsets may expire).
    virtual bool is_empty() const = 0;
    // Dead: deleted or unloaded; nothing may use it.
    virtual bool is_dead() const = 0;
    // Offsets of a topic the members subscribe to are kept (no expiry, no OffsetDelete).
    virtual bool subscribed_to(const std::string& topic) const = 0;
    // KIP-211: offsets of an empty group expire `retention` after this time (when the group
    // became empty); -1 when each offset's own commit time counts.
    virtual int64_t offsets_expiry_base() const = 0;
    // True while offsets of unsubscribed topics may expire although the group has members
    // (a stable consumer group).
    virtual bool expires_unsubscribed_offsets() const = 0;
};

}  // namespace rill::coordinator
