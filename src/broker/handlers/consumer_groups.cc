// The consumer group protocol of KIP-848: ConsumerGroupHeartbeat and ConsumerGroupDescribe.
// Version differences are handled here; the protocol itself is coordinator::coordinator_shard's
// (consumer_handlers.cc).
#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "cluster/topic_rules.h"
#include "coordinator/group_coordinator.h"

namespace rill::broker {

task<m::consumer_group_heartbeat_response> handle_consumer_group_heartbeat(
    request_context& ctx, m::consumer_group_heartbeat_request& req) {
    // v0: the coordinator names a joining member; from v1 (KIP-1082) the client does.
    if (ctx.api_version == 0 && req.member_epoch == 0 && req.member_id.empty())
        req.member_id = cluster::uuid_to_base64url(cluster::random_topic_uuid());
    std::string peer = ctx.conn.peer;
    auto colon = peer.rfind(':');
    coordinator::client_info ci{ctx.client_id.value_or(""),
                                "/" + (colon == std::string::npos ? peer : peer.substr(0, colon))};
    auto op = ctx.b.groups().consumer_group_heartbeat(std::move(req), std::move(ci));
    co_return co_await std::move(op);
}

task<m::consumer_group_describe_response> handle_consumer_group_describe(
    request_context& ctx, m::consumer_group_describe_request& req) {
    m::consumer_group_describe_response resp;
    for (const auto& id : req.group_ids) {
        auto op = ctx.b.groups().consumer_group_describe(id);
        auto d = co_await std::move(op);
        if (!req.include_authorized_operations)
            d.authorized_operations = std::numeric_limits<int32_t>::min();
        resp.groups.push_back(std::move(d));
    }
    co_return resp;
}

}  // namespace rill::broker
