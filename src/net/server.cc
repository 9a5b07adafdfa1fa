#include "net/server.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <unordered_map>

#include "common/logging.h"
#include "common/metrics.h"
#include "common/work_pool.h"
#include "net/connection.h"

namespace rill::net {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = rill::logger("net");
    return l;
}

// Request bytes reserved since the last trim before freed memory is returned in a quiet second.
constexpr int64_t kTrimAfterBytes = 64LL << 20;

// Threads reading response file regions for TLS connections (mostly page-cache copies; a few
// threads keep a slow disk read from delaying every TLS consumer).
constexpr size_t kFileReadThreads = 2;

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

server::server(std::vector<asio::io_context*> shards, request_handler handler, server_limits limits)
    : shards_(std::move(shards)),
      handler_(std::move(handler)),
      limits_(std::move(limits)),
      budget_(limits_.max_inflight_bytes),
      quotas_(limits_.max_connections_per_ip, limits_.max_connections_per_ip_overrides),
      state_(std::make_shared<state>()) {
    for (auto* ctx : shards_)
        watches_.push_back(std::make_unique<hangup_watch>(*ctx));
    trimmer_ = std::make_unique<heap_trimmer>(kTrimAfterBytes, [this] { return budget_.used(); });
}

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
    const bool any_tls = std::any_of(listeners.begin(), listeners.end(), [](const auto& l) {
        return l.security && l.security->tls != nullptr;
    });
    if (any_tls && !file_reads_)
        file_reads_ = std::make_unique<work_pool>(kFileReadThreads, "rill-tls-read");
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
            log()->info("listening on {}:{} ({}, {})", ep.address().to_string(),
                        (*acc)->local_endpoint().port(), spec.name,
                        protocol_name(spec.security ? spec.security->protocol
                                                    : security_protocol::plaintext));
            std::lock_guard lock(state_->mu);
            state_->acceptors.push_back(std::move(*acc));
            state_->acceptor_names.push_back(spec.name);
            state_->acceptor_security.push_back(spec.security);
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
    // Accept loops paused at max.connections see `stopping` and end.
    asio::post(*shards_[0], [st = state_] {
        std::lock_guard l(st->mu);
        for (auto* t : st->blocked)
            t->cancel();
    });
    // Idle connections (and those waiting for budget or reading a body) close now; those
    // handling a request close after writing its response.
    for (auto& [id, c] : state_->open) {
        asio::post(c->sock.get_executor(), [c = c] {
            if (!c->in_request) c->close();
        });
    }
}

int64_t server::max_connections_now() const {
    return limits_.current_max_connections ? limits_.current_max_connections()
                                           : limits_.max_connections;
}

void server::connection_closed(const asio::ip::address& ip) {
    quotas_.remove(ip);
    --connections_;
    std::lock_guard lock(state_->mu);
    if (state_->blocked.empty()) return;
    asio::post(*shards_[0], [st = state_] {
        std::lock_guard l(st->mu);
        for (auto* t : st->blocked)
            t->cancel();
    });
}

awaitable<void> server::wait_for_connection_slot(size_t index) {
    if (quotas_.total() < max_connections_now()) co_return;
    metrics::registry::global().net().acceptor_blocked.add();
    if (auto suppressed = state_->blocked_log.admit())
        log()->warn(
            "max.connections ({}) reached: not accepting new connections until one closes ({} "
            "more since the last line)",
            max_connections_now(), *suppressed);
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (quotas_.total() >= max_connections_now()) {
        {
            std::lock_guard lock(state_->mu);
            if (state_->stopping) co_return;
            state_->blocked.push_back(&t);
        }
        // Woken by a closing connection; the period only picks up a dynamic max.connections.
        t.expires_after(std::chrono::seconds(1));
        boost::system::error_code ec;
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
        std::lock_guard lock(state_->mu);
        std::erase(state_->blocked, &t);
    }
    (void)index;
}

awaitable<void> server::accept_loop(size_t index) {
    tcp::acceptor* acc;
    std::string name;
    std::shared_ptr<const listener_security> security;
    {
        std::lock_guard lock(state_->mu);
        acc = state_->acceptors[index].get();
        name = state_->acceptor_names[index];
        security = state_->acceptor_security[index];
    }
    for (;;) {
        // Kafka blocks its acceptor at max.connections: new connections wait in the backlog.
        co_await wait_for_connection_slot(index);
        if (!acc->is_open()) co_return;
        const size_t shard = next_shard_.fetch_add(1) % shards_.size();
        boost::system::error_code ec;
        tcp::socket sock =
            co_await acc->async_accept(*shards_[shard], asio::redirect_error(use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acc->is_open()) co_return;
            log()->warn("accept failed: {}", ec.message());
            // Out of descriptors or similar: back off briefly rather than spin.
            asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(50));
            co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
            continue;
        }
        ++accepted_;
        auto remote = sock.remote_endpoint(ec);
        if (ec) {  // already gone
            sock.close(ec);
            continue;
        }
        const auto ip = normalize_address(remote.address());
        if (!quotas_.try_add(ip)) {
            metrics::registry::global().net().rejected_per_ip.add();
            if (auto suppressed = state_->per_ip_log.admit())
                log()->info(
                    "rejected connection from {}: it already has the maximum of {} connections "
                    "(max.connections.per.ip{}) ({} more since the last line)",
                    ip.to_string(), quotas_.limit_for(ip),
                    limits_.max_connections_per_ip_overrides.contains(ip) ? ".overrides" : "",
                    *suppressed);
            sock.close(ec);
            continue;
        }
        ++connections_;
        asio::co_spawn(*shards_[shard], run_connection(std::move(sock), name, security, ip, shard),
                       asio::detached);
    }
}

}  // namespace rill::net
