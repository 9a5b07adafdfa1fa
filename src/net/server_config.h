// The listener's limits from the broker configuration, with the start-up checks Kafka makes:
//
// - queued.max.request.bytes: > 0 is the request budget and must be at least
//   socket.request.max.bytes (Kafka's memory pool refuses a smaller pool); <= 0 (the default
//   -1) means kDefaultRequestBudget, or socket.request.max.bytes if that is larger. Kafka
//   leaves -1 unbounded and relies on queued.max.requests (500 queued requests) instead; Rill
//   has no request queue, so an unbounded default would let clients exhaust memory.
// - max.connections.per.ip = 0 needs max.connections.per.ip.overrides (Kafka's check); the
//   overrides must parse and their host names resolve.
// - max.connections is read again at every accept (it can change through AlterConfigs).
//
// Threading: call at start-up (it may resolve host names, blocking). `config` must outlive the
// returned limits (their current_max_connections reads it).
#pragma once

#include <string>

#include "common/config.h"
#include "common/result.h"
#include "net/server.h"

namespace rill::net {

inline constexpr int64_t kDefaultRequestBudget = 512LL << 20;

result<server_limits, std::string> server_limits_from_config(const broker_config& config);

}  // namespace rill::net
