#include "net/server_config.h"

namespace rill::net {

result<server_limits, std::string> server_limits_from_config(const broker_config& config) {
    server_limits limits;
    limits.max_request_bytes = static_cast<int32_t>(config.get_int("socket.request.max.bytes"));
    limits.idle_timeout_ms = config.get_int("connections.max.idle.ms");
    limits.max_connections = static_cast<int32_t>(config.get_int("max.connections"));
    limits.current_max_connections = [&config] { return config.get_int("max.connections"); };
    limits.send_buffer_bytes = static_cast<int32_t>(config.get_int("socket.send.buffer.bytes"));
    limits.receive_buffer_bytes =
        static_cast<int32_t>(config.get_int("socket.receive.buffer.bytes"));

    const int64_t queued = config.get_int("queued.max.request.bytes");
    if (queued > 0 && queued < limits.max_request_bytes)
        return unexpected("queued.max.request.bytes (" + std::to_string(queued) +
                          ") must be at least socket.request.max.bytes (" +
                          std::to_string(limits.max_request_bytes) +
                          "): a request of the largest allowed size could never be read");
    limits.max_inflight_bytes =
        queued > 0 ? queued : std::max<int64_t>(kDefaultRequestBudget, limits.max_request_bytes);

    limits.max_connections_per_ip = static_cast<int32_t>(config.get_int("max.connections.per.ip"));
    auto overrides = parse_ip_overrides(config.get_string("max.connections.per.ip.overrides"));
    if (!overrides) return unexpected(overrides.error());
    if (limits.max_connections_per_ip == 0 && overrides->empty())
        return unexpected(
            "max.connections.per.ip is 0, which needs max.connections.per.ip.overrides to name "
            "the hosts that may connect");
    auto resolved = resolve_ip_overrides(*overrides);
    if (!resolved) return unexpected(resolved.error());
    limits.max_connections_per_ip_overrides = std::move(*resolved);
    return limits;
}

}  // namespace rill::net
