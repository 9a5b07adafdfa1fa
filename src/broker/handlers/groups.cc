// Consumer-group membership APIs (FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, ListGroups, DescribeGroups, DeleteGroups): the version-specific parts (what
// each request version means, how each response version is shaped) are here; the group state
// machine is coordinator::group_coordinator's. Offsets: group_offsets.cc.
#include <algorithm>
#include <chrono>
#include <set>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"
#include "broker/topics.h"
#include "coordinator/group_coordinator.h"
#include "txn/txn_coordinator.h"

namespace rill::broker {

namespace {

std::string peer_host(const std::string& peer) {
    auto colon = peer.rfind(':');
    std::string host = colon == std::string::npos ? peer : peer.substr(0, colon);
    return "/" + host;  // Kafka shows client hosts as "/ip"
}

// Where clients reach the coordinator of `key` (this broker, on the request's listener).
struct coordinator_answer {
    error_code error = error_code::none;
    std::optional<std::string> message;
    int32_t node_id = -1;
    std::string host;
    int32_t port = -1;
};

// `offsets` is the outcome of ensure_offsets_topic().
coordinator_answer find(request_context& ctx, const std::string& key, int8_t key_type,
                        error_code offsets_topic) {
    coordinator_answer a;
    if (key_type != 0 && key_type != 1) {
        a.error = error_code::invalid_request;
        a.message = "Unknown coordinator key type " + std::to_string(key_type);
        return a;
    }
    const bool txn = key_type == 1;
    if (txn && ctx.b.metadata().snapshot()->cluster_mode) {
        // Markers are local appends for now: a transaction over partitions led by other
        // brokers could not complete.
        a.error = error_code::coordinator_not_available;
        a.message = "Transactions are not supported in cluster mode yet";
        return a;
    }
    if (key.empty()) {
        a.error = error_code::invalid_request;
        a.message =
            txn ? "The transactional id must not be empty" : "The group id must not be empty";
        return a;
    }
    if (auto e = txn ? ctx.b.txns().ensure_topic() : offsets_topic; e != error_code::none) {
        a.error = e;
        return a;
    }
    // The coordinator is the leader of the key's __consumer_offsets (group) or
    // __transaction_state (transactional id) partition.
    auto snap = ctx.b.metadata().snapshot();
    const cluster::topic_info* offsets =
        snap->find_topic(txn ? txn::kTxnTopic : coordinator::kOffsetsTopic);
    if (!offsets || offsets->partitions.empty()) {
        a.error = error_code::coordinator_not_available;
        return a;
    }
    const auto& pi = offsets->partitions[static_cast<size_t>(
        coordinator::partition_for_group(key, static_cast<int32_t>(offsets->partitions.size())))];
    const int32_t node = snap->cluster_mode ? pi.leader : ctx.b.node_id();
    auto it = snap->brokers.find(node);
    if (it == snap->brokers.end()) {
        a.error = error_code::coordinator_not_available;
        return a;
    }
    auto ep = advertised_endpoint(it->second, ctx.conn.listener_name);
    if (!ep) {
        a.error = error_code::coordinator_not_available;
        return a;
    }
    a.node_id = node;
    a.host = ep->host;
    a.port = ep->port;
    return a;
}

// Single node: a __consumer_offsets just created gets its logs off the shards; answer once they
// exist, so the coordinator can serve the group at once (bounded).
task<void> wait_offsets_logs(request_context& ctx) {
    auto snap = ctx.b.metadata().snapshot();
    if (snap->cluster_mode) co_return;
    auto missing = [&](const char* topic) {
        return snap->find_topic(topic) && !ctx.b.partitions().find({topic, 0});
    };
    if (!missing(coordinator::kOffsetsTopic) && !missing(txn::kTxnTopic)) co_return;
    auto waiting = ctx.b.partitions().reconciled(std::chrono::seconds(10));
    co_await std::move(waiting);
}

// The first FindCoordinator creates __consumer_offsets: a metadata store write on the
// metadata thread, awaited without holding the shard (bounded; COORDINATOR_NOT_AVAILABLE,
// which clients retry, when it takes longer).
task<error_code> offsets_topic_ready(request_context& ctx) {
    auto op = ctx.b.groups().ensure_offsets_topic(std::chrono::seconds(5));
    co_return co_await std::move(op);
}

}  // namespace

task<m::find_coordinator_response> handle_find_coordinator(request_context& ctx,
                                                           m::find_coordinator_request& req) {
    m::find_coordinator_response resp;
    const int8_t key_type = ctx.api_version >= 1 ? req.key_type : 0;
    error_code offsets_topic = error_code::none;
    if (key_type == 0) {
        auto ready = offsets_topic_ready(ctx);
        offsets_topic = co_await std::move(ready);
    }
    if (ctx.api_version >= 4) {
        for (const auto& key : req.coordinator_keys) {
            auto a = find(ctx, key, req.key_type, offsets_topic);
            auto& c = resp.coordinators.emplace_back();
            c.key = key;
            c.node_id = a.node_id;
            c.host = a.host;
            c.port = a.port;
            c.error_code = wire(a.error);
            c.error_message = a.message;
        }
        auto waiting = wait_offsets_logs(ctx);
        co_await std::move(waiting);
        co_return resp;
    }
    auto a = find(ctx, req.key, key_type, offsets_topic);
    auto waiting = wait_offsets_logs(ctx);
    co_await std::move(waiting);
    resp.error_code = wire(a.error);
    resp.error_message = a.message;
    resp.node_id = a.node_id;
    resp.host = a.host;
    resp.port = a.port;
    co_return resp;
}

task<m::join_group_response> handle_join_group(request_context& ctx, m::join_group_request& req) {
    coordinator::client_info ci{ctx.client_id.value_or(""), peer_host(ctx.conn.peer)};
    coordinator::join_options opts;
    opts.require_known_member_id = ctx.api_version >= 4;  // KIP-394
    opts.skip_assignment = ctx.api_version >= 9;          // KIP-814
    if (ctx.api_version == 0) req.rebalance_timeout_ms = req.session_timeout_ms;
    auto op = ctx.b.groups().join_group(std::move(req), opts, std::move(ci));
    co_return co_await std::move(op);
}

task<m::sync_group_response> handle_sync_group(request_context& ctx, m::sync_group_request& req) {
    if (ctx.api_version < 5) {  // the protocol type and name are checked from v5 on
        req.protocol_type.reset();
        req.protocol_name.reset();
    }
    auto op = ctx.b.groups().sync_group(std::move(req));
    co_return co_await std::move(op);
}

task<m::heartbeat_response> handle_heartbeat(request_context& ctx, m::heartbeat_request& req) {
    auto op = ctx.b.groups().heartbeat(std::move(req));
    m::heartbeat_response resp;
    resp.error_code = wire(co_await std::move(op));
    co_return resp;
}

task<m::leave_group_response> handle_leave_group(request_context& ctx,
                                                 m::leave_group_request& req) {
    const bool batch = ctx.api_version >= 3;  // KIP-345: several members per request
    if (!batch) {
        req.members.clear();
        req.members.emplace_back().member_id = req.member_id;
    }
    auto op = ctx.b.groups().leave_group(std::move(req));
    auto resp = co_await std::move(op);
    if (!batch && !resp.members.empty()) {
        if (resp.error_code == 0) resp.error_code = resp.members[0].error_code;
        resp.members.clear();
    }
    co_return resp;
}

task<m::list_groups_response> handle_list_groups(request_context& ctx,
                                                 m::list_groups_request& req) {
    auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), ::tolower);
        return s;
    };
    std::set<std::string> states, types;
    if (ctx.api_version >= 4)  // KIP-518
        for (const auto& s : req.states_filter)
            states.insert(lower(s));
    if (ctx.api_version >= 5)  // KIP-848
        for (const auto& t : req.types_filter)
            types.insert(lower(t));
    auto op = ctx.b.groups().list_groups(std::move(states), std::move(types));
    co_return co_await std::move(op);
}

task<m::describe_groups_response> handle_describe_groups(request_context& ctx,
                                                         m::describe_groups_request& req) {
    m::describe_groups_response resp;
    for (const auto& id : req.groups) {
        auto op = ctx.b.groups().describe_group_protocol(id);
        resp.groups.push_back(co_await std::move(op));
    }
    co_return resp;
}

task<m::delete_groups_response> handle_delete_groups(request_context& ctx,
                                                     m::delete_groups_request& req) {
    m::delete_groups_response resp;
    for (const auto& id : req.groups_names) {
        auto& r = resp.results.emplace_back();
        r.group_id = id;
        auto op = ctx.b.groups().delete_group(id);
        r.error_code = wire(co_await std::move(op));
    }
    co_return resp;
}

}  // namespace rill::broker
