#include "broker/api_registry.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"

namespace rill::broker {

// Advertises every API in the registry. Client software name/version (v3+) are accepted as
// sent, without Kafka's regex check (KAFKA-COMPAT.md §2.2).
task<m::api_versions_response> handle_api_versions(request_context&, m::api_versions_request&) {
    m::api_versions_response resp;
    for (const auto& e : supported_apis())
        resp.api_keys.push_back({e.key, e.min_version, e.max_version});
    co_return resp;
}

}  // namespace rill::broker
