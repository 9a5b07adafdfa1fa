#include "broker/broker.h"
#include "broker/handlers/handlers.h"
#include "broker/topics.h"

namespace rill::broker {

task<m::describe_cluster_response> handle_describe_cluster(request_context& ctx,
                                                           m::describe_cluster_request&) {
    auto snap = ctx.b.metadata().snapshot();
    m::describe_cluster_response resp;
    resp.cluster_id = snap->cluster_id;
    resp.controller_id = snap->controller_id;
    for (const auto& [id, bi] : snap->brokers)
        if (auto ep = advertised_endpoint(bi, ctx.conn.listener_name))
            resp.brokers.push_back({id, ep->host, ep->port, bi.rack});
    co_return resp;
}

}  // namespace rill::broker
