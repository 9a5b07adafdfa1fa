// A group of the classic protocol (JoinGroup/SyncGroup/Heartbeat/LeaveGroup), as kept on the
// owner shard of its __consumer_offsets partition. The rebalance protocol that drives it lives
// in coordinator_shard (classic_handlers.cc); this file holds the state, the declared state
// transitions and the conversion to and from the GroupMetadataValue record.
//
// States and transitions (Kafka's ClassicGroupState; checked by transition_to()):
//
//   Empty                -> PreparingRebalance (a member joins), Dead
//   PreparingRebalance   -> CompletingRebalance (the join phase ends with members),
//                           Empty (it ends with none), Dead
//   CompletingRebalance  -> Stable (the leader's assignment is committed),
//                           PreparingRebalance (a member joins, leaves or expires), Dead
//   Stable               -> PreparingRebalance, Dead
//   Dead                 -> Dead
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/group.h"
#include "protocol/generated/error_code.h"
#include "protocol/generated/group_metadata_value.h"
#include "protocol/generated/join_group.h"
#include "protocol/generated/sync_group.h"

namespace rill::coordinator {

enum class group_state { empty, preparing_rebalance, completing_rebalance, stable, dead };

const char* state_name(group_state s);
// True when a classic group may move from `from` to `to` (the table above).
bool valid_transition(group_state from, group_state to);

using join_callback = std::function<void(protocol::messages::join_group_response)>;
using sync_callback = std::function<void(protocol::messages::sync_group_response)>;

struct member {
    std::string id;
    std::optional<std::string> instance_id;
    std::string client_id;
    std::string client_host;
    int32_t session_timeout_ms = 0;
    int32_t rebalance_timeout_ms = 0;
    std::string protocol_type;
    std::vector<std::pair<std::string, protocol::bytes>> protocols;  // name, metadata; by
                                                                     // preference
    protocol::bytes assignment;
    join_callback awaiting_join;
    sync_callback awaiting_sync;
    int64_t last_heard_ms = 0;

    const protocol::bytes* metadata_for(const std::string& protocol) const;
};

class classic_group final : public group {
  public:
    classic_group(std::string id, int64_t now_ms);

    // ---- group
    group_type type() const override { return group_type::classic; }
    const std::string& id() const override { return id_; }
    const char* state_name() const override { return coordinator::state_name(state_); }
    bool is_empty() const override { return members.empty(); }
    bool is_dead() const override { return state_ == group_state::dead; }
    bool subscribed_to(const std::string& topic) const override;
    int64_t offsets_expiry_base() const override;
    bool expires_unsubscribed_offsets() const override;

    group_state state() const { return state_; }
    // Moves to `to` and stamps the state time. False (nothing changes) when the transition
    // table does not allow it; staying in the same state is not a transition (true).
    bool transition_to(group_state to, int64_t now_ms);

    // Topics the members subscribe to (consumer protocol type only; decoded subscriptions).
    std::set<std::string> subscribed_topics() const;
    // The protocols every member supports, and the one the members vote for (Kafka's rule:
    // each member votes for its most preferred candidate; ties go to the first member's).
    std::set<std::string> candidate_protocols() const;
    std::optional<std::string> select_protocol() const;
    // A join with these protocols could take part in the group.
    bool supports(const protocol::messages::join_group_request& req) const;
    int32_t max_rebalance_timeout() const;
    // A static member with this instance id exists under another member id.
    bool fenced(const std::string& member_id, const std::optional<std::string>& instance_id) const;
    member* find(const std::string& member_id);

    // Removes a member; its waiting JoinGroup/SyncGroup are answered with `e`.
    void remove_member(const std::string& member_id, protocol::error_code e);
    // Answers every waiting JoinGroup/SyncGroup with `e` (unload, shutdown).
    void fail_waiting(protocol::error_code e);

    // The GroupMetadataValue record of this group, with `assignments` (member id -> bytes)
    // in place of the members' current assignments when given.
    protocol::messages::group_metadata_value to_record(
        const std::map<std::string, protocol::bytes>* assignments = nullptr) const;
    // A group read back from its record (loading): Stable with members, else Empty.
    static std::unique_ptr<classic_group> from_record(
        const std::string& id, const protocol::messages::group_metadata_value& v, int64_t now_ms);

    std::string protocol_type;
    std::optional<std::string> protocol;
    std::optional<std::string> leader;
    int32_t generation = 0;
    int64_t state_timestamp = -1;  // when the state last changed (KIP-211: empty since)
    std::map<std::string, std::unique_ptr<member>> members;
    std::map<std::string, std::string> static_members;  // instance id -> member id
    std::map<std::string, int64_t> pending_members;     // id handed out (MEMBER_ID_REQUIRED)
                                                        // -> deadline
    std::set<std::string> pending_sync;                 // joined this generation, not synced
    int64_t rebalance_deadline = 0;                     // PreparingRebalance: when to complete
    int64_t initial_delay_cap = 0;                      // while the initial delay may extend
    int64_t sync_deadline = 0;                          // CompletingRebalance: leader must sync
    bool assignment_pending = false;                    // the leader's assignment is being written

  private:
    std::string id_;
    group_state state_ = group_state::empty;
};

protocol::messages::join_group_response join_error(protocol::error_code e,
                                                   const std::string& member_id = {});
protocol::messages::sync_group_response sync_error(protocol::error_code e);

}  // namespace rill::coordinator
