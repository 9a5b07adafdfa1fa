// Redpanda-shaped operations routes: status, health, brokers, partitions, cluster and node
// config, loggers.
#include <filesystem>
#include <set>

#include "admin/context.h"
#include "broker/broker.h"
#include "broker/latch.h"
#include "broker/partition_manager.h"
#include "common/config.h"
#include "common/logging.h"

namespace rill::admin {

namespace asio = boost::asio;

namespace {

constexpr size_t kListCap = 128;  // health lists are truncated like Redpanda's

json broker_json(context& ctx, const cluster::broker_info& bi) {
    json j;
    j["node_id"] = bi.id;
    j["num_cores"] = ctx.b.shards().size();
    if (bi.rack) j["rack"] = *bi.rack;
    j["membership_status"] = "active";
    j["is_alive"] = true;
    j["version"] = RILL_VERSION;
    j["maintenance_status"] = {{"draining", false}};
    json eps = json::array();
    for (const auto& ep : bi.endpoints)
        eps.push_back({{"name", ep.listener_name}, {"address", ep.host}, {"port", ep.port}});
    j["kafka_endpoints"] = eps;
    if (!bi.endpoints.empty()) {
        j["internal_rpc_address"] = bi.endpoints.front().host;
        j["internal_rpc_port"] = bi.endpoints.front().port;
    }
    json disks = json::array();
    if (bi.id == ctx.b.node_id()) {
        std::vector<std::string> dirs = ctx.b.config().get_list("log.dirs");
        if (dirs.empty()) dirs = {ctx.b.config().get_string("log.dir")};
        for (const auto& d : dirs) {
            std::error_code ec;
            auto sp = std::filesystem::space(d, ec);
            if (ec) continue;
            disks.push_back({{"path", d}, {"free", sp.available}, {"total", sp.capacity}});
        }
    }
    j["disk_space"] = disks;
    return j;
}

// The health of the cluster from metadata and the hosted logs.
struct health {
    std::vector<std::string> leaderless;
    std::vector<std::string> under_replicated;
    std::vector<std::string> offline;  // partitions offline on this broker
    size_t leaderless_count = 0;
    size_t under_replicated_count = 0;
    size_t offline_count = 0;
    std::vector<storage::log_manager::failed_dir> failed_log_dirs;  // this broker's
};

asio::awaitable<health> compute_health(context& ctx) {
    auto snap = ctx.snapshot();
    const auto tps = all_partitions(*snap);
    auto states = co_await collect_partition_states(ctx, tps);
    std::map<std::pair<std::string, int32_t>, const partition_state*> by_tp;
    for (const auto& s : states)
        by_tp[{s.topic, s.partition}] = &s;
    health h;
    h.failed_log_dirs = ctx.b.partitions().logs().failed_log_dirs();
    for (const auto& [name, t] : snap->topics) {
        for (const auto& p : t.partitions) {
            std::string id = "kafka/" + name + "/" + std::to_string(p.id);
            if (auto it = by_tp.find({name, p.id}); it != by_tp.end() && it->second->offline) {
                ++h.offline_count;
                if (h.offline.size() < kListCap) h.offline.push_back(id);
            }
            bool leader_alive = p.leader >= 0 && snap->brokers.contains(p.leader);
            // A partition this broker leads but cannot serve (no log, log offline) has no
            // working leader either.
            if (leader_alive && p.leader == ctx.b.node_id()) {
                auto it = by_tp.find({name, p.id});
                if (it == by_tp.end() || !it->second->hosted || it->second->offline)
                    leader_alive = false;
            }
            if (!leader_alive) {
                ++h.leaderless_count;
                if (h.leaderless.size() < kListCap) h.leaderless.push_back(id);
            }
            if (p.isr.size() < p.replicas.size()) {
                ++h.under_replicated_count;
                if (h.under_replicated.size() < kListCap) h.under_replicated.push_back(id);
            }
        }
    }
    co_return h;
}

asio::awaitable<response> partitions_route(context& ctx, request& req, bool single) {
    if (req.param("ns") != "kafka")
        co_return error_response(404, "Unknown namespace '" + req.param("ns") + "'");
    auto snap = ctx.snapshot();
    const auto* t = snap->find_topic(req.param("topic"));
    if (!t) co_return error_response(404, "Topic '" + req.param("topic") + "' does not exist");
    std::vector<std::pair<std::string, int32_t>> wanted;
    if (single) {
        auto p = parse_int(req.param("partition"));
        if (!p || *p >= static_cast<int64_t>(t->partitions.size()))
            co_return error_response(404, "Partition '" + req.param("partition") +
                                              "' does not exist in topic '" + t->name + "'");
        wanted.emplace_back(t->name, static_cast<int32_t>(*p));
    } else {
        for (const auto& p : t->partitions)
            wanted.emplace_back(t->name, p.id);
    }
    auto states = co_await collect_partition_states(ctx, wanted);
    json out = json::array();
    for (const auto& st : states) {
        const auto& p = t->partitions[static_cast<size_t>(st.partition)];
        json j;
        j["ns"] = "kafka";
        j["topic"] = t->name;
        j["partition_id"] = p.id;
        j["leader_id"] = p.leader;
        j["leader_epoch"] = p.leader_epoch;
        json replicas = json::array();
        for (int32_t r : p.replicas) {
            json rj = {{"node_id", r}};
            if (r == ctx.b.node_id() && st.hosted)
                rj["core"] = ctx.b.partitions().shard_of({t->name, p.id});
            replicas.push_back(rj);
        }
        j["replicas"] = replicas;
        j["isr"] = p.isr;
        j["status"] = st.offline ? "offline" : !st.hosted ? "unavailable" : "done";
        j["log_start_offset"] = st.log_start_offset;
        j["high_watermark"] = st.high_watermark;
        j["log_end_offset"] = st.log_end_offset;
        j["size_bytes"] = st.size_bytes;
        out.push_back(std::move(j));
    }
    if (single) co_return response::json_body(out[0]);
    co_return response::json_body(out);
}

asio::awaitable<response> put_cluster_config(context& ctx, request& req) {
    response err;
    auto body = parse_json_object(req, err);
    if (!body) co_return err;
    bool dry_run = req.q("dry_run").value_or("false") == "true";
    auto& cfg = ctx.b.config();
    broker_config trial = cfg;
    json errors = json::object();
    auto as_string = [](const json& v) -> std::optional<std::string> {
        if (v.is_string()) return v.get<std::string>();
        if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
        if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
        if (v.is_number()) return v.dump();
        if (v.is_array()) {
            std::string s;
            for (const auto& e : v) {
                if (!e.is_string()) return std::nullopt;
                s += (s.empty() ? "" : ",") + e.get<std::string>();
            }
            return s;
        }
        return std::nullopt;
    };
    if (auto up = body->find("upsert"); up != body->end()) {
        if (!up->is_object()) co_return error_response(400, "'upsert' must be an object");
        for (const auto& [k, v] : up->items()) {
            auto s = as_string(v);
            if (!s) {
                errors[k] = "unsupported value type";
                continue;
            }
            if (auto r = trial.set_dynamic(k, *s); !r) errors[k] = r.error();
        }
    }
    if (auto rm = body->find("remove"); rm != body->end()) {
        if (!rm->is_array()) co_return error_response(400, "'remove' must be an array of names");
        for (const auto& k : *rm) {
            if (!k.is_string()) co_return error_response(400, "'remove' must hold names");
            trial.erase_dynamic(k.get<std::string>());
        }
    }
    if (!errors.empty()) {
        json j;
        j["error_code"] = 40001;
        j["code"] = 400;
        j["message"] = "Invalid cluster configuration";
        j["errors"] = errors;
        co_return response::json_body(j, 400);
    }
    if (dry_run)
        co_return response::json_body(
            {{"config_version", ctx.config_version.load()}, {"dry_run", true}});
    cfg.replace_dynamic(trial.dynamic_values());
    uint64_t v = ++ctx.config_version;
    rill::logger("admin")->info("cluster config changed over HTTP (version {})", v);
    co_return response::json_body({{"config_version", v}});
}

asio::awaitable<response> set_log_level(context& ctx, request& req) {
    const std::string name = req.param("logger");
    auto lg = spdlog::get(name);
    if (!lg) co_return error_response(404, "No logger named '" + name + "'");
    auto level_s = req.q("level");
    if (!level_s) co_return error_response(400, "Query parameter 'level' is required");
    auto level = spdlog::level::from_str(*level_s);
    if (level == spdlog::level::off && *level_s != "off")
        co_return error_response(400, "Unknown level '" + *level_s +
                                          "' (trace, debug, info, warn, error, critical, off)");
    int64_t expires = 600;
    if (auto e = req.q("expires")) {
        auto v = parse_int(*e);
        if (!v) co_return error_response(400, "'expires' must be a number of seconds");
        expires = *v;
    }
    auto previous = lg->level();
    lg->set_level(level);
    if (expires > 0) {
        // Revert after `expires` seconds unless the level was changed again meanwhile.
        auto ex = co_await asio::this_coro::executor;
        auto timer = std::make_shared<asio::steady_timer>(ex, std::chrono::seconds(expires));
        timer->async_wait([timer, lg, level, previous](const boost::system::error_code& ec) {
            if (!ec && lg->level() == level) lg->set_level(previous);
        });
    }
    (void)ctx;
    co_return response::json_body({{"name", name},
                                   {"level", spdlog::level::to_string_view(level).data()},
                                   {"expires", expires}});
}

}  // namespace

void add_v1_routes(router& r, context& ctx) {
    r.add("GET", "/v1/status/live", [&ctx](request&) -> asio::awaitable<response> {
        // Live when every shard's event loop answers within 2 s.
        auto ex = co_await asio::this_coro::executor;
        const auto& shards = ctx.b.shards();
        auto done = broker::latch::make(ex, shards.size());
        for (auto* s : shards)
            asio::post(*s, [done] { done->count_down(); });
        bool ok = co_await done->wait(std::chrono::seconds(2));
        done->finish();
        if (!ok) co_return response::json_body({{"status", "stalled"}}, 503);
        co_return response::json_body({{"status", "live"}});
    });
    r.add("GET", "/v1/status/ready", [&ctx](request&) -> asio::awaitable<response> {
        if (!ctx.ready) co_return response::json_body({{"status", "booting"}}, 503);
        co_return response::json_body({{"status", "ready"}});
    });
    r.add("GET", "/v1/cluster/health_overview", [&ctx](request&) -> asio::awaitable<response> {
        auto snap = ctx.snapshot();
        health h = co_await compute_health(ctx);
        json j;
        json reasons = json::array();
        if (h.leaderless_count) reasons.push_back("leaderless_partitions");
        if (h.under_replicated_count) reasons.push_back("under_replicated_partitions");
        if (h.offline_count) reasons.push_back("offline_partitions");
        if (!h.failed_log_dirs.empty()) reasons.push_back("offline_log_dirs");
        if (snap->controller_id < 0) reasons.push_back("no_elected_controller");
        j["is_healthy"] = reasons.empty();
        j["unhealthy_reasons"] = reasons;
        j["controller_id"] = snap->controller_id;
        json nodes = json::array();
        for (const auto& [id, _] : snap->brokers)
            nodes.push_back(id);
        j["all_nodes"] = nodes;
        j["nodes_down"] = json::array();
        j["nodes_in_recovery_mode"] = json::array();
        j["leaderless_partitions"] = h.leaderless;
        j["leaderless_count"] = h.leaderless_count;
        j["under_replicated_partitions"] = h.under_replicated;
        j["under_replicated_count"] = h.under_replicated_count;
        j["offline_partitions"] = h.offline;
        j["offline_partitions_count"] = h.offline_count;
        json dirs = json::array();
        for (const auto& f : h.failed_log_dirs)
            dirs.push_back(
                {{"node_id", ctx.b.node_id()}, {"path", f.dir}, {"error", f.cause.message}});
        j["offline_log_dirs"] = dirs;
        j["high_disk_usage_nodes"] = json::array();
        co_return response::json_body(j);
    });
    r.add("GET", "/v1/brokers", [&ctx](request&) -> asio::awaitable<response> {
        auto snap = ctx.snapshot();
        json out = json::array();
        for (const auto& [id, bi] : snap->brokers)
            out.push_back(broker_json(ctx, bi));
        co_return response::json_body(out);
    });
    r.add("GET", "/v1/brokers/{id}", [&ctx](request& req) -> asio::awaitable<response> {
        auto snap = ctx.snapshot();
        auto id = parse_int(req.param("id"));
        auto it = id && *id <= INT32_MAX ? snap->brokers.find(static_cast<int32_t>(*id))
                                         : snap->brokers.end();
        if (it == snap->brokers.end())
            co_return error_response(404, "Broker '" + req.param("id") + "' does not exist");
        co_return response::json_body(broker_json(ctx, it->second));
    });
    r.add("GET", "/v1/partitions/{ns}/{topic}",
          [&ctx](request& req) { return partitions_route(ctx, req, false); });
    r.add("GET", "/v1/partitions/{ns}/{topic}/{partition}",
          [&ctx](request& req) { return partitions_route(ctx, req, true); });
    r.add("GET", "/v1/cluster_config", [&ctx](request& req) -> asio::awaitable<response> {
        const auto& cfg = ctx.b.config();
        bool include_defaults = req.q("include_defaults").value_or("true") != "false";
        auto key = req.q("key");
        json out = json::object();
        for (const auto& def : broker_config_defs()) {
            if (def.read_only) continue;  // cluster_config lists the dynamic keys
            if (key && *key != def.name) continue;
            if (!include_defaults && cfg.source(def.name) == config_source::default_config)
                continue;
            out[std::string(def.name)] = config_json(def.name, cfg.get(def.name));
        }
        if (key && out.empty())
            co_return error_response(404, "No dynamic broker config named '" + *key + "'");
        co_return response::json_body(out);
    });
    r.add(
        "PUT", "/v1/cluster_config", [&ctx](request& req) { return put_cluster_config(ctx, req); },
        true);
    r.add("GET", "/v1/cluster_config/schema", [](request&) -> asio::awaitable<response> {
        json props = json::object();
        for (const auto& def : broker_config_defs()) {
            json p;
            static constexpr const char* kTypes[] = {"boolean", "integer", "integer", "number",
                                                     "string",  "array",   "string"};
            p["type"] = kTypes[static_cast<int>(def.type)];
            p["description"] = std::string(def.doc);
            p["needs_restart"] = def.read_only;
            p["is_secret"] = def.sensitive;
            p["default"] = def.sensitive || !def.default_value
                               ? json(nullptr)
                               : config_json(def.name, std::string(*def.default_value));
            props[std::string(def.name)] = p;
        }
        co_return response::json_body({{"properties", props}});
    });
    r.add("GET", "/v1/node_config", [&ctx](request&) -> asio::awaitable<response> {
        const auto& cfg = ctx.b.config();
        json out = json::object();
        for (const auto& def : broker_config_defs())
            out[std::string(def.name)] = config_json(def.name, cfg.get(def.name));
        out["node_id"] = ctx.b.node_id();
        co_return response::json_body(out);
    });
    r.add("GET", "/v1/loggers", [](request&) -> asio::awaitable<response> {
        json out = json::array();
        auto names = logger_names();
        std::sort(names.begin(), names.end());
        for (const auto& n : names) {
            auto lg = spdlog::get(n);
            if (!lg || n.empty()) continue;
            out.push_back(
                {{"name", n}, {"level", spdlog::level::to_string_view(lg->level()).data()}});
        }
        co_return response::json_body(out);
    });
    r.add(
        "PUT", "/v1/config/log_level/{logger}",
        [&ctx](request& req) { return set_log_level(ctx, req); }, true);
}

}  // namespace rill::admin
