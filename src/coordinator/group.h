// The state of one classic group and of one __consumer_offsets partition, as kept on the
// partition's owner shard. Internal to the coordinator (see group_coordinator.h).
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

#include "protocol/generated/join_group.h"
#include "protocol/generated/sync_group.h"
#include "storage/log_manager.h"
#include "storage/partition_log.h"

namespace rill::coordinator {

enum class group_state { empty, preparing_rebalance, completing_rebalance, stable, dead };

const char* state_name(group_state s);

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
    std::vector<std::pair<std::string, protocol::bytes>>
        protocols;  // name, metadata; by preference
    protocol::bytes assignment;
    join_callback awaiting_join;
    sync_callback awaiting_sync;
    int64_t last_heard_ms = 0;

    const protocol::bytes* metadata_for(const std::string& protocol) const {
        for (const auto& [n, md] : protocols)
            if (n == protocol) return &md;
        return nullptr;
    }
};

struct committed_offset {
    int64_t offset = -1;
    int32_t leader_epoch = -1;
    std::string metadata;
    int64_t commit_timestamp = 0;
    int64_t expire_timestamp = -1;  // explicit (OffsetCommit v2-v4 retention), else -1
};

using topic_partition = storage::topic_partition;

struct group {
    std::string id;
    group_state state = group_state::empty;
    std::string protocol_type;
    std::optional<std::string> protocol;
    std::optional<std::string> leader;
    int32_t generation = 0;
    int64_t state_timestamp = -1;  // when the state last changed (KIP-211: empty since)
    std::map<std::string, std::unique_ptr<member>> members;
    std::map<std::string, std::string> static_members;  // instance id -> member id
    std::map<std::string, int64_t>
        pending_members;                 // id handed out (MEMBER_ID_REQUIRED) -> deadline
    std::set<std::string> pending_sync;  // joined this generation, not yet synced
    int64_t rebalance_deadline = 0;      // PreparingRebalance: when to complete
    int64_t initial_delay_cap = 0;       // while the initial delay may extend
    int64_t sync_deadline = 0;           // CompletingRebalance: leader must sync
    std::map<topic_partition, committed_offset> offsets;

    bool has_members() const { return !members.empty(); }
    member* find(const std::string& member_id) {
        auto it = members.find(member_id);
        return it == members.end() ? nullptr : it->second.get();
    }
};

}  // namespace rill::coordinator
