// Internal to src/net: the state of one Kafka connection, shared by its coroutine
// (connection.cc), its idle watchdog, its hang-up watch and server::stop() (server.cc).
//
// Threading: everything here is touched only on the connection's shard, except log_limiter
// (thread-safe).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/ssl.hpp>

#include "net/server.h"

namespace rill::net {

inline int64_t steady_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct connection_state {
    explicit connection_state(asio::ip::tcp::socket s)
        : sock(std::move(s)), idle_timer(sock.get_executor()), last_activity_ms(steady_now_ms()) {}

    asio::ip::tcp::socket sock;
    // TLS listeners: the TLS stream over `sock` (reads and writes go through it; `sock` still
    // serves readiness waits, the hang-up watch and shutdown).
    std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket&>> tls;
    asio::steady_timer idle_timer;
    connection_info info;
    int64_t last_activity_ms;  // the last time bytes were read or written
    bool handling = false;     // a handler runs: the connection is not idle, however long
    bool in_request = false;   // from handler start until the response is written (stop waits)
    bool closed = false;       // close() was called or the coroutine ended
    // While the connection waits for request budget: the wait to cancel when it closes.
    std::shared_ptr<memory_budget::waiter> waiter;

    void touch() { last_activity_ms = steady_now_ms(); }
    // Ends the connection: pending reads see EOF, pending writes fail, a budget wait returns
    // nothing; the coroutine then releases everything. Idempotent.
    void close() {
        if (closed) return;
        closed = true;
        boost::system::error_code ec;
        sock.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
        if (waiter) waiter->cancel();
    }
};

// Admits at most one log line per second for a repeated event; the admitted line reports how
// many were suppressed since the previous one. Thread-safe.
class log_limiter {
  public:
    // nullopt: do not log this one; otherwise the number suppressed since the last line.
    std::optional<uint64_t> admit() {
        const int64_t now = steady_now_ms();
        int64_t next = next_ms_.load(std::memory_order_relaxed);
        if (now < next || !next_ms_.compare_exchange_strong(next, now + 1000)) {
            suppressed_.fetch_add(1, std::memory_order_relaxed);
            return std::nullopt;
        }
        return suppressed_.exchange(0, std::memory_order_relaxed);
    }

  private:
    std::atomic<int64_t> next_ms_{0};
    std::atomic<uint64_t> suppressed_{0};
};

// What the listener shares between the accept loops, the connections and stop().
struct server::state {
    std::mutex mu;
    bool stopping = false;
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors;
    std::vector<std::string> acceptor_names;
    std::vector<std::shared_ptr<const listener_security>> acceptor_security;
    // Open connections by id, so stop() can close idle ones.
    std::unordered_map<uint64_t, std::shared_ptr<connection_state>> open;
    // Accept loops paused at max.connections (their timers live on the first shard).
    std::vector<asio::steady_timer*> blocked;
    log_limiter per_ip_log;
    log_limiter blocked_log;
};

}  // namespace rill::net
