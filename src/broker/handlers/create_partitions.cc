#include <chrono>
#include <set>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"

namespace rill::broker {

task<m::create_partitions_response> handle_create_partitions(request_context& ctx,
                                                             m::create_partitions_request& req) {
    m::create_partitions_response resp;
    std::set<std::string> seen;
    bool created_any = false;
    for (const auto& t : req.topics) {
        m::create_partitions_response::create_partitions_topic_result out;
        out.name = t.name;
        if (!seen.insert(t.name).second) {
            out.error_code = wire(error_code::invalid_request);
            out.error_message = "Duplicate topic name in the request.";
        } else {
            auto write = [&] {
                return ctx.b.metadata().create_partitions(t.name, t.count, req.validate_only);
            };
            auto op = ctx.b.store_write(write);
            if (auto r = co_await std::move(op); !r) {
                out.error_code = wire(to_error_code(r.error().code));
                out.error_message = r.error().message;
            } else {
                created_any = created_any || !req.validate_only;
            }
        }
        resp.results.push_back(std::move(out));  // one result per requested topic, always
    }
    // As CreateTopics: answer once the new partitions' logs exist (created off the shards).
    if (created_any && req.timeout_ms > 0) {
        auto waiting = ctx.b.partitions().reconciled(std::chrono::milliseconds(req.timeout_ms));
        if (!co_await std::move(waiting))
            for (auto& out : resp.results)
                if (out.error_code == 0) {
                    out.error_code = wire(error_code::request_timed_out);
                    out.error_message = "Timed out waiting for the partitions to be created.";
                }
    }
    co_return resp;
}

}  // namespace rill::broker
