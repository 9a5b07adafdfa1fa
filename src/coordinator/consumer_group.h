// A group of the consumer protocol (KIP-848, ConsumerGroupHeartbeat), as kept on the owner
// shard of its __consumer_offsets partition. The broker computes the assignment: the group
// epoch counts changes of membership, subscriptions and subscribed topics' metadata; each new
// group epoch gets a target assignment from the server-side assignor (assignors.h); every
// member then moves from its current assignment towards its target one heartbeat at a time,
// giving up partitions before anyone else receives them (reconcile()).
//
// Group states (Kafka's ConsumerGroupState, derived from the epochs, not stored):
//   Empty        no members
//   Assigning    the target assignment is older than the group epoch (transient here: the
//                target is computed in the same write that bumps the epoch)
//   Reconciling  some member has not reached the target assignment epoch, or waits to revoke
//                or to receive partitions
//   Stable       every member owns its target assignment at the assignment epoch
//   Dead         deleted or unloaded
//
// Member states (Kafka's MemberState, persisted in ConsumerGroupCurrentMemberAssignment):
//   Stable       owns its target at the member epoch
//   Unrevoked    must give up `pending_revocation` first; keeps its epoch until it reports
//                (owned partitions in a heartbeat) that it no longer owns them
//   Unreleased   at the new epoch, waiting for partitions another member still holds
//
// The group is a value: a change is computed on a copy, written as the difference between the
// two (records_between()), and the copy replaces the group once the records are committed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "coordinator/assignors.h"
#include "coordinator/group.h"
#include "protocol/record_batch.h"
#include "protocol/wire.h"

namespace rill::coordinator {

enum class consumer_group_state { empty, assigning, reconciling, stable, dead };
const char* state_name(consumer_group_state s);

// Kafka's byte values in ConsumerGroupCurrentMemberAssignmentValue.State.
// The byte values are Kafka's (they are written in ConsumerGroupCurrentMemberAssignmentValue's
// State field, so Kafka tooling reads the offsets topic the same way).
enum class member_state : int8_t { stable = 0, unrevoked = 1, unreleased = 2, unknown = 127 };
const char* state_name(member_state s);

// What the group saw of a subscribed topic when it last computed the target assignment.
struct topic_meta {
    protocol::uuid id;
    int32_t partitions = 0;
    friend bool operator==(const topic_meta&, const topic_meta&) = default;
};

struct consumer_member {
    std::string id;
    // ---- ConsumerGroupMemberMetadata
    std::optional<std::string> instance_id;
    std::optional<std::string> rack_id;
    std::string client_id;
    std::string client_host;
    std::vector<std::string> subscribed_topics;  // sorted, unique
    std::optional<std::string> subscribed_regex;
    int32_t rebalance_timeout_ms = -1;
    std::optional<std::string> server_assignor;
    // ---- ConsumerGroupCurrentMemberAssignment
    int32_t member_epoch = 0;
    int32_t previous_member_epoch = 0;
    member_state state = member_state::stable;
    assignment assigned;
    assignment pending_revocation;
    // ---- in memory only (not persisted; reset by loading)
    int64_t last_heard_ms = 0;
    int64_t revoke_deadline_ms = 0;  // Unrevoked: fenced when it has not revoked by then

    bool same_metadata(const consumer_member& o) const;
    bool same_current(const consumer_member& o) const;
};

class consumer_group final : public group {
  public:
    explicit consumer_group(std::string id) : id_(std::move(id)) {}

    // ---- group
    group_type type() const override { return group_type::consumer; }
    const std::string& id() const override { return id_; }
    const char* state_name() const override { return coordinator::state_name(state()); }
    bool is_empty() const override { return members.empty(); }
    bool is_dead() const override { return dead; }
    bool subscribed_to(const std::string& topic) const override;
    // Offsets of a consumer group expire from their commit time, as in Kafka.
    int64_t offsets_expiry_base() const override { return -1; }
    bool expires_unsubscribed_offsets() const override { return true; }

    consumer_group_state state() const;
    consumer_member* find(const std::string& member_id);
    const consumer_member* find(const std::string& member_id) const;
    // The member with this instance id (static membership), or nullptr.
    consumer_member* find_instance(const std::string& instance_id);

    // Topic names any member subscribes to (by name or through its regex).
    std::set<std::string> subscribed_topic_names() const;
    // The topics one member subscribes to: its names and what its regex resolved to.
    std::set<std::string> topics_of(const consumer_member& m) const;
    // The assignor the group uses: the one most members ask for, else the first configured.
    std::string chosen_assignor(const std::vector<std::string>& configured) const;
    // Recomputes every member's target assignment for the group epoch (assignment epoch =
    // group epoch) from `topics` with `assignor`; `racks`: the replicas' racks of each
    // partition by topic id, for rack-aware assignment (empty: none).
    void compute_target(const std::string& assignor,
                        std::map<protocol::uuid, std::vector<std::set<std::string>>> racks = {});
    // Moves `m` towards its target (Kafka's CurrentAssignmentBuilder). `owned` is what the
    // member reported owning (nullopt: not reported in this heartbeat). Returns true when its
    // current assignment changed.
    bool reconcile(consumer_member& m, const std::optional<assignment>& owned, int64_t now);
    // Removes a member (and its target); the caller bumps the group epoch.
    void remove(const std::string& member_id);

    int32_t group_epoch = 0;
    int32_t assignment_epoch = 0;
    std::map<std::string, topic_meta> topics;  // subscribed topics that exist, by name
    std::map<std::string, consumer_member> members;
    std::map<std::string, assignment> target;  // member id -> target assignment
    // The topics each subscribed regex matches (full match, internal topics excluded), as the
    // coordinator last resolved them against the topic list. In memory only: resolved again
    // when the group is loaded.
    std::map<std::string, std::set<std::string>> resolved_regexes;
    std::shared_ptr<const std::vector<std::string>> resolved_against;  // that topic list
    bool dead = false;

  private:
    // Partitions of `a` that a member other than `except` holds (assigned or being revoked).
    assignment held_by_others(const assignment& a, const std::string& except) const;

    std::string id_;
};

// ---- records (ConsumerGroup* of __consumer_offsets; key type 3..8, value version 0)

// The records that turn `before` (nullptr: no such group yet) into `after`.
std::vector<protocol::record> records_between(const consumer_group* before,
                                              const consumer_group& after);
// The tombstones that delete the whole group (members first, the group epoch last).
std::vector<protocol::record> group_tombstones(const consumer_group& g);

// Rebuilds groups from their records while a partition loads (last value per key wins).
class consumer_group_loader {
  public:
    // A record with a consumer-group key type (3..8); false when it cannot be decoded.
    bool replay(int16_t key_type, protocol::bytes_view key,
                const std::optional<protocol::bytes_view>& value);
    // The group ids seen (a ConsumerGroupMetadata value), for precedence over classic records.
    bool has(const std::string& group_id) const;
    void forget(const std::string& group_id);
    // The groups whose ConsumerGroupMetadata record is live; members heard from at `now`.
    std::map<std::string, consumer_group> build(int64_t now);
    void clear() { staged_.clear(); }

  private:
    struct staged {
        std::optional<int32_t> epoch;
        int32_t assignment_epoch = 0;
        std::map<std::string, topic_meta> topics;
        std::map<std::string, consumer_member> metadata;
        std::map<std::string, consumer_member> current;
        std::map<std::string, assignment> target;
    };
    std::map<std::string, staged> staged_;
};

}  // namespace rill::coordinator
