#include <set>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"

namespace rill::broker {

task<m::create_partitions_response> handle_create_partitions(request_context& ctx,
                                                             m::create_partitions_request& req) {
    m::create_partitions_response resp;
    std::set<std::string> seen;
    for (const auto& t : req.topics) {
        m::create_partitions_response::create_partitions_topic_result out;
        out.name = t.name;
        if (!seen.insert(t.name).second) {
            out.error_code = wire(error_code::invalid_request);
            out.error_message = "Duplicate topic name in the request.";
        } else if (auto r = ctx.b.metadata().create_partitions(t.name, t.count, req.validate_only);
                   !r) {
            out.error_code = wire(to_error_code(r.error().code));
            out.error_message = r.error().message;
        }
        resp.results.push_back(std::move(out));  // one result per requested topic, always
    }
    co_return resp;
}

}  // namespace rill::broker
