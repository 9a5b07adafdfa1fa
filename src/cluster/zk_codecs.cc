#include "cluster/zk_codecs.h"

#include <algorithm>
#include <set>

#include <nlohmann/json.hpp>

#include "cluster/topic_rules.h"

namespace rill::cluster::zk_codec {
namespace {

using json = nlohmann::json;

bool contains(const std::vector<int32_t>& v, int32_t x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

}  // namespace

// ---- paths ------------------------------------------------------------------------------------

std::string broker_path(int32_t id) {
    return std::string(kBrokerIds) + "/" + std::to_string(id);
}
std::string topic_path(const std::string& t) {
    return std::string(kTopics) + "/" + t;
}
std::string partitions_path(const std::string& t) {
    return topic_path(t) + "/partitions";
}
std::string partition_path(const std::string& t, int32_t p) {
    return partitions_path(t) + "/" + std::to_string(p);
}
std::string state_path(const std::string& t, int32_t p) {
    return partition_path(t, p) + "/state";
}
std::string config_path(const std::string& t) {
    return std::string(kConfigTopics) + "/" + t;
}
std::string group_config_path(const std::string& g) {
    return std::string(kConfigGroups) + "/" + g;
}
std::string shutdown_path(int32_t id) {
    return std::string(kShutdowns) + "/" + std::to_string(id);
}
std::string offline_replicas_path(int32_t id) {
    return std::string(kOfflineReplicas) + "/" + std::to_string(id);
}

watched_path classify(const std::string& p) {
    using k = watched_path::kind;
    watched_path w;
    const std::string topics_prefix = std::string(kTopics) + "/";
    const std::string configs_prefix = std::string(kConfigTopics) + "/";
    if (p == kBrokerIds) {
        w.what = k::broker_list;
    } else if (p == kTopics) {
        w.what = k::topic_list;
    } else if (p.starts_with(topics_prefix)) {
        std::string rest = p.substr(topics_prefix.size());
        auto slash = rest.find('/');
        if (slash == std::string::npos) {
            w.what = k::topic;
            w.topic = rest;
            return w;
        }
        std::string tail = rest.substr(slash);  // /partitions/<p>/state
        const std::string pre = "/partitions/";
        const std::string post = "/state";
        if (tail.size() > pre.size() + post.size() && tail.starts_with(pre) &&
            tail.ends_with(post)) {
            std::string num = tail.substr(pre.size(), tail.size() - pre.size() - post.size());
            try {
                w.partition = std::stoi(num);
                w.what = k::state;
                w.topic = rest.substr(0, slash);
            } catch (const std::exception&) {
            }
        }
    } else if (p == kConfigTopics) {
        w.what = k::config_list;
    } else if (p.starts_with(configs_prefix)) {
        w.what = k::config;
        w.topic = p.substr(configs_prefix.size());
    } else if (p == kConfigGroups) {
        w.what = k::group_config_list;
    } else if (p.starts_with(std::string(kConfigGroups) + "/")) {
        w.what = k::group_config;
        w.topic = p.substr(std::string(kConfigGroups).size() + 1);
    } else if (p == kController) {
        w.what = k::controller;
    } else if (p == kShutdowns) {
        w.what = k::shutdowns;
    } else if (p == kOfflineReplicas || p.starts_with(std::string(kOfflineReplicas) + "/")) {
        w.what = k::offline_replicas;
    } else if (p == kLogDirEvents) {
        w.what = k::log_dir_events;
    } else if (p == kPidBlock) {
        w.what = k::pid_block;
    }
    return w;
}

// ---- brokers ------------------------------------------------------------------------------------

std::string encode_broker(const broker_info& b, int64_t timestamp_ms) {
    static const std::set<std::string> known = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};
    json eps = json::array();
    json proto = json::object();
    for (const auto& e : b.endpoints) {
        eps.push_back(e.listener_name + "://" + e.host + ":" + std::to_string(e.port));
        proto[e.listener_name] = known.contains(e.listener_name) ? e.listener_name : "PLAINTEXT";
    }
    json j = {{"version", 5},
              {"host", b.endpoints.empty() ? "" : b.endpoints[0].host},
              {"port", b.endpoints.empty() ? -1 : b.endpoints[0].port},
              {"endpoints", eps},
              {"listener_security_protocol_map", proto},
              {"jmx_port", -1},
              {"timestamp", std::to_string(timestamp_ms)}};
    j["rack"] = b.rack ? json(*b.rack) : json(nullptr);
    return j.dump();
}

std::optional<broker_info> decode_broker(int32_t id, const std::string& data) {
    try {
        auto j = json::parse(data);
        broker_info b;
        b.id = id;
        if (j.contains("rack") && j["rack"].is_string()) b.rack = j["rack"].get<std::string>();
        if (j.contains("endpoints") && j["endpoints"].is_array()) {
            for (const auto& e : j["endpoints"]) {
                std::string s = e.get<std::string>();
                auto sep = s.find("://");
                auto colon = s.rfind(':');
                if (sep == std::string::npos || colon == std::string::npos || colon < sep + 3)
                    continue;
                broker_endpoint ep;
                ep.listener_name = s.substr(0, sep);
                ep.host = s.substr(sep + 3, colon - sep - 3);
                if (ep.host.size() > 1 && ep.host.front() == '[' && ep.host.back() == ']')
                    ep.host = ep.host.substr(1, ep.host.size() - 2);
                ep.port = static_cast<uint16_t>(std::stoi(s.substr(colon + 1)));
                b.endpoints.push_back(std::move(ep));
            }
        }
        if (b.endpoints.empty() && j.contains("host") && j["host"].is_string())
            b.endpoints.push_back(broker_endpoint{"PLAINTEXT", j["host"].get<std::string>(),
                                                  static_cast<uint16_t>(j.value("port", 0))});
        return b;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// ---- topics -------------------------------------------------------------------------------------

std::string encode_topic(const topic_znode& t) {
    auto obj = [](const std::map<int32_t, std::vector<int32_t>>& m) {
        json o = json::object();
        for (const auto& [p, r] : m)
            o[std::to_string(p)] = r;
        return o;
    };
    json j = {{"version", 3},
              {"topic_id", uuid_to_base64url(t.id)},
              {"partitions", obj(t.partitions)},
              {"adding_replicas", obj(t.adding)},
              {"removing_replicas", obj(t.removing)}};
    return j.dump();
}

std::optional<topic_znode> decode_topic(const std::string& data) {
    try {
        auto j = json::parse(data);
        topic_znode t;
        if (j.contains("topic_id") && j["topic_id"].is_string()) {
            if (auto id = uuid_from_base64url(j["topic_id"].get<std::string>())) t.id = *id;
        }
        auto read_map = [&](const char* key, std::map<int32_t, std::vector<int32_t>>& out) {
            if (!j.contains(key) || !j[key].is_object()) return;
            for (const auto& [k, v] : j[key].items())
                out[std::stoi(k)] = v.get<std::vector<int32_t>>();
        };
        read_map("partitions", t.partitions);
        read_map("adding_replicas", t.adding);
        read_map("removing_replicas", t.removing);
        return t;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

topic_znode topic_znode_of(const topic_info& t) {
    topic_znode tz;
    tz.id = t.id;
    for (const auto& p : t.partitions) {
        tz.partitions[p.id] = p.replicas;
        if (!p.adding_replicas.empty()) tz.adding[p.id] = p.adding_replicas;
        if (!p.removing_replicas.empty()) tz.removing[p.id] = p.removing_replicas;
    }
    return tz;
}

bool reassign(topic_znode& t, int32_t partition, const std::vector<int32_t>& target) {
    std::vector<int32_t>& replicas = t.partitions[partition];
    const std::vector<int32_t> adding =
        t.adding.contains(partition) ? t.adding[partition] : std::vector<int32_t>{};
    const bool ongoing =
        !adding.empty() || (t.removing.contains(partition) && !t.removing[partition].empty());
    std::vector<int32_t> original;
    for (int32_t b : replicas)
        if (!contains(adding, b)) original.push_back(b);
    if (target.empty()) {
        if (!ongoing) return false;
        replicas = original;  // cancel: the controller fixes leader and ISR
    } else {
        std::vector<int32_t> full = target;  // target first, then the leaving ones
        for (int32_t b : original)
            if (!contains(target, b)) full.push_back(b);
        replicas = full;
    }
    t.adding.erase(partition);
    t.removing.erase(partition);
    if (!target.empty()) {
        std::vector<int32_t> add, rem;
        for (int32_t b : original)
            if (!contains(target, b)) rem.push_back(b);
        for (int32_t b : target)
            if (!contains(original, b)) add.push_back(b);
        if (!add.empty()) t.adding[partition] = add;
        if (!rem.empty()) t.removing[partition] = rem;
    }
    return true;
}

// ---- partition state ----------------------------------------------------------------------------

std::string encode_state(int32_t leader, int32_t leader_epoch, const std::vector<int32_t>& isr,
                         int32_t controller_epoch) {
    json j = {{"controller_epoch", controller_epoch},
              {"leader", leader},
              {"version", 1},
              {"leader_epoch", leader_epoch},
              {"isr", isr}};
    return j.dump();
}

std::string encode_state(const partition_state& s) {
    return encode_state(s.leader, s.leader_epoch, s.isr, s.controller_epoch);
}

std::optional<partition_state> decode_state(const std::string& data) {
    try {
        auto j = json::parse(data);
        partition_state s;
        s.leader = j.at("leader").get<int32_t>();
        s.leader_epoch = j.at("leader_epoch").get<int32_t>();
        s.controller_epoch = j.value("controller_epoch", 0);
        s.isr = j.at("isr").get<std::vector<int32_t>>();
        return s;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// ---- topic configs ------------------------------------------------------------------------------

std::string encode_topic_config(const config_values& configs) {
    json cfg = {{"version", 1}, {"config", json::object()}};
    for (const auto& [k, v] : configs.all())
        cfg["config"][k] = v;
    return cfg.dump();
}

std::optional<config_values> decode_topic_config(const std::string& data) {
    try {
        auto j = json::parse(data);
        config_values values;
        if (j.contains("config"))
            for (const auto& [k, v] : j["config"].items())
                values.set(k, v.is_string() ? v.get<std::string>() : v.dump());
        return values;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// ---- controller ---------------------------------------------------------------------------------

std::string encode_controller(int32_t broker_id, int64_t timestamp_ms) {
    // Version 2 is Kafka 3.x's (KIP-866); -1: not a KRaft controller.
    json j = {{"version", 2},
              {"brokerid", broker_id},
              {"timestamp", std::to_string(timestamp_ms)},
              {"kraftControllerEpoch", -1}};
    return j.dump();
}

std::optional<int32_t> decode_controller(const std::string& data) {
    try {
        return json::parse(data).at("brokerid").get<int32_t>();
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string encode_controller_epoch(int32_t epoch) {
    return std::to_string(epoch);
}

std::optional<int32_t> decode_controller_epoch(const std::string& data) {
    try {
        return std::stoi(data);
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// ---- log dir failures ---------------------------------------------------------------------------

std::string encode_offline_replicas(const partition_set& partitions) {
    json parts = json::array();
    for (const auto& [t, p] : partitions)
        parts.push_back({{"topic", t}, {"partition", p}});
    json j = {{"version", 1}, {"partitions", parts}};
    return j.dump();
}

std::optional<partition_set> decode_offline_replicas(const std::string& data) {
    try {
        auto j = json::parse(data);
        partition_set out;
        for (const auto& e : j.at("partitions"))
            out.emplace(e.at("topic").get<std::string>(), e.at("partition").get<int32_t>());
        return out;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string encode_log_dir_event(int32_t broker) {
    json j = {{"version", 1}, {"broker", broker}, {"event", 1}};
    return j.dump();
}

std::optional<int32_t> decode_log_dir_event(const std::string& data) {
    try {
        return json::parse(data).at("broker").get<int32_t>();
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// ---- producer ids, cluster id -------------------------------------------------------------------

std::string encode_pid_block(int32_t broker, int64_t start, int64_t end) {
    json j = {{"version", 1},
              {"broker", broker},
              {"block_start", std::to_string(start)},
              {"block_end", std::to_string(end)}};
    return j.dump();
}

result<int64_t, std::string> decode_pid_block_end(const std::string& data) {
    try {
        return std::stoll(json::parse(data).at("block_end").get<std::string>());
    } catch (const std::exception& e) {
        return unexpected(std::string(e.what()));
    }
}

std::string encode_cluster_id(const std::string& id) {
    json j = {{"version", "1"}, {"id", id}};
    return j.dump();
}

result<std::string, std::string> decode_cluster_id(const std::string& data) {
    try {
        return json::parse(data).at("id").get<std::string>();
    } catch (const std::exception& e) {
        return unexpected(std::string(e.what()));
    }
}

}  // namespace rill::cluster::zk_codec
