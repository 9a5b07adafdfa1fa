#include "admin/http_server.h"

#include <optional>
#include <set>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/logging.h"
#include "net/server.h"

namespace rill::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = rill::logger("admin");
    return l;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

// Streams of open sessions (admin thread only), so stop() can close idle keep-alive ones.
struct http_server::session_set {
    std::set<beast::tcp_stream*> open;
    bool stopping = false;
};

http_server::http_server(request_handler handler, http_limits limits)
    : handler_(std::move(handler)), limits_(limits), sessions_(std::make_unique<session_set>()) {}

http_server::~http_server() {
    stop();
}

result<void, std::string> http_server::listen(const std::string& host, uint16_t port) {
    auto endpoints = net::listen_endpoints(ctx_, host, port, "admin");
    if (!endpoints) return unexpected(endpoints.error());
    std::string last_error;
    bool bound = false;
    for (const auto& ep : *endpoints) {
        auto acc = net::open_acceptor(ctx_, ep, "admin");
        if (!acc) {
            last_error = acc.error();
            continue;
        }
        log()->info("admin endpoint listening on http://{}:{}", ep.address().to_string(),
                    (*acc)->local_endpoint().port());
        acceptors_.push_back(std::move(*acc));
        bound = true;
    }
    if (!bound) return unexpected(last_error);
    return {};
}

uint16_t http_server::bound_port(size_t i) const {
    return acceptors_.at(i)->local_endpoint().port();
}

void http_server::start() {
    for (size_t i = 0; i < acceptors_.size(); ++i)
        asio::co_spawn(ctx_, accept_loop(i), asio::detached);
    thread_ = std::thread([this] {
        auto guard = asio::make_work_guard(ctx_);
        ctx_.run();
    });
}

void http_server::stop() {
    if (stopped_) return;
    stopped_ = true;
    if (thread_.joinable()) {
        asio::post(ctx_, [this] {
            sessions_->stopping = true;
            boost::system::error_code ec;
            for (auto& a : acceptors_)
                a->close(ec);
            for (auto* s : sessions_->open)
                s->socket().close(ec);
        });
        // In-flight handlers get a moment to answer; then the thread stops regardless.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (connections_.load() > 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ctx_.stop();
        thread_.join();
    }
}

asio::awaitable<void> http_server::accept_loop(size_t i) {
    auto& acc = *acceptors_[i];
    for (;;) {
        boost::system::error_code ec;
        tcp::socket socket =
            co_await acc.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (!acc.is_open() || sessions_->stopping) co_return;
            log()->warn("admin accept failed: {}", ec.message());
            asio::steady_timer t(ctx_, std::chrono::milliseconds(100));
            co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        asio::co_spawn(ctx_, run_session(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> http_server::run_session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    connections_.fetch_add(1);
    sessions_->open.insert(&stream);
    struct cleanup {
        http_server* self;
        beast::tcp_stream* s;
        ~cleanup() {
            self->sessions_->open.erase(s);
            self->connections_.fetch_sub(1);
        }
    } on_exit{this, &stream};

    boost::system::error_code ec;
    auto send = [&](const response& r, unsigned version, bool keep_alive) -> asio::awaitable<void> {
        http::response<http::string_body> res{static_cast<http::status>(r.status), version};
        res.set(http::field::server, "rill");
        res.set(http::field::content_type, r.content_type);
        res.set(http::field::cache_control, "no-store");
        for (const auto& [k, v] : r.headers)
            res.set(k, v);
        res.keep_alive(keep_alive);
        res.body() = r.body;
        res.prepare_payload();
        stream.expires_after(limits_.write_timeout);
        co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
    };

    if (connections_.load() > limits_.max_connections) {
        const response busy = error_response(503, "Too many admin connections");
        co_await send(busy, 11, false);
        co_return;
    }

    beast::flat_buffer buffer;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(limits_.max_header_bytes));
        parser.body_limit(limits_.max_body_bytes);
        stream.expires_after(limits_.read_timeout);
        co_await http::async_read_header(stream, buffer, parser,
                                         asio::redirect_error(asio::use_awaitable, ec));
        // curl and others wait for "100 Continue" before sending a larger body.
        if (!ec && !parser.is_done() &&
            beast::iequals(parser.get()[http::field::expect], "100-continue")) {
            http::response<http::empty_body> cont{http::status::continue_, 11};
            co_await http::async_write(stream, cont, asio::redirect_error(asio::use_awaitable, ec));
        }
        if (!ec && !parser.is_done())
            co_await http::async_read(stream, buffer, parser,
                                      asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::end_of_stream || ec == beast::error::timeout) break;
        if (ec) {
            // Answer what can be answered, then close. (The response is built in its own
            // statement: GCC 12 may destroy temporaries inside a co_await expression twice.)
            std::optional<response> refusal;
            if (ec == http::error::body_limit)
                refusal =
                    error_response(413, "Request body larger than " +
                                            std::to_string(limits_.max_body_bytes) + " bytes");
            else if (ec == http::error::header_limit)
                refusal = error_response(431, "Request header too large");
            else if (ec != asio::error::operation_aborted && ec != asio::error::connection_reset &&
                     ec != asio::error::bad_descriptor)
                refusal = error_response(400, "Malformed HTTP request: " + ec.message());
            if (refusal) co_await send(*refusal, 11, false);
            break;
        }
        auto& msg = parser.get();
        const bool keep_alive = msg.keep_alive() && !sessions_->stopping;
        response res;
        auto target = parse_target(std::string_view(msg.target().data(), msg.target().size()));
        if (!target) {
            res = error_response(400, "Malformed request target");
        } else {
            request req;
            req.method = std::string(msg.method_string());
            req.path = std::move(target->path);
            req.query = std::move(target->query);
            req.body = std::move(msg.body());
            req.content_type = lower(std::string(msg[http::field::content_type]));
            req.authorization = std::string(msg[http::field::authorization]);
            try {
                res = co_await handler_(req);
            } catch (const std::exception& e) {
                log()->error("admin {} {} failed: {}", req.method, req.path, e.what());
                res = error_response(500, std::string("Internal error: ") + e.what());
            }
        }
        co_await send(res, msg.version(), keep_alive);
        if (ec || !keep_alive) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

}  // namespace rill::admin
