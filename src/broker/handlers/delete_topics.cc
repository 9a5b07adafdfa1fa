#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/topics.h"

namespace rill::broker {

// By name (v0-5 topic_names, v6 topics[].name) or by id (v6 topics[].topic_id).
task<m::delete_topics_response> handle_delete_topics(request_context& ctx,
                                                     m::delete_topics_request& req) {
    m::delete_topics_response resp;
    std::vector<std::pair<std::optional<std::string>, protocol::uuid>> targets;
    for (const auto& n : req.topic_names)
        targets.emplace_back(n, protocol::uuid{});
    for (const auto& t : req.topics)
        targets.emplace_back(t.name, t.topic_id);
    for (auto& [name, id] : targets) {
        m::delete_topics_response::deletable_topic_result out;
        auto snap = ctx.b.metadata().snapshot();
        const cluster::topic_info* t = name ? snap->find_topic(*name) : snap->find_topic(id);
        out.name = name;
        out.topic_id = id;
        if (!t) {
            out.error_code =
                wire(name ? error_code::unknown_topic_or_partition : error_code::unknown_topic_id);
        } else {
            out.name = t->name;
            out.topic_id = t->id;
            auto write = [&] { return delete_topic(ctx.b, *t); };
            auto op = ctx.b.store_write(write);
            if (auto r = co_await std::move(op); !r) {
                out.error_code = wire(r.error().code);
                out.error_message = r.error().message;
            }
        }
        resp.responses.push_back(std::move(out));
    }
    co_return resp;
}

}  // namespace rill::broker
