#include <chrono>
#include <set>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/configs.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"

namespace rill::broker {

task<m::create_topics_response> handle_create_topics(request_context& ctx,
                                                     m::create_topics_request& req) {
    m::create_topics_response resp;
    std::set<std::string> seen;
    bool created_any = false;
    for (const auto& t : req.topics) {
        m::create_topics_response::creatable_topic_result out;
        out.name = t.name;
        if (!seen.insert(t.name).second) {
            out.error_code = wire(error_code::invalid_request);
            out.error_message = "Duplicate topic name in the request.";
            resp.topics.push_back(std::move(out));
            continue;
        }
        cluster::new_topic nt;
        nt.name = t.name;
        nt.partitions = t.num_partitions;
        nt.replication_factor = t.replication_factor;
        for (const auto& a : t.assignments)
            nt.assignments[a.partition_index] = a.broker_ids;
        for (const auto& c : t.configs)
            if (c.value) nt.configs.set(c.name, *c.value);
        auto write = [&] { return ctx.b.metadata().create_topic(nt, req.validate_only); };
        auto op = ctx.b.store_write(write);
        auto created = co_await std::move(op);
        if (!created) {
            out.error_code = wire(to_error_code(created.error().code));
            out.error_message = created.error().message;
            resp.topics.push_back(std::move(out));
            continue;
        }
        out.topic_id = created->id;
        out.num_partitions = static_cast<int32_t>(created->partitions.size());
        out.replication_factor = created->replication_factor();
        // v5+ returns the topic's resulting configs.
        if (ctx.api_version >= 5) {
            out.configs.emplace();
            for (const auto& e : describe_topic_config(created->configs, ctx.b.config()))
                out.configs->push_back({e.name, e.sensitive ? std::nullopt : e.value, e.read_only,
                                        static_cast<int8_t>(e.source), e.sensitive});
        }
        resp.topics.push_back(std::move(out));
        created_any = created_any || !req.validate_only;
    }
    // The logs are created off the shards (partition_manager::reconcile); answer once they
    // exist, as Kafka answers once the new partitions have leaders. Past timeout_ms the topics
    // still get created, but the answer is REQUEST_TIMED_OUT (Kafka's DelayedCreatePartitions).
    if (created_any && req.timeout_ms > 0) {
        auto waiting = ctx.b.partitions().reconciled(std::chrono::milliseconds(req.timeout_ms));
        if (!co_await std::move(waiting))
            for (auto& out : resp.topics)
                if (out.error_code == 0) {
                    out.error_code = wire(error_code::request_timed_out);
                    out.error_message = "Timed out waiting for the partitions to be created.";
                }
    }
    co_return resp;
}

}  // namespace rill::broker
