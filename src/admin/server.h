// The admin HTTP endpoint: Redpanda-shaped operations routes (/v1/...), Confluent-REST-v3-shaped
// data routes (/v3/clusters/...), Prometheus metrics (/metrics) and the web console (/).
// docs/admin-api.md documents every route with its JSON shapes.
//
// Threading: the server runs on its own io_context and thread (http_server.h); route handlers
// read metadata snapshots, hop to the partitions' owner shards for log state, and call the
// group coordinator's admin views, always resuming on the admin thread. Construction, listen(),
// start() and stop() happen on the app's main thread.
//
// Auth: when admin.auth.token is set, every mutating route (PUT/POST/DELETE) needs
// "Authorization: Bearer <token>" (401 otherwise); reads and status routes stay open.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "admin/http.h"
#include "common/asio.h"
#include "common/result.h"
#include "coordinator/group_coordinator.h"
#include "protocol/generated/error_code.h"

namespace rill::broker {
class broker;
}
namespace rill::net {
class server;
}

namespace rill::admin {

// The group coordinator's admin views, as the endpoint uses them (coordinator_groups.h adapts
// coordinator::group_coordinator). Any executor; each resumes the caller on its executor.
class group_source {
  public:
    virtual ~group_source() = default;
    virtual boost::asio::awaitable<std::vector<coordinator::group_view>> list_groups() = 0;
    virtual boost::asio::awaitable<std::optional<coordinator::group_view>> describe_group(
        std::string group_id) = 0;
    virtual boost::asio::awaitable<std::vector<coordinator::partition_lag_view>> group_lag(
        std::string group_id) = 0;
    virtual boost::asio::awaitable<protocol::error_code> delete_group(std::string group_id) = 0;
};

class server {
  public:
    // `kafka` (connection counts) and `groups` may be null: group routes then list nothing
    // and answer 404 for a named group.
    server(broker::broker& b, const net::server* kafka, group_source* groups);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds every admin.listeners URI (http://host:port). Fails with a message naming the
    // listener (bad URI, port in use, ...).
    result<void, std::string> listen(const std::vector<std::string>& uris);
    uint16_t bound_port(size_t i) const;
    // Starts serving on the admin thread (and the lag-history sampler).
    void start();
    // Stops serving and joins the admin thread. Idempotent.
    void stop();
    // /v1/status/ready answers "ready" only while this is true (set once the broker serves).
    void set_ready(bool ready);

    // Routing, auth and error mapping for one request (what the HTTP server calls).
    boost::asio::awaitable<response> handle(request& req);

    struct state;

  private:
    std::unique_ptr<state> st_;
};

}  // namespace rill::admin
