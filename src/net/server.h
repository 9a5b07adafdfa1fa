// The Kafka listener: accepts TCP connections and runs one coroutine per connection that reads
// size-prefixed frames, hands each to the request handler, and writes the responses back in
// request order (requests on one connection are handled one at a time, as Kafka does, so a
// connection never buffers more than one request: natural backpressure).
//
// Memory: a frame's whole announced size is reserved in the broker-wide request budget once
// its first body byte has arrived and before the body is read (Kafka's memory pool), and given
// back when the handler returns or the connection closes, whichever comes first. A connection
// that must wait for budget holds none while it waits, and still notices its peer leaving
// (hangup_watch), the idle timeout and stop(). docs/architecture.md explains why this cannot
// deadlock.
//
// Threading: connections are spread round-robin over the shard io_contexts given at
// construction; a connection's coroutine runs on its shard. The handler is called on that shard
// and may hop to other executors internally. listen()/stop() are called from the owner thread;
// the accept loops run on the first shard. Response file regions go out with sendfile on
// plaintext connections; on TLS ones they are read (pread, which may wait for the disk) on the
// server's own file-read pool (thread `rill-tls-read`, created when a TLS listener is
// configured), one 256 KiB chunk per connection at a time, while the shard serves the others.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/asio.h"
#include "common/memory_budget.h"
#include "common/result.h"
#include "net/connection_limits.h"
#include "net/hangup_watch.h"
#include "net/heap_trimmer.h"
#include "net/listener_security.h"
#include "protocol/wire.h"

namespace rill {
class work_pool;  // common/work_pool.h
}

namespace rill::net {

namespace asio = boost::asio;

struct connection_auth;  // src/net/sasl.h

// One parsed listener URI, e.g. PLAINTEXT://127.0.0.1:9092 or PLAINTEXT://[::1]:9092.
struct listener_spec {
    std::string name;  // PLAINTEXT, SSL, ... (the listener name)
    std::string host;  // "" means all interfaces
    uint16_t port = 0;
    // TLS and SASL of the listener (listener_security.h); null: PLAINTEXT.
    std::shared_ptr<const listener_security> security;
};
result<listener_spec, std::string> parse_listener(const std::string& uri);

// A request frame: the bytes after the 4-byte size prefix, owned by a shared buffer so that
// decoded views (records fields) can outlive the frame.
struct request_frame {
    std::shared_ptr<const protocol::bytes> data;
};

// A response frame: `buffer` holds the size prefix, header and body; `splices` are file regions
// whose bytes go on the wire at the given buffer positions (sent with sendfile).
struct response_frame {
    protocol::bytes buffer;
    std::vector<protocol::writer::splice> splices;
};

// What a handler returns: a response, no response (acks=0 produce), or "close the connection".
struct handler_result {
    std::optional<response_frame> response;
    bool close = false;
};

// Per-connection information handed to the handler.
struct connection_info {
    uint64_t id = 0;
    std::string peer;           // "ip:port"
    std::string listener_name;  // PLAINTEXT...
    // The broker-wide request budget (queued.max.request.bytes): handlers charge the bytes they
    // inflate for a request (decompression, conversion) to it. Null in tests without a server.
    memory_budget* budget = nullptr;
    security_protocol protocol = security_protocol::plaintext;
    bool tls = false;  // the connection is encrypted (responses are written without sendfile)
    // Authentication state and principal (sasl.h); set by the server for every connection
    // (the handler drives SASL through it). Null in tests without a server.
    std::shared_ptr<connection_auth> auth;
};

// The addresses a listener's host names: "" or 0.0.0.0 (all IPv4), :: (all IPv6), a literal
// address, or every address a host name resolves to. `what` names the listener in errors.
result<std::vector<asio::ip::tcp::endpoint>, std::string> listen_endpoints(asio::io_context& ctx,
                                                                           const std::string& host,
                                                                           uint16_t port,
                                                                           const std::string& what);

// An acceptor open, bound and listening on `ep` (reuse_address; IPv6 sockets v6-only), or the
// error "cannot listen on <addr>:<port> (<what>): <reason>".
result<std::unique_ptr<asio::ip::tcp::acceptor>, std::string> open_acceptor(
    asio::io_context& ctx, const asio::ip::tcp::endpoint& ep, const std::string& what);

using request_handler =
    std::function<asio::awaitable<handler_result>(const connection_info&, request_frame)>;

struct server_limits {
    // socket.request.max.bytes: a frame announcing more (or a negative size) closes the
    // connection, as Kafka's InvalidReceiveException does.
    int32_t max_request_bytes = 104857600;
    // connections.max.idle.ms: a connection with no bytes read or written for this long, and
    // no request being handled, is closed. Negative: never.
    int64_t idle_timeout_ms = 600000;
    // max.connections: while this many are open the listener stops accepting (Kafka blocks its
    // acceptor); `current_max_connections`, when set, is read at every accept instead, so a
    // dynamic change (AlterConfigs) applies without a restart.
    int32_t max_connections = 2147483647;
    std::function<int64_t()> current_max_connections;
    // max.connections.per.ip and its overrides (by normalized address): more from one address
    // are accepted and closed at once.
    int32_t max_connections_per_ip = 2147483647;
    std::map<asio::ip::address, int32_t> max_connections_per_ip_overrides;
    int32_t send_buffer_bytes = 102400;     // socket.send.buffer.bytes (-1: OS default)
    int32_t receive_buffer_bytes = 102400;  // socket.receive.buffer.bytes
    // The request memory budget (queued.max.request.bytes; see memory_budget.h): a request's
    // whole size is reserved before its body is read and held until its handler returns.
    // REQUIRES: >= max_request_bytes, so that every allowed request can be read.
    int64_t max_inflight_bytes = 512LL << 20;
};

struct connection_state;  // src/net/connection.h

class server {
  public:
    // Creates one hang-up watch per shard (throws boost::system::system_error if the kernel
    // refuses an epoll instance).
    server(std::vector<asio::io_context*> shards, request_handler handler, server_limits limits);
    ~server();

    // Binds and listens on every listener; fails with a message (e.g. port in use).
    result<void, std::string> listen(const std::vector<listener_spec>& listeners);
    // The port actually bound for listener i (useful with port 0 in tests).
    uint16_t bound_port(size_t i) const;

    // Stops accepting and closes idle connections (and those waiting for budget); in-flight
    // requests finish and their responses are written before those connections close.
    // Thread-safe.
    void stop();
    size_t connection_count() const { return connections_.load(); }
    uint64_t total_accepted() const { return accepted_.load(); }
    // The request memory budget shared by every connection (and charged by handlers through
    // connection_info::budget).
    const memory_budget& budget() const { return budget_; }
    // Times freed request memory was returned to the OS after a burst (heap_trimmer.h).
    uint64_t heap_trims() const { return trimmer_->trims(); }

  private:
    struct state;
    asio::awaitable<void> accept_loop(size_t listener_index);
    asio::awaitable<void> wait_for_connection_slot(size_t listener_index);
    asio::awaitable<void> run_connection(asio::ip::tcp::socket socket, std::string listener_name,
                                         std::shared_ptr<const listener_security> security,
                                         asio::ip::address ip, size_t shard);
    asio::awaitable<std::optional<memory_budget::lease>> reserve(
        std::shared_ptr<connection_state> c, int64_t bytes, size_t shard);
    void connection_closed(const asio::ip::address& ip);
    int64_t max_connections_now() const;

    std::vector<asio::io_context*> shards_;
    request_handler handler_;
    server_limits limits_;
    memory_budget budget_;
    connection_quotas quotas_;
    std::vector<std::unique_ptr<hangup_watch>> watches_;  // one per shard, used on that shard
    std::unique_ptr<heap_trimmer> trimmer_;
    std::unique_ptr<work_pool> file_reads_;  // TLS listeners: reads of response file regions
    std::shared_ptr<state> state_;
    std::atomic<size_t> connections_{0};
    std::atomic<uint64_t> accepted_{0};
    std::atomic<uint64_t> next_id_{1};
    std::atomic<size_t> next_shard_{0};
};

}  // namespace rill::net
