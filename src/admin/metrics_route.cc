// GET /metrics: Prometheus text with the names Kafka's jmx_exporter example rules produce (so
// existing dashboards work), kafka_exporter's consumer-lag names, and a few rill_* extras.
// Cardinality is bounded: per-topic series (at most metrics::registry::kMaxTopics topics),
// per-API series, per-group lag (at most kMaxLagSeries partition series); per-partition log
// series only with metrics.partition.level.enable=true.
#include <set>

#include "admin/context.h"
#include "admin/prometheus.h"
#include "broker/broker.h"
#include "broker/partition_manager.h"
#include "common/config.h"
#include "common/metrics.h"
#include "net/server.h"
#include "protocol/generated/api.h"

namespace rill::admin {

namespace asio = boost::asio;

namespace {

constexpr size_t kMaxLagGroups = 1000;
constexpr size_t kMaxLagSeries = 10000;

// Kafka's request label: the API name, with Fetch reported as FetchConsumer (a single node has
// no follower fetches).
std::string request_name(int16_t key) {
    if (key == 1) return "FetchConsumer";
    const auto* api = protocol::messages::find_api(key);
    return api ? std::string(api->name) : "Unknown" + std::to_string(key);
}

asio::awaitable<response> render(context& ctx) {
    prom_writer w;
    auto snap = ctx.snapshot();
    auto& reg = metrics::registry::global();
    const int32_t self = ctx.b.node_id();

    // ---- per-topic traffic (BrokerTopicMetrics) ----
    auto topics = reg.topics();
    std::erase_if(topics, [&](const auto& t) {
        return t.topic != metrics::registry::kOverflowTopic && !snap->find_topic(t.topic);
    });
    struct meter {
        const char* name;
        const char* help;
        uint64_t metrics::registry::topic_sample::*field;
    };
    static constexpr meter kMeters[] = {
        {"kafka_server_brokertopicmetrics_messagesin_total", "Records appended.",
         &metrics::registry::topic_sample::messages_in},
        {"kafka_server_brokertopicmetrics_bytesin_total", "Record batch bytes appended.",
         &metrics::registry::topic_sample::bytes_in},
        {"kafka_server_brokertopicmetrics_bytesout_total", "Record batch bytes sent by Fetch.",
         &metrics::registry::topic_sample::bytes_out},
        {"kafka_server_brokertopicmetrics_totalproducerequests_total",
         "Partition-level produce requests.", &metrics::registry::topic_sample::total_produce},
        {"kafka_server_brokertopicmetrics_failedproducerequests_total",
         "Partition-level produce requests that failed.",
         &metrics::registry::topic_sample::failed_produce},
        {"kafka_server_brokertopicmetrics_totalfetchrequests_total",
         "Fetch requests naming the topic.", &metrics::registry::topic_sample::total_fetch},
        {"kafka_server_brokertopicmetrics_failedfetchrequests_total",
         "Partition-level fetches that failed.", &metrics::registry::topic_sample::failed_fetch},
    };
    for (const auto& m : kMeters) {
        w.family(m.name, "counter", m.help);
        uint64_t sum = 0;
        for (const auto& t : topics)
            sum += t.*(m.field);
        w.sample(m.name, {}, sum);  // the broker-wide meter (no topic label), as Kafka has it
        for (const auto& t : topics)
            w.sample(m.name, {{"topic", t.topic}}, t.*(m.field));
    }

    // ---- requests per API and latency ----
    w.family("kafka_network_requestmetrics_requests_total", "counter",
             "Requests handled, by API and version.");
    for (const auto& r : reg.requests())
        w.sample("kafka_network_requestmetrics_requests_total",
                 {{"request", request_name(r.api_key)}, {"version", std::to_string(r.version)}},
                 r.count);
    w.family("kafka_network_requestmetrics_totaltimems", "histogram",
             "Time from reading a request to its response being ready, in milliseconds.");
    for (const auto& [key, h] : reg.latencies()) {
        const std::string name = request_name(key);
        for (size_t i = 0; i < metrics::histogram::kBoundsMs.size(); ++i)
            w.sample("kafka_network_requestmetrics_totaltimems_bucket",
                     {{"request", name}, {"le", format_value(metrics::histogram::kBoundsMs[i])}},
                     h.cumulative[i]);
        w.sample("kafka_network_requestmetrics_totaltimems_bucket",
                 {{"request", name}, {"le", "+Inf"}}, h.count);
        w.sample("kafka_network_requestmetrics_totaltimems_sum", {{"request", name}}, h.sum_ms);
        w.sample("kafka_network_requestmetrics_totaltimems_count", {{"request", name}}, h.count);
    }
    w.family("rill_kafka_bad_requests_total", "counter",
             "Requests refused as malformed or unsupported (the connection was closed).");
    w.sample("rill_kafka_bad_requests_total", {}, reg.bad_requests());

    // ---- partitions (ReplicaManager, KafkaController) ----
    const auto tps = all_partitions(*snap);
    auto states = co_await collect_partition_states(ctx, tps);
    std::map<std::pair<std::string, int32_t>, const partition_state*> by_tp;
    for (const auto& s : states)
        by_tp[{s.topic, s.partition}] = &s;
    int64_t partitions = 0, leaders = 0, under_replicated = 0, under_min_isr = 0, offline = 0,
            global_partitions = 0, offline_replicas = 0;
    for (const auto& [name, t] : snap->topics) {
        int64_t min_isr = 1;
        if (auto v = topic_config_value("min.insync.replicas", t.configs, ctx.b.config()))
            min_isr = parse_int(*v).value_or(1);
        for (const auto& p : t.partitions) {
            ++global_partitions;
            bool replica_here =
                std::find(p.replicas.begin(), p.replicas.end(), self) != p.replicas.end();
            if (replica_here) ++partitions;
            if (auto it = by_tp.find({name, p.id}); it != by_tp.end() && it->second->offline)
                ++offline_replicas;
            bool leads = p.leader == self;
            if (leads) {
                ++leaders;
                if (p.isr.size() < p.replicas.size()) ++under_replicated;
                if (static_cast<int64_t>(p.isr.size()) < min_isr) ++under_min_isr;
            }
            bool alive = p.leader >= 0 && snap->brokers.contains(p.leader);
            if (alive && leads) {
                auto it = by_tp.find({name, p.id});
                alive = it != by_tp.end() && it->second->hosted && !it->second->offline;
            }
            if (!alive) ++offline;
        }
    }
    auto gauge = [&w](const char* name, const char* help, int64_t v) {
        w.family(name, "gauge", help);
        w.sample(name, {}, v);
    };
    gauge("kafka_server_replicamanager_partitioncount", "Partitions with a replica here.",
          partitions);
    gauge("kafka_server_replicamanager_leadercount", "Partitions led by this broker.", leaders);
    gauge("kafka_server_replicamanager_underreplicatedpartitions",
          "Partitions led here whose ISR is smaller than the replica set.", under_replicated);
    gauge("kafka_server_replicamanager_underminisrpartitioncount",
          "Partitions led here whose ISR is below min.insync.replicas.", under_min_isr);
    gauge("kafka_server_replicamanager_offlinereplicacount",
          "Partitions hosted here that are offline (log dir failed, log offline or not loaded).",
          offline_replicas);
    gauge("kafka_log_logmanager_offlinelogdirectorycount", "Log dirs of this broker that failed.",
          static_cast<int64_t>(ctx.b.partitions().logs().failed_log_dirs().size()));
    gauge("kafka_controller_kafkacontroller_offlinepartitionscount",
          "Partitions without a serving leader.", offline);
    gauge("kafka_controller_kafkacontroller_activecontrollercount",
          "1 when this broker is the active controller.", snap->controller_id == self ? 1 : 0);
    gauge("kafka_controller_kafkacontroller_globaltopiccount", "Topics in the cluster.",
          static_cast<int64_t>(snap->topics.size()));
    gauge("kafka_controller_kafkacontroller_globalpartitioncount", "Partitions in the cluster.",
          global_partitions);
    gauge("kafka_brokers", "Brokers in the cluster (kafka_exporter).",
          static_cast<int64_t>(snap->brokers.size()));
    w.family("kafka_topic_partitions", "gauge", "Partitions per topic (kafka_exporter).");
    for (const auto& [name, t] : snap->topics)
        w.sample("kafka_topic_partitions", {{"topic", name}},
                 static_cast<int64_t>(t.partitions.size()));

    // ---- per-partition log (optional: high cardinality) ----
    if (ctx.b.config().get_bool("metrics.partition.level.enable")) {
        w.family("kafka_log_log_size", "gauge", "Partition log size in bytes.");
        for (const auto& s : states)
            if (s.hosted)
                w.sample("kafka_log_log_size",
                         {{"topic", s.topic}, {"partition", std::to_string(s.partition)}},
                         s.size_bytes);
        w.family("kafka_log_log_logendoffset", "gauge", "Partition log end offset.");
        for (const auto& s : states)
            if (s.hosted)
                w.sample("kafka_log_log_logendoffset",
                         {{"topic", s.topic}, {"partition", std::to_string(s.partition)}},
                         s.log_end_offset);
        w.family("kafka_log_log_logstartoffset", "gauge", "Partition log start offset.");
        for (const auto& s : states)
            if (s.hosted)
                w.sample("kafka_log_log_logstartoffset",
                         {{"topic", s.topic}, {"partition", std::to_string(s.partition)}},
                         s.log_start_offset);
    }

    // ---- connections ----
    w.family("kafka_server_socket_server_metrics_connection_count", "gauge",
             "Open Kafka client connections.");
    w.sample("kafka_server_socket_server_metrics_connection_count", {},
             static_cast<uint64_t>(ctx.kafka ? ctx.kafka->connection_count() : 0));
    w.family("rill_kafka_connections_accepted_total", "counter",
             "Kafka client connections accepted.");
    w.sample("rill_kafka_connections_accepted_total", {},
             ctx.kafka ? ctx.kafka->total_accepted() : 0);

    // ---- request memory budget and connection limits (Kafka's SocketServer names) ----
    {
        const int64_t used = ctx.kafka ? ctx.kafka->budget().used() : 0;
        const int64_t capacity = ctx.kafka ? ctx.kafka->budget().capacity() : 0;
        gauge("kafka_network_socketserver_memorypoolused",
              "Request budget in use (queued.max.request.bytes): bytes of requests being read "
              "or handled, and what handlers inflate for them.",
              used);
        gauge("kafka_network_socketserver_memorypoolavailable", "Request budget left, in bytes.",
              capacity - used);
        gauge("rill_request_budget_waiters",
              "Requests (connections or handlers) waiting for room in the request budget.",
              static_cast<int64_t>(ctx.kafka ? ctx.kafka->budget().waiting() : 0));
        const auto& net = reg.net();
        gauge("kafka_network_socketserver_expiredconnectionskilledcount",
              "Connections closed by connections.max.idle.ms.",
              static_cast<int64_t>(net.idle_closed.value()));
        auto total = [&w](const char* name, const char* help, uint64_t v) {
            w.family(name, "counter", help);
            w.sample(name, {}, v);
        };
        total("rill_kafka_connections_rejected_per_ip_total",
              "Connections closed at once because their address had max.connections.per.ip.",
              net.rejected_per_ip.value());
        total("rill_kafka_acceptor_blocked_total",
              "Times the listener stopped accepting at max.connections.",
              net.acceptor_blocked.value());
        total("rill_request_budget_waits_total",
              "Requests that waited for room in the request budget.", net.budget_waits.value());
        total("rill_request_memory_trims_total",
              "Times freed request memory was returned to the OS after a burst.",
              ctx.kafka ? ctx.kafka->heap_trims() : 0);
        total("rill_request_budget_peer_left_total",
              "Connections whose client left while they waited for request budget.",
              net.left_while_waiting.value());
    }

    // ---- consumer lag (kafka_exporter names) ----
    w.family("kafka_consumergroup_lag", "gauge",
             "Lag of a group on a partition: high watermark - max(committed, log start).");
    std::vector<std::pair<std::string, int64_t>> sums;
    std::vector<std::pair<std::string, int64_t>> members;
    if (ctx.groups) {
        auto groups = co_await ctx.groups->list_groups();
        size_t series = 0;
        for (size_t i = 0; i < groups.size() && i < kMaxLagGroups; ++i) {
            const auto& g = groups[i];
            members.emplace_back(g.group_id, static_cast<int64_t>(g.members.size()));
            auto op = ctx.groups->group_lag(g.group_id);
            auto lags = co_await std::move(op);
            for (const auto& l : lags) {
                if (series++ >= kMaxLagSeries) break;
                w.sample("kafka_consumergroup_lag",
                         {{"consumergroup", g.group_id},
                          {"topic", l.topic},
                          {"partition", std::to_string(l.partition)}},
                         l.lag);
            }
            sums.emplace_back(g.group_id, total_lag(lags));
        }
    }
    w.family("kafka_consumergroup_lag_sum", "gauge", "Total lag of a group over its partitions.");
    for (const auto& [g, s] : sums)
        w.sample("kafka_consumergroup_lag_sum", {{"consumergroup", g}}, s);
    w.family("kafka_consumergroup_members", "gauge", "Members of a group.");
    for (const auto& [g, n] : members)
        w.sample("kafka_consumergroup_members", {{"consumergroup", g}}, n);

    // ---- build and uptime ----
    w.family("rill_build_info", "gauge", "Build information (value 1).");
    w.sample("rill_build_info", {{"version", RILL_VERSION}}, int64_t{1});
    w.family("rill_uptime_seconds", "gauge", "Seconds since the broker started.");
    w.sample("rill_uptime_seconds", {}, reg.uptime_seconds());
    w.family("process_start_time_seconds", "gauge", "Start time of the process (Unix seconds).");
    w.sample("process_start_time_seconds", {}, static_cast<double>(reg.start_time_ms()) / 1000.0);

    co_return response::text(w.take(), "text/plain; version=0.0.4; charset=utf-8");
}

}  // namespace

void add_metrics_routes(router& r, context& ctx) {
    r.add("GET", "/metrics", [&ctx](request&) { return render(ctx); });
}

}  // namespace rill::admin
