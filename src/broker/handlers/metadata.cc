#include <chrono>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"
#include "broker/topics.h"

namespace rill::broker {
namespace {

constexpr std::chrono::milliseconds kAutoCreateWait{10000};

}  // namespace

task<m::metadata_response> handle_metadata(request_context& ctx, m::metadata_request& req) {
    const int16_t v = ctx.api_version;
    auto snap = ctx.b.metadata().snapshot();
    m::metadata_response resp;
    resp.cluster_id = snap->cluster_id;
    resp.controller_id = snap->controller_id;
    for (const auto& [id, bi] : snap->brokers) {
        if (auto ep = advertised_endpoint(bi, ctx.conn.listener_name))
            resp.brokers.push_back({id, ep->host, ep->port, bi.rack});
    }

    // v0: an empty list means all topics; v1+: null means all, empty means none.
    bool all = !req.topics || (v == 0 && req.topics->empty());
    if (all) {
        for (const auto& [name, t] : snap->topics)
            resp.topics.push_back(describe_topic(t, *snap, &ctx.b.partitions()));
        co_return resp;
    }
    // v0-3 have no flag and auto-create whenever the broker allows it.
    bool may_create = (v < 4 || req.allow_auto_topic_creation) &&
                      ctx.b.config().get_bool("auto.create.topics.enable");
    bool created_any = false;
    for (const auto& rt : *req.topics) {
        m::metadata_response::metadata_response_topic out;
        if (!rt.name) {  // v10+: lookup by topic id
            const cluster::topic_info* t = snap->find_topic(rt.topic_id);
            if (t) {
                out = describe_topic(*t, *snap, &ctx.b.partitions());
            } else {
                out.topic_id = rt.topic_id;
                out.error_code = wire(error_code::unknown_topic_id);
            }
            resp.topics.push_back(std::move(out));
            continue;
        }
        const std::string& name = *rt.name;
        if (const cluster::topic_info* t = snap->find_topic(name)) {
            resp.topics.push_back(describe_topic(*t, *snap, &ctx.b.partitions()));
            continue;
        }
        out.name = name;
        if (auto valid = cluster::validate_topic_name(name); !valid) {
            out.error_code = wire(error_code::invalid_topic_exception);
        } else if (!may_create) {
            out.error_code = wire(error_code::unknown_topic_or_partition);
        } else {
            auto write = [&] { return auto_create_topic(ctx.b, name); };
            auto op = ctx.b.store_write(write);
            auto created = co_await std::move(op);
            if (created) {
                out = describe_topic(*created, *ctx.b.metadata().snapshot(), &ctx.b.partitions());
                created_any = true;
            } else {
                out.error_code = wire(created.error());
            }
        }
        resp.topics.push_back(std::move(out));
    }
    // Auto-created partitions get their logs off the shards: answer once they exist, so the
    // client's first produce finds them (bounded; a slow creation only delays the answer).
    if (created_any) {
        auto waiting = ctx.b.partitions().reconciled(kAutoCreateWait);
        co_await std::move(waiting);
    }
    co_return resp;
}

}  // namespace rill::broker
