// Consumer-group APIs: thin adapters onto coordinator::group_coordinator, which owns the
// state machine and the __consumer_offsets records.
#include <chrono>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"
#include "broker/topics.h"
#include "coordinator/group_coordinator.h"

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

coordinator_answer find(request_context& ctx, const std::string& key, int8_t key_type) {
    coordinator_answer a;
    if (key_type == 1) {
        a.error = error_code::coordinator_not_available;
        a.message = "Transactions are not supported yet";
        return a;
    }
    if (key_type != 0) {
        a.error = error_code::invalid_request;
        a.message = "Unknown coordinator key type " + std::to_string(key_type);
        return a;
    }
    if (key.empty()) {
        a.error = error_code::invalid_request;
        a.message = "The group id must not be empty";
        return a;
    }
    if (auto e = ctx.b.groups().ensure_offsets_topic(); e != error_code::none) {
        a.error = e;
        return a;
    }
    // The coordinator is the leader of the group's __consumer_offsets partition.
    auto snap = ctx.b.metadata().snapshot();
    const cluster::topic_info* offsets = snap->find_topic(coordinator::kOffsetsTopic);
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
    if (snap->cluster_mode || !snap->find_topic(coordinator::kOffsetsTopic)) co_return;
    if (ctx.b.partitions().find({coordinator::kOffsetsTopic, 0})) co_return;
    auto waiting = ctx.b.partitions().reconciled(std::chrono::seconds(10));
    co_await std::move(waiting);
}

}  // namespace

task<m::find_coordinator_response> handle_find_coordinator(request_context& ctx,
                                                           m::find_coordinator_request& req) {
    m::find_coordinator_response resp;
    if (ctx.api_version >= 4) {
        for (const auto& key : req.coordinator_keys) {
            auto a = find(ctx, key, req.key_type);
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
    auto a = find(ctx, req.key, ctx.api_version >= 1 ? req.key_type : 0);
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
    auto op = ctx.b.groups().join_group(std::move(req), ctx.api_version, std::move(ci));
    co_return co_await std::move(op);
}

task<m::sync_group_response> handle_sync_group(request_context& ctx, m::sync_group_request& req) {
    auto op = ctx.b.groups().sync_group(std::move(req), ctx.api_version);
    co_return co_await std::move(op);
}

task<m::heartbeat_response> handle_heartbeat(request_context& ctx, m::heartbeat_request& req) {
    auto op = ctx.b.groups().heartbeat(std::move(req), ctx.api_version);
    co_return co_await std::move(op);
}

task<m::leave_group_response> handle_leave_group(request_context& ctx,
                                                 m::leave_group_request& req) {
    auto op = ctx.b.groups().leave_group(std::move(req), ctx.api_version);
    co_return co_await std::move(op);
}

task<m::offset_commit_response> handle_offset_commit(request_context& ctx,
                                                     m::offset_commit_request& req) {
    auto op = ctx.b.groups().offset_commit(std::move(req), ctx.api_version);
    co_return co_await std::move(op);
}

task<m::offset_fetch_response> handle_offset_fetch(request_context& ctx,
                                                   m::offset_fetch_request& req) {
    auto op = ctx.b.groups().offset_fetch(std::move(req), ctx.api_version);
    co_return co_await std::move(op);
}

task<m::list_groups_response> handle_list_groups(request_context& ctx,
                                                 m::list_groups_request& req) {
    auto op = ctx.b.groups().list_groups(std::move(req), ctx.api_version);
    co_return co_await std::move(op);
}

task<m::describe_groups_response> handle_describe_groups(request_context& ctx,
                                                         m::describe_groups_request& req) {
    auto op = ctx.b.groups().describe_groups(std::move(req), ctx.api_version);
    co_return co_await std::move(op);
}

task<m::delete_groups_response> handle_delete_groups(request_context& ctx,
                                                     m::delete_groups_request& req) {
    auto op = ctx.b.groups().delete_groups(std::move(req), ctx.api_version);
    co_return co_await std::move(op);
}

task<m::offset_delete_response> handle_offset_delete(request_context& ctx,
                                                     m::offset_delete_request& req) {
    auto op = ctx.b.groups().offset_delete(std::move(req), ctx.api_version);
    co_return co_await std::move(op);
}

}  // namespace rill::broker
