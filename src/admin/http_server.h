// The admin endpoint's HTTP/1.1 server (Boost.Beast): one acceptor per admin listener and one
// coroutine per connection, all on the server's OWN io_context and thread, so a slow or hostile
// HTTP client never stalls the Kafka shards. Handlers may hop to shards (partition work) and
// are resumed on the admin thread.
//
// Limits: header and body sizes (431 / 413), a read timeout per request (slow clients are
// dropped), a write timeout, and a maximum number of open connections (further ones are
// answered 503 and closed). Requests on one connection are handled one at a time.
//
// Threading: listen()/start()/stop() from the owner thread (the app's main thread); the
// handler runs on the admin thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "admin/http.h"
#include "common/asio.h"
#include "common/result.h"

namespace rill::admin {

struct http_limits {
    size_t max_header_bytes = 16 * 1024;
    size_t max_body_bytes = 4 * 1024 * 1024;
    std::chrono::milliseconds read_timeout{30000};
    std::chrono::milliseconds write_timeout{30000};
    size_t max_connections = 256;
};

using request_handler = std::function<boost::asio::awaitable<response>(request&)>;

class http_server {
  public:
    http_server(request_handler handler, http_limits limits);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    // Binds `host:port` (port 0: any free port). Fails with a message naming the address.
    result<void, std::string> listen(const std::string& host, uint16_t port);
    // The bound port of listener i.
    uint16_t bound_port(size_t i) const;
    // Starts accepting on the admin thread.
    void start();
    // Closes the acceptors and open connections, stops the admin thread and joins it.
    // Idempotent.
    void stop();

    boost::asio::io_context& context() { return ctx_; }
    size_t connection_count() const { return connections_.load(); }

  private:
    struct session_set;
    boost::asio::awaitable<void> accept_loop(size_t i);
    boost::asio::awaitable<void> run_session(boost::asio::ip::tcp::socket socket);

    boost::asio::io_context ctx_{1};
    request_handler handler_;
    http_limits limits_;
    std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
    std::unique_ptr<session_set> sessions_;
    std::atomic<size_t> connections_{0};
    std::thread thread_;
    bool stopped_ = false;
};

}  // namespace rill::admin
