#include "net/server.h"

#include <sys/sendfile.h>

#include <chrono>
#include <mutex>
#include <unordered_map>

#include "common/logging.h"

namespace rill::net {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = rill::logger("net");
    return l;
}

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// Accounts request bytes against the broker-wide in-flight budget while a request lives.
struct budget_guard {
    std::atomic<int64_t>& total;
    int64_t held;
    void add(int64_t n) {
        total += n;
        held += n;
    }
    ~budget_guard() { total -= held; }
};

// Sends `len` bytes of `fd` from `offset` with sendfile, waiting for writability as needed.
awaitable<void> send_file_region(tcp::socket& sock, const protocol::file_region& region) {
    off_t off = region.position;
    int64_t left = region.length;
    while (left > 0) {
        ssize_t n = ::sendfile(sock.native_handle(), region.fd, &off,
                               static_cast<size_t>(std::min<int64_t>(left, 1 << 30)));
        if (n > 0) {
            left -= n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            co_await sock.async_wait(tcp::socket::wait_write, use_awaitable);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        // n == 0: the file is shorter than the region (truncated underneath us). The frame is
        // now unrecoverable for the client: close the connection rather than send garbage.
        throw boost::system::system_error(
            n == 0 ? boost::system::error_code(EIO, boost::system::system_category())
                   : boost::system::error_code(errno, boost::system::system_category()),
            "sendfile");
    }
}

awaitable<void> write_response(tcp::socket& sock, const response_frame& resp) {
    size_t pos = 0;
    for (const auto& sp : resp.splices) {
        if (sp.at > pos)
            co_await asio::async_write(sock, asio::buffer(resp.buffer.data() + pos, sp.at - pos),
                                       use_awaitable);
        pos = sp.at;
        co_await send_file_region(sock, sp.region);
    }
    if (pos < resp.buffer.size())
        co_await asio::async_write(
            sock, asio::buffer(resp.buffer.data() + pos, resp.buffer.size() - pos), use_awaitable);
}

}  // namespace

result<listener_spec, std::string> parse_listener(const std::string& uri) {
    auto sep = uri.find("://");
    if (sep == std::string::npos) return unexpected("listener '" + uri + "' lacks NAME://");
    listener_spec spec;
    spec.name = uri.substr(0, sep);
    std::string rest = uri.substr(sep + 3);
    std::string port_str;
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
            return unexpected("listener '" + uri + "' has a malformed IPv6 address");
        spec.host = rest.substr(1, close - 1);
        port_str = rest.substr(close + 2);
    } else {
        auto colon = rest.rfind(':');
        if (colon == std::string::npos) return unexpected("listener '" + uri + "' lacks a port");
        spec.host = rest.substr(0, colon);
        port_str = rest.substr(colon + 1);
    }
    int port = -1;
    try {
        size_t used = 0;
        port = std::stoi(port_str, &used);
        if (used != port_str.size()) port = -1;
    } catch (...) {
        port = -1;
    }
    if (port < 0 || port > 65535) return unexpected("listener '" + uri + "' has an invalid port");
    spec.port = static_cast<uint16_t>(port);
    return spec;
}

struct server::state {
    std::mutex mu;
    bool stopping = false;
    std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
    std::vector<std::string> acceptor_names;
    // Open sockets by connection id, so stop() can shut down idle ones.
    std::unordered_map<uint64_t, std::pair<tcp::socket*, bool*>> open;  // socket, busy flag
};

server::server(std::vector<asio::io_context*> shards, request_handler handler, server_limits limits)
    : shards_(std::move(shards)),
      handler_(std::move(handler)),
      limits_(limits),
      state_(std::make_shared<state>()) {}

server::~server() {
    stop();
}

result<std::vector<tcp::endpoint>, std::string> listen_endpoints(asio::io_context& ctx,
                                                                 const std::string& host,
                                                                 uint16_t port,
                                                                 const std::string& what) {
    std::vector<tcp::endpoint> endpoints;
    if (host.empty() || host == "0.0.0.0") {
        endpoints.emplace_back(tcp::v4(), port);
        return endpoints;
    }
    if (host == "::") {
        endpoints.emplace_back(tcp::v6(), port);
        return endpoints;
    }
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (!ec) {
        endpoints.emplace_back(addr, port);
        return endpoints;
    }
    tcp::resolver resolver(ctx);
    auto results = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return unexpected("cannot resolve " + what + " host '" + host + "': " + ec.message());
    for (const auto& r : results)
        endpoints.push_back(r.endpoint());
    if (endpoints.empty()) return unexpected("no address for " + what + " host '" + host + "'");
    return endpoints;
}

result<std::unique_ptr<tcp::acceptor>, std::string> open_acceptor(asio::io_context& ctx,
                                                                  const tcp::endpoint& ep,
                                                                  const std::string& what) {
    boost::system::error_code ec;
    auto acc = std::make_unique<tcp::acceptor>(ctx);
    acc->open(ep.protocol(), ec);
    if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec && ep.protocol() == tcp::v6()) acc->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        return unexpected("cannot listen on " + ep.address().to_string() + ":" +
                          std::to_string(ep.port()) + " (" + what + "): " + ec.message());
    return acc;
}

result<void, std::string> server::listen(const std::vector<listener_spec>& listeners) {
    for (size_t i = 0; i < listeners.size(); ++i) {
        const auto& spec = listeners[i];
        auto endpoints = listen_endpoints(*shards_[0], spec.host, spec.port, "listener");
        if (!endpoints) return unexpected(endpoints.error());
        bool bound_any = false;
        std::string last_error;
        for (const auto& ep : *endpoints) {
            auto acc = open_acceptor(*shards_[0], ep, spec.name);
            if (!acc) {
                last_error = acc.error();
                continue;  // e.g. localhost's ::1 unavailable: another address may do
            }
            bound_any = true;
            log()->info("listening on {}:{} ({})", ep.address().to_string(),
                        (*acc)->local_endpoint().port(), spec.name);
            std::lock_guard lock(state_->mu);
            state_->acceptors.push_back(std::move(*acc));
            state_->acceptor_names.push_back(spec.name);
        }
        if (!bound_any) return unexpected(last_error);
    }
    std::lock_guard lock(state_->mu);
    for (size_t i = 0; i < state_->acceptors.size(); ++i)
        asio::co_spawn(*shards_[0], accept_loop(i), asio::detached);
    return {};
}

uint16_t server::bound_port(size_t i) const {
    std::lock_guard lock(state_->mu);
    if (i >= state_->acceptors.size()) return 0;
    boost::system::error_code ec;
    auto ep = state_->acceptors[i]->local_endpoint(ec);
    return ec ? 0 : ep.port();
}

void server::stop() {
    std::lock_guard lock(state_->mu);
    if (state_->stopping) return;
    state_->stopping = true;
    for (auto& acc : state_->acceptors) {
        asio::post(acc->get_executor(), [a = acc.get()] {
            boost::system::error_code ec;
            a->close(ec);
        });
    }
    // Idle connections close now; busy ones close after their current response.
    for (auto& [id, entry] : state_->open) {
        auto [sock, busy] = entry;
        asio::post(sock->get_executor(), [sock = sock, busy = busy, st = state_, id = id] {
            std::lock_guard l(st->mu);
            if (!st->open.contains(id)) return;
            boost::system::error_code ec;
            if (!*busy) sock->shutdown(tcp::socket::shutdown_both, ec);
        });
    }
}

awaitable<void> server::accept_loop(size_t index) {
    tcp::acceptor* acc;
    std::string name;
    {
        std::lock_guard lock(state_->mu);
        acc = state_->acceptors[index].get();
        name = state_->acceptor_names[index];
    }
    for (;;) {
        auto& shard = *shards_[next_shard_.fetch_add(1) % shards_.size()];
        boost::system::error_code ec;
        tcp::socket sock =
            co_await acc->async_accept(shard, asio::redirect_error(use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acc->is_open()) co_return;
            log()->warn("accept failed: {}", ec.message());
            // Out of descriptors or similar: back off briefly rather than spin.
            asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
            co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
            continue;
        }
        ++accepted_;
        if (connections_.load() >= static_cast<size_t>(limits_.max_connections)) {
            log()->warn("max.connections ({}) reached; closing new connection",
                        limits_.max_connections);
            sock.close(ec);
            continue;
        }
        asio::co_spawn(shard, run_connection(std::move(sock), name), asio::detached);
    }
}

awaitable<void> server::run_connection(tcp::socket sock, std::string listener_name) {
    connection_info info;
    info.id = next_id_.fetch_add(1);
    info.listener_name = std::move(listener_name);
    boost::system::error_code ec;
    auto remote = sock.remote_endpoint(ec);
    info.peer = ec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
    sock.set_option(tcp::no_delay(true), ec);
    if (limits_.send_buffer_bytes > 0)
        sock.set_option(asio::socket_base::send_buffer_size(limits_.send_buffer_bytes), ec);
    if (limits_.receive_buffer_bytes > 0)
        sock.set_option(asio::socket_base::receive_buffer_size(limits_.receive_buffer_bytes), ec);

    bool busy = false;
    {
        std::lock_guard lock(state_->mu);
        if (state_->stopping) co_return;
        state_->open[info.id] = {&sock, &busy};
    }
    ++connections_;
    log()->debug("connection {} from {}", info.id, info.peer);

    // Idle watchdog: closes the socket when no request arrived for connections.max.idle.ms.
    auto last_activity = std::make_shared<int64_t>(now_ms());
    auto alive = std::make_shared<bool>(true);
    auto watchdog = std::make_shared<asio::steady_timer>(sock.get_executor());
    auto idle_ms = limits_.idle_timeout_ms;
    std::function<void()> arm = [&, watchdog, last_activity, alive, idle_ms]() {
        watchdog->expires_after(std::chrono::milliseconds(std::min<int64_t>(idle_ms, 1000)));
        watchdog->async_wait(
            [&, watchdog, last_activity, alive, idle_ms](const boost::system::error_code& e) {
                if (e || !*alive) return;
                if (!busy && now_ms() - *last_activity >= idle_ms) {
                    log()->debug("connection {} idle for {} ms; closing", info.id, idle_ms);
                    boost::system::error_code ignore;
                    sock.shutdown(tcp::socket::shutdown_both, ignore);
                    return;
                }
                arm();
            });
    };
    arm();

    try {
        for (;;) {
            uint8_t size_buf[4];
            co_await asio::async_read(sock, asio::buffer(size_buf), use_awaitable);
            int32_t size =
                static_cast<int32_t>((uint32_t(size_buf[0]) << 24) | (uint32_t(size_buf[1]) << 16) |
                                     (uint32_t(size_buf[2]) << 8) | uint32_t(size_buf[3]));
            if (size < 0 || size > limits_.max_request_bytes) {
                log()->warn(
                    "connection {} from {}: request size {} outside [0, {}] "
                    "(socket.request.max.bytes); closing",
                    info.id, info.peer, size, limits_.max_request_bytes);
                break;
            }
            // Read the body in growing chunks, so memory follows the bytes actually received
            // (a stalled half-sent frame holds little), within the broker-wide budget.
            auto body = std::make_shared<protocol::bytes>();
            // Reserve the whole frame once (address space only until bytes arrive): growing
            // it chunk by chunk copied it again at every step (bench/: half of produce CPU).
            body->reserve(static_cast<size_t>(size));
            budget_guard budget{inflight_bytes_, 0};
            size_t got = 0;
            while (got < static_cast<size_t>(size)) {
                size_t chunk = std::min<size_t>(static_cast<size_t>(size) - got,
                                                std::max<size_t>(64 * 1024, got));
                // Wait while over budget and others hold some (one request alone always
                // proceeds, however large).
                while (inflight_bytes_.load() - budget.held > 0 &&
                       inflight_bytes_.load() + static_cast<int64_t>(chunk) >
                           limits_.max_inflight_bytes) {
                    asio::steady_timer t(sock.get_executor(), std::chrono::milliseconds(5));
                    co_await t.async_wait(use_awaitable);
                }
                budget.add(static_cast<int64_t>(chunk));
                body->resize(got + chunk);
                co_await asio::async_read(sock, asio::buffer(body->data() + got, chunk),
                                          use_awaitable);
                got += chunk;
            }
            *last_activity = now_ms();
            busy = true;
            // The frame is built outside the co_await expression (GCC 12 may destroy
            // temporaries of a co_await full-expression twice).
            auto handling = handler_(info, request_frame{std::move(body)});
            handler_result res = co_await std::move(handling);
            if (res.response) co_await write_response(sock, *res.response);
            busy = false;
            *last_activity = now_ms();
            if (res.close) break;
            bool stopping;
            {
                std::lock_guard lock(state_->mu);
                stopping = state_->stopping;
            }
            if (stopping) break;
        }
    } catch (const boost::system::system_error& e) {
        if (e.code() != asio::error::eof && e.code() != asio::error::connection_reset &&
            e.code() != asio::error::operation_aborted && e.code() != asio::error::broken_pipe)
            log()->debug("connection {} from {}: {}", info.id, info.peer, e.what());
    } catch (const std::exception& e) {
        log()->error("connection {} from {}: unexpected error: {}", info.id, info.peer, e.what());
    }
    *alive = false;
    watchdog->cancel();
    {
        std::lock_guard lock(state_->mu);
        state_->open.erase(info.id);
    }
    sock.close(ec);
    --connections_;
    log()->debug("connection {} closed", info.id);
}

}  // namespace rill::net
