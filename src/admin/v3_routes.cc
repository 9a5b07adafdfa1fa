// partitions, records (produce and browse), consumer groups with lag, brokers.
//
// Topic creation and deletion go through the same calls as the CreateTopics and DeleteTopics
// handlers (metadata_store::create_topic, broker::delete_topic); producing goes through the
// Produce handler's append path (broker::append_batches).
#include "admin/context.h"
#include "admin/encoding.h"
#include "admin/v3_bodies.h"
#include "broker/append.h"
#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/partition_manager.h"
#include "broker/produce_validation.h"
#include "broker/topics.h"
#include "common/clock.h"
#include "common/config.h"
#include "protocol/record_batch.h"

namespace rill::admin {

namespace asio = boost::asio;
using protocol::error_code;

namespace {

constexpr size_t kMaxBrowseLimit = 500;
constexpr size_t kBrowseReadBytes = 4 * 1024 * 1024;

std::string base_url(context& ctx) {
    return "/v3/clusters/" + ctx.cluster_id();
}

json meta(const std::string& self, const std::string& crn) {
    json m = {{"self", self}};
    if (!crn.empty()) m["resource_name"] = crn;
    return m;
}

json related(const std::string& url) {
    return {{"related", url}};
}

json list_of(const std::string& kind, const std::string& self, json data) {
    return {{"kind", kind}, {"metadata", {{"self", self}, {"next", nullptr}}}, {"data", data}};
}

int status_for(error_code e) {
    switch (e) {
        case error_code::topic_already_exists:
            return 409;
        case error_code::unknown_topic_or_partition:
        case error_code::unknown_topic_id:
        case error_code::group_id_not_found:
            return 404;
        case error_code::non_empty_group:
            return 409;
        case error_code::topic_deletion_disabled:
        case error_code::topic_authorization_failed:
            return 403;
        case error_code::request_timed_out:
        case error_code::not_leader_or_follower:
        case error_code::coordinator_load_in_progress:
        case error_code::coordinator_not_available:
            return 503;
        case error_code::kafka_storage_error:
        case error_code::unknown_server_error:
            return 500;
        default:
            return 400;
    }
}

response kafka_error(error_code e, const std::optional<std::string>& message,
                     const std::string& fallback) {
    std::string msg = message && !message->empty() ? *message : fallback;
    return error_response(status_for(e), msg + " (" + std::string(protocol::error_name(e)) + ")");
}

// Kafka prints topic ids in URL-safe base64 without padding.
std::string uuid_string(const protocol::uuid& id) {
    std::string s = base64_encode(id.b);
    while (!s.empty() && s.back() == '=')
        s.pop_back();
    for (auto& ch : s) {
        if (ch == '+') ch = '-';
        if (ch == '/') ch = '_';
    }
    return s;
}

json topic_json(context& ctx, const cluster::topic_info& t) {
    const std::string self = base_url(ctx) + "/topics/" + t.name;
    return {{"kind", "KafkaTopic"},
            {"metadata", meta(self, "crn:///kafka=" + ctx.cluster_id() + "/topic=" + t.name)},
            {"cluster_id", ctx.cluster_id()},
            {"topic_name", t.name},
            {"topic_id", uuid_string(t.id)},
            {"is_internal", t.internal},
            {"replication_factor", t.replication_factor()},
            {"partitions_count", t.partitions.size()},
            {"partitions", related(self + "/partitions")},
            {"configs", related(self + "/configs")},
            {"partition_reassignments", related(self + "/partitions/-/reassignment")},
            {"authorized_operations", json::array()}};
}

const char* source_name(config_source s) {
    switch (s) {
        case config_source::dynamic_topic:
            return "DYNAMIC_TOPIC_CONFIG";
        case config_source::dynamic_broker:
            return "DYNAMIC_BROKER_CONFIG";
        case config_source::dynamic_default_broker:
            return "DYNAMIC_DEFAULT_BROKER_CONFIG";
        case config_source::static_broker:
            return "STATIC_BROKER_CONFIG";
        case config_source::default_config:
            return "DEFAULT_CONFIG";
        case config_source::dynamic_group_config:
            return "DYNAMIC_GROUP_CONFIG";
        case config_source::unknown:
            break;
    }
    return "UNKNOWN";
}

json topic_config_json(context& ctx, const std::string& topic, const topic_config_entry& e) {
    json syn = json::array();
    for (const auto& s : e.synonyms)
        syn.push_back({{"name", s.name},
                       {"value", e.sensitive || !s.value ? json(nullptr) : json(*s.value)},
                       {"source", source_name(s.source)}});
    return {{"kind", "KafkaTopicConfig"},
            {"metadata",
             meta(base_url(ctx) + "/topics/" + topic + "/configs/" + e.name,
                  "crn:///kafka=" + ctx.cluster_id() + "/topic=" + topic + "/config=" + e.name)},
            {"cluster_id", ctx.cluster_id()},
            {"topic_name", topic},
            {"name", e.name},
            {"value", e.sensitive || !e.value ? json(nullptr) : json(*e.value)},
            {"is_default", e.source == config_source::default_config},
            {"is_read_only", e.read_only},
            {"is_sensitive", e.sensitive},
            {"source", source_name(e.source)},
            {"synonyms", syn}};
}

// Looks up the route's topic; 404 when missing.
const cluster::topic_info* find_topic(const cluster::metadata_snapshot& snap, request& req,
                                      response& err) {
    const auto* t = snap.find_topic(req.param("topic"));
    if (!t) err = error_response(404, "Topic '" + req.param("topic") + "' does not exist", 40403);
    return t;
}

std::optional<int32_t> find_partition(const cluster::topic_info& t, const std::string& s,
                                      response& err) {
    auto p = parse_int(s);
    if (!p || *p >= static_cast<int64_t>(t.partitions.size())) {
        err = error_response(404, "Partition '" + s + "' does not exist in topic '" + t.name + "'",
                             40402);
        return std::nullopt;
    }
    return static_cast<int32_t>(*p);
}

// ---- topics ----

asio::awaitable<response> create_topic(context& ctx, request& req) {
    response err;
    auto body = parse_json_object(req, err);
    if (!body) co_return err;
    auto parsed = parse_create_topic(*body);
    if (!parsed) co_return parsed.error();
    cluster::new_topic nt;
    nt.name = parsed->name;
    if (parsed->partitions) nt.partitions = *parsed->partitions;
    if (parsed->replication_factor) nt.replication_factor = *parsed->replication_factor;
    for (auto& [name, value] : parsed->configs)
        nt.configs.set(std::move(name), std::move(value));
    const bool validate_only = parsed->validate_only;
    // The CreateTopics path: the metadata store validates name, counts and configs.
    auto created = ctx.b.metadata().create_topic(nt, validate_only);
    if (!created)
        co_return kafka_error(broker::to_error_code(created.error().code), created.error().message,
                              "Cannot create topic '" + nt.name + "'");
    if (!validate_only) {
        // The logs are created off the shards: answer once they exist (bounded).
        auto waiting = ctx.b.partitions().reconciled(std::chrono::seconds(30));
        co_await std::move(waiting);
    }
    co_return response::json_body(topic_json(ctx, *created), validate_only ? 200 : 201);
}

asio::awaitable<response> delete_topic(context& ctx, request& req) {
    auto snap = ctx.snapshot();
    response err;
    const auto* t = find_topic(*snap, req, err);
    if (!t) co_return err;
    if (auto r = broker::delete_topic(ctx.b, *t); !r)
        co_return kafka_error(r.error().code, r.error().message,
                              "Cannot delete topic '" + t->name + "'");
    co_return response::text("", "application/json", 204);
}

// Applies SET/DELETE operations to a topic's overrides through the metadata store (which
// validates them as AlterConfigs does).
asio::awaitable<response> alter_topic_configs(context& ctx, const cluster::topic_info& t,
                                              const std::vector<config_op>& ops,
                                              bool validate_only) {
    config_values next = t.configs;
    for (const auto& op : ops) {
        if (op.remove)
            next.erase(op.name);
        else
            next.set(op.name, op.value);
    }
    auto r = ctx.b.metadata().set_topic_configs(t.name, next, validate_only);
    if (!r)
        co_return kafka_error(broker::to_error_code(r.error().code), r.error().message,
                              "Invalid config");
    co_return response::text("", "application/json", 204);
}

// ---- partitions ----

json partition_json(context& ctx, const cluster::topic_info& t, const partition_state& st) {
    const auto& p = t.partitions[static_cast<size_t>(st.partition)];
    const std::string self =
        base_url(ctx) + "/topics/" + t.name + "/partitions/" + std::to_string(p.id);
    return {{"kind", "KafkaPartition"},
            {"metadata", meta(self, "crn:///kafka=" + ctx.cluster_id() + "/topic=" + t.name +
                                        "/partition=" + std::to_string(p.id))},
            {"cluster_id", ctx.cluster_id()},
            {"topic_name", t.name},
            {"partition_id", p.id},
            {"leader", related(self + "/replicas/" + std::to_string(p.leader))},
            {"replicas", related(self + "/replicas")},
            {"reassignment", related(self + "/reassignment")},
            // Rill additions: what operators look at first.
            {"leader_id", p.leader},
            {"replica_ids", p.replicas},
            {"isr_ids", p.isr},
            {"log_start_offset", st.log_start_offset},
            {"high_watermark", st.high_watermark},
            {"log_end_offset", st.log_end_offset},
            {"size_bytes", st.size_bytes}};
}

// ---- records ----

asio::awaitable<response> produce_record(context& ctx, request& req) {
    auto snap = ctx.snapshot();
    response err;
    const auto* t = find_topic(*snap, req, err);
    if (!t) co_return err;
    if (t->internal)  // only the group coordinator writes __consumer_offsets
        co_return error_response(400, "Cannot produce to internal topic " + t->name);
    auto body = parse_json_object(req, err);
    if (!body) co_return err;
    auto parsed = parse_produce(*body);
    if (!parsed) co_return parsed.error();

    const auto nparts = static_cast<int32_t>(t->partitions.size());
    int32_t partition;
    if (parsed->partition_id) {
        if (*parsed->partition_id < 0 || *parsed->partition_id >= nparts)
            co_return error_response(404,
                                     "Partition " + parsed->partition_text +
                                         " does not exist in topic '" + t->name + "'",
                                     40402);
        partition = static_cast<int32_t>(*parsed->partition_id);
    } else if (parsed->key) {
        partition = partition_for_key(*parsed->key, nparts);  // the Java client's default choice
    } else {
        partition = static_cast<int32_t>(ctx.next_partition++ % static_cast<uint32_t>(nparts));
    }

    protocol::record rec;
    rec.key = std::move(parsed->key);
    rec.value = std::move(parsed->value);
    rec.headers = std::move(parsed->headers);
    const int64_t timestamp = parsed->timestamp ? *parsed->timestamp : rill::wall_clock_ms();
    rec.timestamp = timestamp;
    const size_t key_size = rec.key ? rec.key->size() : 0;
    const size_t value_size = rec.value ? rec.value->size() : 0;
    auto batch = protocol::build_batch(protocol::batch_spec{}, std::span(&rec, 1));
    if (!batch)
        co_return error_response(500, "Cannot build the record batch: " +
                                          std::string(protocol::to_string(batch.error())));

    // The Produce handler's rules (record validation) and append path.
    auto rules = broker::produce_rules(*t, ctx.b.config());
    const auto checks = broker::record_checks_for(*t, ctx.b.config());
    broker::produced_records pr;
    pr.partition = t->name + "-" + std::to_string(partition);
    pr.data = *batch;
    pr.checks = &checks;
    broker::prepare_options po;
    po.now_ms = rill::wall_clock_ms();
    size_t inflate_left =
        static_cast<size_t>(ctx.b.config().get_int("rill.produce.max.inflated.bytes"));
    broker::prepare_records(pr, po, inflate_left);  // one small uncompressed batch: inline
    if (pr.error == error_code::message_too_large)
        co_return error_response(413, pr.message.value_or("Record exceeds max.message.bytes"));
    if (pr.error != error_code::none || !pr.batch)
        co_return error_response(400, pr.message.value_or("Record refused"));
    auto part = ctx.b.partitions().find({t->name, partition});
    if (!part) co_return error_response(503, "Partition is not hosted on this broker", 50301);
    std::vector<broker::append_item> items(1);
    items[0].part = std::move(part);
    items[0].batch = std::move(*pr.batch);
    items[0].min_insync = rules.min_insync;
    broker::append_wait wait;  // the REST produce is acks=all
    wait.replicated = true;
    wait.durable = ctx.b.config().get_bool("rill.acks.all.fsync");
    wait.timeout = std::chrono::seconds(30);
    auto appending = broker::append_batches(ctx.b.partitions(), items, wait);
    co_await std::move(appending);
    if (items[0].error != error_code::none)
        co_return kafka_error(items[0].error, items[0].error_message, "Produce failed");
    json out = {
        {"error_code", 200},
        {"cluster_id", ctx.cluster_id()},
        {"topic_name", t->name},
        {"partition_id", partition},
        {"offset", items[0].base_offset},
        {"timestamp", items[0].log_append_time >= 0 ? items[0].log_append_time : timestamp},
        {"key", key_size || rec.key ? json{{"type", "BINARY"}, {"size", key_size}} : json(nullptr)},
        {"value",
         value_size || rec.value ? json{{"type", "BINARY"}, {"size", value_size}} : json(nullptr)}};
    co_return response::json_body(out);
}

asio::awaitable<response> browse_records(context& ctx, request& req) {
    auto snap = ctx.snapshot();
    response err;
    const auto* t = find_topic(*snap, req, err);
    if (!t) co_return err;
    auto p = find_partition(*t, req.param("partition"), err);
    if (!p) co_return err;
    size_t limit = 20;
    if (auto l = req.q("limit")) {
        auto v = parse_int(*l);
        if (!v || *v == 0) co_return error_response(400, "'limit' must be a positive number");
        limit = std::min<size_t>(static_cast<size_t>(*v), kMaxBrowseLimit);
    }
    std::optional<int64_t> offset;
    if (auto o = req.q("offset")) {
        auto v = parse_int(*o);
        if (!v) co_return error_response(400, "'offset' must be a non-negative number");
        offset = *v;
    }
    auto part = ctx.b.partitions().find({t->name, *p});
    if (!part) co_return error_response(503, "Partition is not hosted on this broker", 50301);

    struct read_out {
        int64_t log_start = -1, hwm = -1, from = 0;
        std::optional<storage::read_result> data;
        std::string error;
    };
    // Without an offset: the last `limit` records before the high watermark.
    // (Awaitables are built in their own statements: GCC 12 may destroy temporaries inside a
    // co_await expression twice.)
    auto read_op = ctx.b.partitions().on_owner(part, [offset, limit](broker::partition& pp) {
        read_out o;
        if (pp.removed() || !pp.log) {
            o.error = "partition is being removed";
            return o;
        }
        auto& lg = *pp.log;
        o.log_start = lg.log_start_offset();
        o.hwm = lg.high_watermark();
        int64_t from = offset ? *offset : o.hwm - static_cast<int64_t>(limit);
        from = std::max(from, o.log_start);
        o.from = from;
        if (from >= o.hwm) return o;
        auto rr = lg.read(from, kBrowseReadBytes, o.hwm);
        if (!rr) {
            o.error = rr.error().message;
            return o;
        }
        o.data = std::move(*rr);
        return o;
    });
    auto r = co_await std::move(read_op);
    if (!r.error.empty()) co_return error_response(500, "Cannot read the log: " + r.error);
    json data = json::array();
    int64_t next = r.from;
    if (r.data) {
        // On the admin thread: never a blocking read on a shard.
        auto bytes = storage::read_into_memory(*r.data);
        if (!bytes) co_return error_response(500, "Cannot read the segment files");
        protocol::bytes_view rest(*bytes);
        while (data.size() < limit) {
            auto slice = protocol::next_batch(rest);
            if (!slice) break;
            const auto* h = &slice->header;
            auto batch = slice->bytes;
            if (h->is_control()) {
                next = std::max(next, h->last_offset() + 1);
                continue;
            }
            auto rr = protocol::record_reader::open(batch);
            if (!rr) break;
            protocol::record_view rec;
            while (data.size() < limit && rr->next(rec)) {
                if (rec.offset < r.from || rec.offset >= r.hwm) continue;
                json hs = json::array();
                for (const auto& hv : rec.headers)
                    hs.push_back(
                        {{"name", std::string(hv.key)},
                         {"value", hv.value ? json(base64_encode(*hv.value)) : json(nullptr)}});
                data.push_back({{"partition_id", *p},
                                {"offset", rec.offset},
                                {"timestamp", rec.timestamp},
                                {"key", encode_record_data(rec.key)},
                                {"value", encode_record_data(rec.value)},
                                {"headers", hs}});
                next = rec.offset + 1;
            }
            if (data.size() >= limit) break;
            next = std::max(next, std::min(h->last_offset() + 1, r.hwm));
        }
    }
    const std::string self =
        base_url(ctx) + "/topics/" + t->name + "/partitions/" + std::to_string(*p) + "/records";
    json out = list_of("KafkaRecordList", self + "?offset=" + std::to_string(r.from), data);
    if (next < r.hwm)
        out["metadata"]["next"] =
            self + "?offset=" + std::to_string(next) + "&limit=" + std::to_string(limit);
    out["log_start_offset"] = r.log_start;
    out["high_watermark"] = r.hwm;
    out["next_offset"] = next;
    co_return response::json_body(out);
}

// ---- consumer groups ----

json group_json(context& ctx, const coordinator::group_view& g) {
    const std::string self = base_url(ctx) + "/consumer-groups/" + g.group_id;
    return {{"kind", "KafkaConsumerGroup"},
            {"metadata",
             meta(self, "crn:///kafka=" + ctx.cluster_id() + "/consumer-group=" + g.group_id)},
            {"cluster_id", ctx.cluster_id()},
            {"consumer_group_id", g.group_id},
            {"is_simple", g.protocol_type.empty()},
            {"partition_assignor", g.protocol},
            {"state", g.state},
            {"generation", g.generation},
            {"members_count", g.members.size()},
            {"coordinator", related(base_url(ctx) + "/brokers/" + std::to_string(ctx.b.node_id()))},
            {"consumers", related(self + "/consumers")},
            {"lag_summary", related(self + "/lag-summary")}};
}

json consumer_json(context& ctx, const std::string& group, const coordinator::member_view& m) {
    const std::string self =
        base_url(ctx) + "/consumer-groups/" + group + "/consumers/" + m.member_id;
    json assigned = json::array();
    for (const auto& [topic, part] : m.assignment)
        assigned.push_back({{"topic_name", topic}, {"partition_id", part}});
    return {{"kind", "KafkaConsumer"},
            {"metadata", meta(self, "crn:///kafka=" + ctx.cluster_id() +
                                        "/consumer-group=" + group + "/consumer=" + m.member_id)},
            {"cluster_id", ctx.cluster_id()},
            {"consumer_group_id", group},
            {"consumer_id", m.member_id},
            {"instance_id", m.group_instance_id ? json(*m.group_instance_id) : json(nullptr)},
            {"client_id", m.client_id},
            {"host", m.client_host},
            {"assignments", related(self + "/assignments")},
            {"assigned_partitions", assigned}};
}

asio::awaitable<std::optional<coordinator::group_view>> find_group(context& ctx,
                                                                   const std::string& id) {
    if (!ctx.groups) co_return std::nullopt;
    auto op = ctx.groups->describe_group(id);
    co_return co_await std::move(op);
}

response no_group(const std::string& id) {
    return error_response(404, "Consumer group '" + id + "' does not exist", 40403);
}

asio::awaitable<response> group_lags(context& ctx, request& req, bool summary) {
    const std::string id = req.param("group");
    auto g = co_await find_group(ctx, id);
    if (!g) co_return no_group(id);
    auto lag_op = ctx.groups->group_lag(id);
    auto lags = co_await std::move(lag_op);
    const std::string gself = base_url(ctx) + "/consumer-groups/" + id;
    if (!summary) {
        json data = json::array();
        for (const auto& l : lags)
            data.push_back(
                {{"kind", "KafkaConsumerLag"},
                 {"metadata",
                  meta(gself + "/lags/" + l.topic + "/partitions/" + std::to_string(l.partition),
                       "")},
                 {"cluster_id", ctx.cluster_id()},
                 {"consumer_group_id", id},
                 {"topic_name", l.topic},
                 {"partition_id", l.partition},
                 {"current_offset", l.committed_offset},
                 {"log_end_offset", l.log_end_offset},
                 {"lag", l.lag},
                 {"consumer_id", l.member_id},
                 {"instance_id", l.group_instance_id ? json(*l.group_instance_id) : json(nullptr)},
                 {"client_id", l.client_id}});
        co_return response::json_body(list_of("KafkaConsumerLagList", gself + "/lags", data));
    }
    const coordinator::partition_lag_view* max = nullptr;
    int64_t total = 0;
    for (const auto& l : lags) {
        total += std::max<int64_t>(l.lag, 0);
        if (!max || l.lag > max->lag) max = &l;
    }
    record_lag_sample(ctx, id, total, wall_clock_ms());
    json out = {
        {"kind", "KafkaConsumerGroupLagSummary"},
        {"metadata", meta(gself + "/lag-summary", "crn:///kafka=" + ctx.cluster_id() +
                                                      "/consumer-group=" + id + "/lag-summary")},
        {"cluster_id", ctx.cluster_id()},
        {"consumer_group_id", id},
        {"max_lag_consumer_id", max ? json(max->member_id) : json(nullptr)},
        {"max_lag_instance_id",
         max && max->group_instance_id ? json(*max->group_instance_id) : json(nullptr)},
        {"max_lag_client_id", max ? json(max->client_id) : json(nullptr)},
        {"max_lag_topic_name", max ? json(max->topic) : json(nullptr)},
        {"max_lag_partition_id", max ? json(max->partition) : json(nullptr)},
        {"max_lag", max ? max->lag : 0},
        {"total_lag", total}};
    if (max) {
        out["max_lag_consumer"] = related(gself + "/consumers/" + max->member_id);
        out["max_lag_partition"] = related(base_url(ctx) + "/topics/" + max->topic +
                                           "/partitions/" + std::to_string(max->partition));
    }
    co_return response::json_body(out);
}

}  // namespace

void add_v3_routes(router& r, context& ctx) {
    // Every /v3/clusters/{cluster_id}/... route checks the cluster id first.
    auto scoped = [&ctx](handler fn) -> handler {
        return [&ctx, fn = std::move(fn)](request& req) -> asio::awaitable<response> {
            if (req.param("cluster_id") != ctx.cluster_id())
                co_return error_response(404,
                                         "Cluster '" + req.param("cluster_id") +
                                             "' is not this cluster (" + ctx.cluster_id() + ")",
                                         40403);
            co_return co_await fn(req);
        };
    };
    auto cluster_json = [&ctx]() {
        const std::string self = base_url(ctx);
        return json{
            {"kind", "KafkaCluster"},
            {"metadata", meta(self, "crn:///kafka=" + ctx.cluster_id())},
            {"cluster_id", ctx.cluster_id()},
            {"controller",
             related(self + "/brokers/" + std::to_string(ctx.snapshot()->controller_id))},
            {"brokers", related(self + "/brokers")},
            {"broker_configs", related(self + "/broker-configs")},
            {"consumer_groups", related(self + "/consumer-groups")},
            {"topics", related(self + "/topics")},
            {"partition_reassignments", related(self + "/topics/-/partitions/-/reassignment")}};
    };
    const std::string c = "/v3/clusters/{cluster_id}";

    r.add("GET", "/v3/clusters", [cluster_json](request&) -> asio::awaitable<response> {
        co_return response::json_body(
            list_of("KafkaClusterList", "/v3/clusters", json::array({cluster_json()})));
    });
    r.add("GET", c, scoped([cluster_json](request&) -> asio::awaitable<response> {
              co_return response::json_body(cluster_json());
          }));
    r.add("GET", c + "/brokers", scoped([&ctx](request&) -> asio::awaitable<response> {
              auto snap = ctx.snapshot();
              json data = json::array();
              for (const auto& [id, bi] : snap->brokers) {
                  json b = {{"kind", "KafkaBroker"},
                            {"metadata", meta(base_url(ctx) + "/brokers/" + std::to_string(id),
                                              "crn:///kafka=" + ctx.cluster_id() +
                                                  "/broker=" + std::to_string(id))},
                            {"cluster_id", ctx.cluster_id()},
                            {"broker_id", id},
                            {"rack", bi.rack ? json(*bi.rack) : json(nullptr)}};
                  if (!bi.endpoints.empty()) {
                      b["host"] = bi.endpoints.front().host;
                      b["port"] = bi.endpoints.front().port;
                  }
                  data.push_back(b);
              }
              co_return response::json_body(
                  list_of("KafkaBrokerList", base_url(ctx) + "/brokers", data));
          }));

    // Topics.
    r.add("GET", c + "/topics", scoped([&ctx](request&) -> asio::awaitable<response> {
              auto snap = ctx.snapshot();
              json data = json::array();
              for (const auto& [name, t] : snap->topics)
                  data.push_back(topic_json(ctx, t));
              co_return response::json_body(
                  list_of("KafkaTopicList", base_url(ctx) + "/topics", data));
          }));
    r.add("POST", c + "/topics", scoped([&ctx](request& req) { return create_topic(ctx, req); }),
          true);
    r.add("GET", c + "/topics/{topic}", scoped([&ctx](request& req) -> asio::awaitable<response> {
              auto snap = ctx.snapshot();
              response err;
              const auto* t = find_topic(*snap, req, err);
              if (!t) co_return err;
              co_return response::json_body(topic_json(ctx, *t));
          }));
    r.add("DELETE", c + "/topics/{topic}",
          scoped([&ctx](request& req) { return delete_topic(ctx, req); }), true);

    // Topic configs.
    r.add("GET", c + "/topics/{topic}/configs",
          scoped([&ctx](request& req) -> asio::awaitable<response> {
              auto snap = ctx.snapshot();
              response err;
              const auto* t = find_topic(*snap, req, err);
              if (!t) co_return err;
              json data = json::array();
              for (const auto& e : describe_topic_config(t->configs, ctx.b.config()))
                  data.push_back(topic_config_json(ctx, t->name, e));
              co_return response::json_body(list_of(
                  "KafkaTopicConfigList", base_url(ctx) + "/topics/" + t->name + "/configs", data));
          }));
    r.add("GET", c + "/topics/{topic}/configs/{name}",
          scoped([&ctx](request& req) -> asio::awaitable<response> {
              auto snap = ctx.snapshot();
              response err;
              const auto* t = find_topic(*snap, req, err);
              if (!t) co_return err;
              for (const auto& e : describe_topic_config(t->configs, ctx.b.config()))
                  if (e.name == req.param("name"))
                      co_return response::json_body(topic_config_json(ctx, t->name, e));
              co_return error_response(404, "No topic config named '" + req.param("name") + "'");
          }));
    r.add("POST", c + "/topics/{topic}/configs:alter",
          scoped([&ctx](request& req) -> asio::awaitable<response> {
              auto snap = ctx.snapshot();
              response err;
              const auto* t = find_topic(*snap, req, err);
              if (!t) co_return err;
              auto body = parse_json_object(req, err);
              if (!body) co_return err;
              auto parsed = parse_alter_configs(*body);
              if (!parsed) co_return parsed.error();
              co_return co_await alter_topic_configs(ctx, *t, parsed->ops, parsed->validate_only);
          }),
          true);
    r.add("PUT", c + "/topics/{topic}/configs/{name}",
          scoped([&ctx](request& req) -> asio::awaitable<response> {
              auto snap = ctx.snapshot();
              response err;
              const auto* t = find_topic(*snap, req, err);
              if (!t) co_return err;
              auto body = parse_json_object(req, err);
              if (!body) co_return err;
              auto ops = parse_config_ops(json::array(
                  {{{"name", req.param("name")}, {"value", body->value("value", json(nullptr))}}}));
              if (!ops) co_return ops.error();
              co_return co_await alter_topic_configs(ctx, *t, *ops, false);
          }),
          true);
    r.add("DELETE", c + "/topics/{topic}/configs/{name}",
          scoped([&ctx](request& req) -> asio::awaitable<response> {
              auto snap = ctx.snapshot();
              response err;
              const auto* t = find_topic(*snap, req, err);
              if (!t) co_return err;
              const std::vector<config_op> ops{{req.param("name"), true, ""}};
              co_return co_await alter_topic_configs(ctx, *t, ops, false);
          }),
          true);

    // Partitions.
    r.add(
        "GET", c + "/topics/{topic}/partitions",
        scoped([&ctx](request& req) -> asio::awaitable<response> {
            auto snap = ctx.snapshot();
            response err;
            const auto* t = find_topic(*snap, req, err);
            if (!t) co_return err;
            std::vector<std::pair<std::string, int32_t>> tps;
            for (const auto& p : t->partitions)
                tps.emplace_back(t->name, p.id);
            auto states = co_await collect_partition_states(ctx, tps);
            json data = json::array();
            for (const auto& st : states)
                data.push_back(partition_json(ctx, *t, st));
            co_return response::json_body(list_of(
                "KafkaPartitionList", base_url(ctx) + "/topics/" + t->name + "/partitions", data));
        }));
    r.add("GET", c + "/topics/{topic}/partitions/{partition}",
          scoped([&ctx](request& req) -> asio::awaitable<response> {
              auto snap = ctx.snapshot();
              response err;
              const auto* t = find_topic(*snap, req, err);
              if (!t) co_return err;
              auto p = find_partition(*t, req.param("partition"), err);
              if (!p) co_return err;
              std::vector<std::pair<std::string, int32_t>> one{{t->name, *p}};
              auto states = co_await collect_partition_states(ctx, one);
              co_return response::json_body(partition_json(ctx, *t, states[0]));
          }));

    // Records.
    r.add("POST", c + "/topics/{topic}/records",
          scoped([&ctx](request& req) { return produce_record(ctx, req); }), true);
    r.add("GET", c + "/topics/{topic}/partitions/{partition}/records",
          scoped([&ctx](request& req) { return browse_records(ctx, req); }));

    // Consumer groups.
    r.add("GET", c + "/consumer-groups", scoped([&ctx](request&) -> asio::awaitable<response> {
              json data = json::array();
              if (ctx.groups) {
                  auto groups = co_await ctx.groups->list_groups();
                  for (const auto& g : groups)
                      data.push_back(group_json(ctx, g));
              }
              co_return response::json_body(
                  list_of("KafkaConsumerGroupList", base_url(ctx) + "/consumer-groups", data));
          }));
    r.add("GET", c + "/consumer-groups/{group}",
          scoped([&ctx](request& req) -> asio::awaitable<response> {
              auto g = co_await find_group(ctx, req.param("group"));
              if (!g) co_return no_group(req.param("group"));
              co_return response::json_body(group_json(ctx, *g));
          }));
    r.add("DELETE", c + "/consumer-groups/{group}",
          scoped([&ctx](request& req) -> asio::awaitable<response> {
              const std::string id = req.param("group");
              if (!ctx.groups) co_return no_group(id);
              auto op = ctx.groups->delete_group(id);
              auto e = co_await std::move(op);
              if (e == error_code::group_id_not_found) co_return no_group(id);
              if (e == error_code::non_empty_group)
                  co_return error_response(
                      409, "Consumer group '" + id + "' has active members; stop them first",
                      40901);
              if (e != error_code::none)
                  co_return kafka_error(e, std::nullopt, "Cannot delete group");
              co_return response::text("", "application/json", 204);
          }),
          true);
    r.add("GET", c + "/consumer-groups/{group}/consumers",
          scoped([&ctx](request& req) -> asio::awaitable<response> {
              const std::string id = req.param("group");
              auto g = co_await find_group(ctx, id);
              if (!g) co_return no_group(id);
              json data = json::array();
              for (const auto& m : g->members)
                  data.push_back(consumer_json(ctx, id, m));
              co_return response::json_body(
                  list_of("KafkaConsumerList",
                          base_url(ctx) + "/consumer-groups/" + id + "/consumers", data));
          }));
    r.add("GET", c + "/consumer-groups/{group}/lags",
          scoped([&ctx](request& req) { return group_lags(ctx, req, false); }));
    r.add("GET", c + "/consumer-groups/{group}/lag-summary",
          scoped([&ctx](request& req) { return group_lags(ctx, req, true); }));
    // Rill addition for the console's chart: total lag samples of the last minutes.
    r.add("GET", c + "/consumer-groups/{group}/lag-history",
          scoped([&ctx](request& req) -> asio::awaitable<response> {
              const std::string id = req.param("group");
              auto g = co_await find_group(ctx, id);
              if (!g) co_return no_group(id);
              auto op = ctx.groups->group_lag(id);
              auto lags = co_await std::move(op);
              record_lag_sample(ctx, id, total_lag(lags), wall_clock_ms());
              json data = json::array();
              for (const auto& [ts, lag] : ctx.lag_history[id])
                  data.push_back({{"time_ms", ts}, {"total_lag", lag}});
              co_return response::json_body({{"kind", "RillConsumerGroupLagHistory"},
                                             {"consumer_group_id", id},
                                             {"data", data}});
          }));
}

}  // namespace rill::admin
