#include "admin/server.h"

#include <charconv>

#include "admin/context.h"
#include "admin/http_server.h"
#include "admin/v3_bodies.h"
#include "broker/broker.h"
#include "broker/latch.h"
#include "broker/partition_manager.h"
#include "common/clock.h"
#include "common/logging.h"
#include "net/server.h"

namespace rill::admin {

namespace asio = boost::asio;

namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = rill::logger("admin");
    return l;
}

bool is_mutating(const std::string& method) {
    return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

// Constant-time comparison, so the token cannot be guessed byte by byte from timings.
bool same_secret(std::string_view a, std::string_view b) {
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned>(a[i]) ^ static_cast<unsigned>(i < b.size() ? b[i] : 0);
    return diff == 0;
}

}  // namespace

// ---- shared helpers (context.h) ----

std::string context::cluster_id() const {
    return b.metadata().snapshot()->cluster_id;
}

std::shared_ptr<const cluster::metadata_snapshot> context::snapshot() const {
    return b.metadata().snapshot();
}

std::vector<std::pair<std::string, int32_t>> all_partitions(const cluster::metadata_snapshot& snap,
                                                            bool include_internal) {
    std::vector<std::pair<std::string, int32_t>> out;
    for (const auto& [name, t] : snap.topics) {
        if (t.internal && !include_internal) continue;
        for (const auto& p : t.partitions)
            out.emplace_back(name, p.id);
    }
    return out;
}

asio::awaitable<std::vector<partition_state>> collect_partition_states(
    context& ctx, const std::vector<std::pair<std::string, int32_t>>& partitions) {
    struct item {
        std::shared_ptr<broker::partition> part;
        partition_state st;
    };
    auto& pm = ctx.b.partitions();
    std::vector<item> items(partitions.size());
    for (size_t i = 0; i < partitions.size(); ++i) {
        items[i].st.topic = partitions[i].first;
        items[i].st.partition = partitions[i].second;
        items[i].part = pm.find({partitions[i].first, partitions[i].second});
        if (!items[i].part)
            items[i].st.offline = pm.is_offline({partitions[i].first, partitions[i].second});
    }
    auto read_state = [](broker::partition& p, item& it) {
        if (p.removed() || !p.log) return;
        it.st.hosted = true;
        it.st.offline = p.log->offline();
        it.st.log_start_offset = p.log->log_start_offset();
        it.st.high_watermark = p.log->high_watermark();
        it.st.log_end_offset = p.log->log_end_offset();
        it.st.size_bytes = p.log->size_bytes();
        it.st.leader_epoch = p.leader_epoch();
    };
    co_await pm.run_on_owners(items, read_state);
    std::vector<partition_state> out;
    out.reserve(items.size());
    for (auto& it : items)
        out.push_back(std::move(it.st));
    co_return out;
}

int64_t total_lag(const std::vector<coordinator::partition_lag_view>& lags) {
    int64_t sum = 0;
    for (const auto& l : lags)
        sum += std::max<int64_t>(l.lag, 0);
    return sum;
}

void record_lag_sample(context& ctx, const std::string& group, int64_t lag, int64_t now) {
    auto& h = ctx.lag_history[group];
    // At most one sample per second (on-demand samples from the console and the sampler).
    if (!h.empty() && now - h.back().first < 1000) {
        h.back().second = lag;
        return;
    }
    h.emplace_back(now, lag);
    while (h.size() > kLagHistory)
        h.pop_front();
}

json config_json(std::string_view name, const std::optional<std::string>& value) {
    const config_def* def = find_broker_config(name);
    if (!def) def = find_topic_config(name);
    if (!value) return nullptr;
    if (def && (def->sensitive || def->type == config_type::password)) return "[secret]";
    if (def) {
        switch (def->type) {
            case config_type::boolean:
                if (*value == "true") return true;
                if (*value == "false") return false;
                break;
            case config_type::int32:
            case config_type::int64:
                if (auto v = parse_int(*value)) return *v;
                if (!value->empty() && (*value)[0] == '-') {
                    if (auto v = parse_int(value->substr(1))) return -*v;
                }
                break;
            case config_type::float64:
                try {
                    return std::stod(*value);
                } catch (const std::exception&) {
                }
                break;
            default:
                break;
        }
    }
    return *value;
}

std::optional<json> parse_json_object(const request& req, response& err) {
    auto j = parse_json_object(std::string_view(req.body));
    if (!j) {
        err = j.error();
        return std::nullopt;
    }
    return std::move(*j);
}

std::optional<int64_t> parse_int(std::string_view s) {
    int64_t v = 0;
    if (s.empty()) return std::nullopt;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
    return v;
}

// ---- the server ----

struct server::state {
    context ctx;
    router routes;
    std::unique_ptr<http_server> http;
    bool sampler_started = false;

    state(broker::broker& b, const net::server* kafka, group_source* groups)
        : ctx{.b = b, .kafka = kafka, .groups = groups} {}
};

server::server(broker::broker& b, const net::server* kafka, group_source* groups)
    : st_(std::make_unique<state>(b, kafka, groups)) {
    st_->ctx.token = b.config().get_string("admin.auth.token");
    add_v1_routes(st_->routes, st_->ctx);
    add_v3_routes(st_->routes, st_->ctx);
    add_metrics_routes(st_->routes, st_->ctx);
    add_console_routes(st_->routes);
    http_limits limits;
    st_->http = std::make_unique<http_server>([this](request& req) { return handle(req); }, limits);
}

server::~server() {
    stop();
}

result<void, std::string> server::listen(const std::vector<std::string>& uris) {
    for (const auto& uri : uris) {
        auto spec = net::parse_listener(uri);
        if (!spec) return unexpected{"admin.listeners: " + spec.error()};
        if (spec->name != "http" && spec->name != "HTTP")
            return unexpected{"admin.listeners: '" + uri +
                              "' must be an http:// URI (https is not supported yet)"};
        if (auto r = st_->http->listen(spec->host, spec->port); !r)
            return unexpected{"admin.listeners: " + r.error()};
    }
    return {};
}

uint16_t server::bound_port(size_t i) const {
    return st_->http->bound_port(i);
}

void server::set_ready(bool ready) {
    st_->ctx.ready = ready;
}

namespace {

// Samples every group's total lag every 5 s for the console's lag chart.
asio::awaitable<void> lag_sampler(context& ctx) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        if (ctx.groups) {
            try {
                auto groups = co_await ctx.groups->list_groups();
                std::set<std::string> seen;
                size_t n = 0;
                for (const auto& g : groups) {
                    if (++n > 1000) break;  // bounded work per round
                    seen.insert(g.group_id);
                    auto op = ctx.groups->group_lag(g.group_id);
                    auto lags = co_await std::move(op);
                    record_lag_sample(ctx, g.group_id, total_lag(lags), wall_clock_ms());
                }
                std::erase_if(ctx.lag_history,
                              [&](const auto& kv) { return !seen.contains(kv.first); });
            } catch (const std::exception& e) {
                log()->warn("lag sampling failed: {}", e.what());
            }
        }
        timer.expires_after(std::chrono::seconds(5));
        boost::system::error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return;
    }
}

}  // namespace

void server::start() {
    asio::co_spawn(st_->http->context(), lag_sampler(st_->ctx), asio::detached);
    st_->http->start();
}

void server::stop() {
    if (st_ && st_->http) st_->http->stop();
}

asio::awaitable<response> server::handle(request& req) {
    auto m = st_->routes.find(req.method, req.path);
    if (!m.r) {
        if (m.method_mismatch)
            co_return error_response(405, "Method " + req.method + " not allowed on " + req.path);
        co_return error_response(404, "No such resource: " + req.path);
    }
    if (!st_->ctx.token.empty() && (m.r->mutating || is_mutating(req.method))) {
        const std::string prefix = "Bearer ";
        bool ok =
            req.authorization.size() > prefix.size() &&
            req.authorization.compare(0, prefix.size(), prefix) == 0 &&
            same_secret(std::string_view(req.authorization).substr(prefix.size()), st_->ctx.token);
        if (!ok) {
            auto r =
                error_response(401, "This call needs 'Authorization: Bearer <admin token>'", 40101);
            r.headers.emplace_back("WWW-Authenticate", "Bearer");
            co_return r;
        }
    }
    req.params = std::move(m.params);
    co_return co_await m.r->fn(req);
}

}  // namespace rill::admin
