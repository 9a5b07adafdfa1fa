#include "cluster/zk_store.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "cluster/topic_rules.h"
#include "cluster/zk_client.h"
#include "common/file_util.h"
#include "common/logging.h"

namespace rill::cluster {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

constexpr const char* kBrokerIds = "/brokers/ids";
constexpr const char* kTopics = "/brokers/topics";
constexpr const char* kConfigTopics = "/config/topics";
constexpr const char* kController = "/controller";
constexpr const char* kControllerEpoch = "/controller_epoch";
constexpr const char* kClusterId = "/cluster/id";
constexpr const char* kPidBlock = "/latest_producer_id_block";
constexpr const char* kShutdowns = "/rill/controlled_shutdown";
constexpr int kImbalancePercent = 10;  // leader.imbalance.per.broker.percentage

std::string now_ms_string() {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
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

bool contains(const std::vector<int32_t>& v, int32_t x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

std::string state_json(int32_t leader, int32_t leader_epoch, const std::vector<int32_t>& isr,
                       int32_t controller_epoch) {
    json j = {{"controller_epoch", controller_epoch},
              {"leader", leader},
              {"version", 1},
              {"leader_epoch", leader_epoch},
              {"isr", isr}};
    return j.dump();
}

struct topic_znode {
    protocol::uuid id;
    std::map<int32_t, std::vector<int32_t>> partitions;
    std::map<int32_t, std::vector<int32_t>> adding;
    std::map<int32_t, std::vector<int32_t>> removing;
};

std::string topic_json(const topic_znode& t) {
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

std::optional<topic_znode> parse_topic(const std::string& data) {
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

struct state_znode {
    int32_t leader = -1;
    int32_t leader_epoch = 0;
    int32_t controller_epoch = 0;
    std::vector<int32_t> isr;
};

std::optional<state_znode> parse_state(const std::string& data) {
    try {
        auto j = json::parse(data);
        state_znode s;
        s.leader = j.at("leader").get<int32_t>();
        s.leader_epoch = j.at("leader_epoch").get<int32_t>();
        s.controller_epoch = j.value("controller_epoch", 0);
        s.isr = j.at("isr").get<std::vector<int32_t>>();
        return s;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

std::string broker_json(const broker_info& b) {
    json eps = json::array();
    json proto = json::object();
    for (const auto& e : b.endpoints) {
        eps.push_back(e.listener_name + "://" + e.host + ":" + std::to_string(e.port));
        static const std::set<std::string> known = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT",
                                                    "SASL_SSL"};
        proto[e.listener_name] = known.contains(e.listener_name) ? e.listener_name : "PLAINTEXT";
    }
    json j = {{"version", 5},
              {"host", b.endpoints.empty() ? "" : b.endpoints[0].host},
              {"port", b.endpoints.empty() ? -1 : b.endpoints[0].port},
              {"endpoints", eps},
              {"listener_security_protocol_map", proto},
              {"jmx_port", -1},
              {"timestamp", now_ms_string()}};
    j["rack"] = b.rack ? json(*b.rack) : json(nullptr);
    return j.dump();
}

std::optional<broker_info> parse_broker(int32_t id, const std::string& data) {
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

meta_error unavailable(int rc, const std::string& what) {
    return meta_error{meta_errc::unavailable,
                      "ZooKeeper unavailable (" + what + "): " + zk::error_string(rc)};
}

meta_error zk_failure(int rc, const std::string& what) {
    if (zk::session::is_transport_error(rc)) return unavailable(rc, what);
    return meta_error{meta_errc::storage_error, what + ": " + zk::error_string(rc)};
}

// The chroot part of "h1:p1,h2:p2/chroot" ("" when none).
void split_connect(const std::string& connect, std::string* hosts, std::string* chroot) {
    auto slash = connect.find('/');
    if (slash == std::string::npos) {
        *hosts = connect;
        chroot->clear();
        return;
    }
    *hosts = connect.substr(0, slash);
    *chroot = connect.substr(slash);
    while (chroot->size() > 1 && chroot->back() == '/')
        chroot->pop_back();
    if (*chroot == "/") chroot->clear();
}

class zk_store final : public metadata_store {
  public:
    zk_store(const broker_config& config, broker_info self, std::string data_dir)
        : config_(config),
          self_(std::move(self)),
          data_dir_(std::move(data_dir)),
          log_(rill::logger("zk")) {
        split_connect(config_.get_string("zookeeper.connect"), &hosts_, &chroot_);
        session_timeout_ms_ = static_cast<int>(config_.get_int("zookeeper.session.timeout.ms"));
        connect_timeout_ =
            std::chrono::milliseconds(config_.get("zookeeper.connection.timeout.ms").has_value()
                                          ? config_.get_int("zookeeper.connection.timeout.ms")
                                          : session_timeout_ms_);
        if (auto v = config_.get("leader.imbalance.check.interval.seconds"))
            rebalance_interval_ = std::chrono::seconds(std::stoll(*v));
        snap_ = std::make_shared<metadata_snapshot>();
    }

    ~zk_store() override {
        {
            std::lock_guard lock(q_mu_);
            stop_ = true;
        }
        q_cv_.notify_all();
        if (thread_.joinable()) thread_.join();
        std::shared_ptr<zk::session> s;
        {
            std::lock_guard lock(zk_mu_);
            s = std::move(zk_);
        }
        s.reset();  // closes the session: our ephemeral znodes go away now
        log_->info("broker {} left the cluster (session closed)", self_.id);
    }

    bool start(std::string* error) {
        if (hosts_.empty()) {
            *error = "zookeeper.connect is empty";
            return false;
        }
        if (!connect_and_register(clock::now() + connect_timeout_, true, error)) return false;
        full_reload();
        if (need_full_reload_) {
            *error = "could not read the cluster metadata from ZooKeeper at " + hosts_ + chroot_;
            return false;
        }
        elect();
        publish();
        thread_ = std::thread([this] { run(); });
        return true;
    }

    std::shared_ptr<const metadata_snapshot> snapshot() const override {
        std::lock_guard lock(snap_mu_);
        return snap_;
    }

    void subscribe(listener l) override {
        std::lock_guard lock(listeners_mu_);
        listeners_.push_back(std::move(l));
    }

    // ---- writes -------------------------------------------------------------------------

    result<topic_info, meta_error> create_topic(const new_topic& req, bool validate_only) override {
        auto cur = snapshot();
        auto resolved = resolve_new_topic(req, *cur, config_);
        if (!resolved) return unexpected(resolved.error());
        std::vector<std::vector<int32_t>> assignment;
        if (!req.assignments.empty()) {
            for (const auto& [p, r] : req.assignments)
                assignment.push_back(r);
        } else {
            std::vector<broker_info> live;
            for (const auto& [_, b] : cur->brokers)
                live.push_back(b);
            assignment = assign_replicas(live, resolved->partitions, resolved->replication_factor);
            if (static_cast<int32_t>(assignment.size()) != resolved->partitions)
                return unexpected(
                    meta_error{meta_errc::invalid_replication_factor, "cannot assign replicas"});
        }
        topic_info t;
        t.name = req.name;
        t.id = random_topic_uuid();
        t.internal = req.internal || req.name.starts_with("__");
        t.configs = req.configs;
        topic_znode tz;
        tz.id = t.id;
        for (size_t p = 0; p < assignment.size(); ++p) {
            partition_info pi;
            pi.id = static_cast<int32_t>(p);
            pi.replicas = assignment[p];
            for (int32_t r : pi.replicas)
                if (cur->brokers.contains(r)) pi.isr.push_back(r);
            pi.leader = pi.isr.empty() ? -1 : pi.isr.front();
            tz.partitions[pi.id] = pi.replicas;
            t.partitions.push_back(std::move(pi));
        }
        if (validate_only) return t;
        auto s = zk();
        zk::ops o;
        o.create(topic_path(t.name), topic_json(tz));
        o.create(partitions_path(t.name), "");
        int32_t cepoch = known_controller_epoch_.load();
        for (const auto& pi : t.partitions) {
            o.create(partition_path(t.name, pi.id), "");
            o.create(state_path(t.name, pi.id),
                     state_json(pi.leader, pi.leader_epoch, pi.isr, cepoch));
        }
        json cfg = {{"version", 1}, {"config", json::object()}};
        for (const auto& [k, v] : t.configs.all())
            cfg["config"][k] = v;
        if (int rc = s->exists(config_path(t.name), false); rc == ZOK) {
            o.set(config_path(t.name), cfg.dump(), -1);
        } else if (rc == ZNONODE) {
            o.create(config_path(t.name), cfg.dump());
        } else {
            return unexpected(zk_failure(rc, "create topic " + t.name));
        }
        int failed = -1;
        int rc = s->multi(o, &failed);
        if (rc == ZNODEEXISTS && failed == 0)
            return unexpected(
                meta_error{meta_errc::topic_exists, "Topic '" + t.name + "' already exists."});
        if (rc != ZOK) return unexpected(zk_failure(rc, "create topic " + t.name));
        log_->info("created topic {} ({} partitions, replication factor {})", t.name,
                   t.partitions.size(), t.replication_factor());
        const std::string name = t.name;
        on_store([this, &name] {
            load_config(name);
            load_topic(name);
        });
        auto after = snapshot();
        if (const topic_info* ti = after->find_topic(t.name)) return *ti;
        return t;
    }

    result<void, meta_error> delete_topic(const std::string& name) override {
        auto s = zk();
        for (int attempt = 0; attempt < 5; ++attempt) {
            std::vector<std::string> parts;
            int rc = s->children(partitions_path(name), false, &parts);
            if (rc == ZNONODE) {
                if (int e = s->exists(topic_path(name), false); e == ZNONODE)
                    return unexpected(
                        meta_error{meta_errc::unknown_topic, "Unknown topic " + name});
                parts.clear();
            } else if (rc != ZOK) {
                return unexpected(zk_failure(rc, "delete topic " + name));
            }
            zk::ops o;
            for (const auto& p : parts) {
                std::string pp = partitions_path(name) + "/" + p;
                std::vector<std::string> kids;
                if (s->children(pp, false, &kids) == ZOK)
                    for (const auto& k : kids)
                        o.remove(pp + "/" + k);
                o.remove(pp);
            }
            if (rc == ZOK) o.remove(partitions_path(name));
            o.remove(topic_path(name));
            if (s->exists(config_path(name), false) == ZOK) o.remove(config_path(name));
            int failed = -1;
            rc = s->multi(o, &failed);
            if (rc == ZOK) {
                log_->info("deleted topic {}", name);
                on_store([this, &name] {
                    load_topic(name);
                    load_config(name);
                });
                return {};
            }
            if (zk::session::is_transport_error(rc))
                return unexpected(zk_failure(rc, "delete topic " + name));
            if (rc == ZNONODE && failed == static_cast<int>(o.size()) - 1) continue;
            if (rc == ZNONODE || rc == ZNOTEMPTY) continue;  // raced with another change
            return unexpected(zk_failure(rc, "delete topic " + name));
        }
        return unexpected(meta_error{meta_errc::stale_state, "topic " + name + " keeps changing"});
    }

    result<void, meta_error> create_partitions(const std::string& name, int32_t total,
                                               bool validate_only) override {
        auto s = zk();
        for (int attempt = 0; attempt < 5; ++attempt) {
            std::string data;
            Stat st;
            int rc = s->get(topic_path(name), false, &data, &st);
            if (rc == ZNONODE)
                return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + name});
            if (rc != ZOK) return unexpected(zk_failure(rc, "create partitions " + name));
            auto tz = parse_topic(data);
            if (!tz)
                return unexpected(
                    meta_error{meta_errc::storage_error, "corrupt topic znode for " + name});
            int32_t have = static_cast<int32_t>(tz->partitions.size());
            if (auto ok = check_partition_increase(have, total); !ok) return unexpected(ok.error());
            int32_t rf = have ? static_cast<int32_t>(tz->partitions.begin()->second.size()) : 1;
            auto cur = snapshot();
            if (rf > static_cast<int32_t>(cur->brokers.size()))
                return unexpected(meta_error{meta_errc::invalid_replication_factor,
                                             "Replication factor: " + std::to_string(rf) +
                                                 " larger than available brokers: " +
                                                 std::to_string(cur->brokers.size()) + "."});
            std::vector<broker_info> live;
            for (const auto& [_, b] : cur->brokers)
                live.push_back(b);
            // Kafka starts from the index of partition 0's first replica.
            int32_t start = -1;
            if (have && !tz->partitions.begin()->second.empty()) {
                int32_t first = tz->partitions.begin()->second.front();
                int32_t idx = 0;
                for (const auto& [id, _] : cur->brokers) {
                    if (id == first) start = idx;
                    ++idx;
                }
            }
            auto added = assign_replicas(live, total - have, rf, have, start);
            if (validate_only) return {};
            zk::ops o;
            int32_t cepoch = known_controller_epoch_.load();
            std::vector<std::pair<int32_t, std::vector<int32_t>>> creates;
            for (int32_t p = have; p < total; ++p)
                tz->partitions[p] = added[static_cast<size_t>(p - have)];
            o.set(topic_path(name), topic_json(*tz), st.version);
            if (s->exists(partitions_path(name), false) == ZNONODE)
                o.create(partitions_path(name), "");
            for (int32_t p = have; p < total; ++p) {
                const auto& replicas = tz->partitions[p];
                std::vector<int32_t> isr;
                for (int32_t r : replicas)
                    if (cur->brokers.contains(r)) isr.push_back(r);
                o.create(partition_path(name, p), "");
                o.create(state_path(name, p),
                         state_json(isr.empty() ? -1 : isr.front(), 0, isr, cepoch));
            }
            rc = s->multi(o);
            if (rc == ZBADVERSION || rc == ZNODEEXISTS) continue;
            if (rc != ZOK) return unexpected(zk_failure(rc, "create partitions " + name));
            log_->info("topic {}: partitions {} -> {}", name, have, total);
            on_store([this, &name] { load_topic(name); });
            return {};
        }
        return unexpected(meta_error{meta_errc::stale_state, "topic " + name + " keeps changing"});
    }

    result<void, meta_error> set_topic_configs(const std::string& name,
                                               const config_values& configs,
                                               bool validate_only) override {
        if (auto r = validate_topic_configs(configs); !r)
            return unexpected(meta_error{meta_errc::invalid_config, r.error()});
        auto s = zk();
        int rc = s->exists(topic_path(name), false);
        if (rc == ZNONODE)
            return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + name});
        if (rc != ZOK) return unexpected(zk_failure(rc, "alter configs of " + name));
        if (validate_only) return {};
        json cfg = {{"version", 1}, {"config", json::object()}};
        for (const auto& [k, v] : configs.all())
            cfg["config"][k] = v;
        rc = s->set(config_path(name), cfg.dump(), -1);
        if (rc == ZNONODE) rc = s->create(config_path(name), cfg.dump());
        if (rc != ZOK) return unexpected(zk_failure(rc, "alter configs of " + name));
        on_store([this, &name] { load_config(name); });
        return {};
    }

    result<int64_t, meta_error> allocate_producer_ids(int32_t count) override {
        if (count <= 0)
            return unexpected(meta_error{meta_errc::storage_error, "count must be positive"});
        auto s = zk();
        for (int attempt = 0; attempt < 50; ++attempt) {
            std::string data;
            Stat st;
            int rc = s->get(kPidBlock, false, &data, &st);
            int64_t start = 0;
            if (rc == ZOK) {
                try {
                    auto j = json::parse(data);
                    start = std::stoll(j.at("block_end").get<std::string>()) + 1;
                } catch (const std::exception& e) {
                    return unexpected(
                        meta_error{meta_errc::storage_error,
                                   std::string("corrupt ") + kPidBlock + ": " + e.what()});
                }
            } else if (rc != ZNONODE) {
                return unexpected(zk_failure(rc, "allocate producer ids"));
            }
            json j = {{"version", 1},
                      {"broker", self_.id},
                      {"block_start", std::to_string(start)},
                      {"block_end", std::to_string(start + count - 1)}};
            rc = rc == ZNONODE ? s->create(kPidBlock, j.dump())
                               : s->set(kPidBlock, j.dump(), st.version);
            if (rc == ZBADVERSION || rc == ZNODEEXISTS) continue;
            if (rc != ZOK) return unexpected(zk_failure(rc, "allocate producer ids"));
            on_store([this] { load_pid(); });
            return start;
        }
        return unexpected(meta_error{meta_errc::stale_state, "producer id block contended"});
    }

    result<partition_info, meta_error> alter_isr(const std::string& topic, int32_t partition,
                                                 int32_t leader, int32_t leader_epoch,
                                                 int32_t partition_epoch,
                                                 std::vector<int32_t> isr) override {
        if (partition < 0)
            return unexpected(
                meta_error{meta_errc::unknown_topic,
                           "Unknown partition " + topic + "-" + std::to_string(partition)});
        if (!contains(isr, leader))
            return unexpected(meta_error{meta_errc::invalid_replica_assignment,
                                         "the ISR must contain the leader"});
        auto s = zk();
        std::string data;
        Stat st;
        int rc = s->get(state_path(topic, partition), false, &data, &st);
        if (rc == ZNONODE)
            return unexpected(
                meta_error{meta_errc::unknown_topic,
                           "Unknown partition " + topic + "-" + std::to_string(partition)});
        if (rc != ZOK) return unexpected(zk_failure(rc, "alter ISR"));
        auto state = parse_state(data);
        if (!state) return unexpected(meta_error{meta_errc::storage_error, "corrupt state"});
        if (state->leader != leader || state->leader_epoch != leader_epoch)
            return unexpected(meta_error{meta_errc::not_leader,
                                         "partition " + topic + "-" + std::to_string(partition) +
                                             " is led by " + std::to_string(state->leader) +
                                             " at epoch " + std::to_string(state->leader_epoch)});
        if (st.version != partition_epoch)
            return unexpected(meta_error{meta_errc::stale_state,
                                         "partition epoch is " + std::to_string(st.version) +
                                             ", not " + std::to_string(partition_epoch)});
        // Members must be replicas (of the ongoing reassignment's full set, if any).
        partition_info out;
        out.id = partition;
        std::string tdata;
        if (s->get(topic_path(topic), false, &tdata) == ZOK) {
            if (auto tz = parse_topic(tdata)) {
                out.replicas = tz->partitions[partition];
                out.adding_replicas = tz->adding[partition];
                out.removing_replicas = tz->removing[partition];
                for (int32_t b : isr)
                    if (!contains(out.replicas, b))
                        return unexpected(
                            meta_error{meta_errc::invalid_replica_assignment,
                                       "broker " + std::to_string(b) + " is not a replica"});
            }
        }
        std::vector<int32_t> dedup;
        for (int32_t b : isr)
            if (!contains(dedup, b)) dedup.push_back(b);
        Stat nst;
        rc = s->set(state_path(topic, partition),
                    state_json(leader, leader_epoch, dedup, state->controller_epoch), st.version,
                    &nst);
        if (rc == ZBADVERSION)
            return unexpected(meta_error{meta_errc::stale_state, "partition state changed"});
        if (rc != ZOK) return unexpected(zk_failure(rc, "alter ISR"));
        on_store([this, &topic, partition] {
            if (topics_.contains(topic))
                load_state(topic, partition);
            else
                load_topic(topic);
        });
        out.leader = leader;
        out.leader_epoch = leader_epoch;
        out.isr = dedup;
        out.partition_epoch = nst.version;
        if (const topic_info* nt = snapshot()->find_topic(topic);
            nt && partition < static_cast<int32_t>(nt->partitions.size()) &&
            nt->partitions[static_cast<size_t>(partition)].partition_epoch == nst.version)
            out = nt->partitions[static_cast<size_t>(partition)];
        return out;
    }

    result<void, meta_error> reassign_partition(const std::string& topic, int32_t partition,
                                                std::vector<int32_t> target) override {
        auto s = zk();
        for (int attempt = 0; attempt < 5; ++attempt) {
            std::string data;
            Stat st;
            int rc = s->get(topic_path(topic), false, &data, &st);
            if (rc == ZNONODE)
                return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + topic});
            if (rc != ZOK) return unexpected(zk_failure(rc, "reassign"));
            auto tz = parse_topic(data);
            if (!tz) return unexpected(meta_error{meta_errc::storage_error, "corrupt topic"});
            auto it = tz->partitions.find(partition);
            if (it == tz->partitions.end())
                return unexpected(
                    meta_error{meta_errc::unknown_topic,
                               "Unknown partition " + topic + "-" + std::to_string(partition)});
            const std::vector<int32_t> rs = it->second;
            const std::vector<int32_t> adding = tz->adding[partition];
            const std::vector<int32_t> removing = tz->removing[partition];
            std::vector<int32_t> original;
            for (int32_t b : rs)
                if (!contains(adding, b)) original.push_back(b);
            bool ongoing = !adding.empty() || !removing.empty();
            if (target.empty()) {
                if (!ongoing)
                    return unexpected(meta_error{meta_errc::no_reassignment_in_progress,
                                                 "No reassignment in progress for " + topic + "-" +
                                                     std::to_string(partition)});
                it->second = original;  // cancel: the controller fixes leader and ISR
            } else {
                std::set<int32_t> seen;
                auto cur = snapshot();
                for (int32_t b : target) {
                    if (!seen.insert(b).second)
                        return unexpected(meta_error{meta_errc::invalid_replica_assignment,
                                                     "duplicate replica " + std::to_string(b)});
                    if (!cur->brokers.contains(b))
                        return unexpected(
                            meta_error{meta_errc::invalid_replica_assignment,
                                       "broker " + std::to_string(b) + " is not registered"});
                }
                std::vector<int32_t> full = target;  // target first, then the leaving ones
                for (int32_t b : original)
                    if (!contains(target, b)) full.push_back(b);
                it->second = full;
            }
            tz->adding.erase(partition);
            tz->removing.erase(partition);
            if (!target.empty()) {
                std::vector<int32_t> add, rem;
                for (int32_t b : original)
                    if (!contains(target, b)) rem.push_back(b);
                for (int32_t b : target)
                    if (!contains(original, b)) add.push_back(b);
                if (!add.empty()) tz->adding[partition] = add;
                if (!rem.empty()) tz->removing[partition] = rem;
            }
            rc = s->set(topic_path(topic), topic_json(*tz), st.version);
            if (rc == ZBADVERSION) continue;
            if (rc != ZOK) return unexpected(zk_failure(rc, "reassign"));
            log_->info("reassignment of {}-{}: {}", topic, partition,
                       target.empty() ? std::string("cancelled") : std::string("started"));
            on_store([this, &topic] { load_topic(topic); });
            return {};
        }
        return unexpected(meta_error{meta_errc::stale_state, "topic keeps changing"});
    }

    result<void, meta_error> elect_preferred_leader(const std::string& topic,
                                                    int32_t partition) override {
        auto s = zk();
        for (int attempt = 0; attempt < 5; ++attempt) {
            std::string tdata, data;
            int rc = s->get(topic_path(topic), false, &tdata);
            if (rc == ZNONODE)
                return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + topic});
            if (rc != ZOK) return unexpected(zk_failure(rc, "elect leader"));
            auto tz = parse_topic(tdata);
            if (!tz || !tz->partitions.contains(partition) || tz->partitions[partition].empty())
                return unexpected(meta_error{meta_errc::unknown_topic, "Unknown partition"});
            int32_t preferred = tz->partitions[partition].front();
            Stat st;
            rc = s->get(state_path(topic, partition), false, &data, &st);
            if (rc != ZOK) return unexpected(zk_failure(rc, "elect leader"));
            auto state = parse_state(data);
            if (!state) return unexpected(meta_error{meta_errc::storage_error, "corrupt state"});
            if (state->leader == preferred)
                return unexpected(meta_error{meta_errc::election_not_needed,
                                             "Leader is already the preferred replica."});
            Stat bst;
            bool live = s->exists(std::string(kBrokerIds) + "/" + std::to_string(preferred), false,
                                  &bst) == ZOK;
            if (!live || !contains(state->isr, preferred) || shutting_down_now(preferred))
                return unexpected(meta_error{
                    meta_errc::preferred_leader_not_available,
                    "Preferred replica " + std::to_string(preferred) + " is not available."});
            rc = s->set(
                state_path(topic, partition),
                state_json(preferred, state->leader_epoch + 1, state->isr,
                           std::max(state->controller_epoch, known_controller_epoch_.load())),
                st.version);
            if (rc == ZBADVERSION) continue;
            if (rc != ZOK) return unexpected(zk_failure(rc, "elect leader"));
            log_->info("elected preferred leader {} for {}-{} (leader epoch {})", preferred, topic,
                       partition, state->leader_epoch + 1);
            on_store([this, &topic, partition] { load_state(topic, partition); });
            return {};
        }
        return unexpected(meta_error{meta_errc::stale_state, "partition state keeps changing"});
    }

    int controlled_shutdown(std::chrono::milliseconds timeout) override {
        auto deadline = clock::now() + timeout;
        auto s = zk();
        std::string path = std::string(kShutdowns) + "/" + std::to_string(self_.id);
        int rc = s->create(path, now_ms_string(), true);
        if (rc != ZOK && rc != ZNODEEXISTS)
            log_->warn("controlled shutdown: cannot signal the controller: {}",
                       zk::error_string(rc));
        else
            log_->info("controlled shutdown requested (broker {})", self_.id);
        on_store([this] { load_shutdowns(); });
        auto count = [this](bool movable_only) {
            auto snap = snapshot();
            int n = 0;
            for (const auto& [_, t] : snap->topics)
                for (const auto& p : t.partitions) {
                    if (p.leader != self_.id) continue;
                    if (!movable_only) {
                        ++n;
                        continue;
                    }
                    for (int32_t b : p.isr)
                        if (b != self_.id && snap->brokers.contains(b)) {
                            ++n;
                            break;
                        }
                }
            return n;
        };
        std::unique_lock lock(snap_mu_);
        while (clock::now() < deadline) {
            lock.unlock();
            int movable = count(true);
            lock.lock();
            if (movable == 0) break;
            snap_cv_.wait_until(lock, std::min(deadline, clock::now() + 100ms));
        }
        lock.unlock();
        int left = count(false);
        log_->info("controlled shutdown: still leading {} partitions", left);
        return left;
    }

    // ---- testing hooks -------------------------------------------------------------------

    bool expire_for_testing() {
        // The original client may win its connection back before the twin closes the session;
        // retry until the store runs on a new session.
        int64_t old_id = zk()->session_id();
        for (int attempt = 0; attempt < 10; ++attempt) {
            auto s = zk();
            if (s->session_id() != old_id) return true;
            clientid_t id = s->client_id();
            std::string err;
            auto twin = zk::session::open(hosts_ + chroot_, session_timeout_ms_, connect_timeout_,
                                          nullptr, &err, &id);
            if (!twin) {
                // Most likely the session is already gone: wait for the store to notice.
                auto until = clock::now() + std::chrono::milliseconds(session_timeout_ms_) + 3s;
                while (clock::now() < until && zk()->session_id() == old_id)
                    std::this_thread::sleep_for(20ms);
                continue;
            }
            twin.reset();  // closing the twin closes the session
            auto deadline = clock::now() + 2s;
            while (clock::now() < deadline) {
                if (zk()->session_id() != old_id) return true;
                std::this_thread::sleep_for(20ms);
            }
        }
        return zk()->session_id() != old_id;
    }
    bool controller_now() const { return is_controller_flag_.load(); }

  private:
    struct topic_entry {
        topic_info info;
        int32_t version = -1;  // topic znode version
    };
    struct queued_event {
        uint64_t generation;
        zk::event ev;
    };

    std::shared_ptr<zk::session> zk() const {
        std::lock_guard lock(zk_mu_);
        return zk_;
    }

    bool shutting_down_now(int32_t id) {
        Stat st;
        auto s = zk();
        return s->exists(std::string(kShutdowns) + "/" + std::to_string(id), false, &st) == ZOK;
    }

    // Runs `fn` on the store thread (inline when already there, or before it starts), then
    // publishes if anything changed; waits for it.
    void on_store(const std::function<void()>& fn) {
        if (!thread_.joinable() || std::this_thread::get_id() == thread_.get_id()) {
            fn();
            if (dirty_) publish();
            return;
        }
        auto done = std::make_shared<std::promise<void>>();
        auto fut = done->get_future();
        {
            std::lock_guard lock(q_mu_);
            if (stop_) return;
            tasks_.push_back([this, &fn, done] {
                fn();
                if (dirty_) publish();
                done->set_value();
            });
        }
        q_cv_.notify_all();
        fut.wait();
    }

    void push_event(uint64_t gen, const zk::event& e) {
        {
            std::lock_guard lock(q_mu_);
            events_.push_back(queued_event{gen, e});
        }
        q_cv_.notify_all();
    }

    // ---- connection, registration --------------------------------------------------------

    bool connect_and_register(clock::time_point deadline, bool first, std::string* error) {
        auto remaining = [&] {
            return std::max(
                std::chrono::milliseconds(1),
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
        };
        if (!chroot_.empty()) {
            auto root = zk::session::open(hosts_, session_timeout_ms_, remaining(), nullptr, error);
            if (!root) return false;
            if (int rc = root->ensure_path(chroot_); rc != ZOK) {
                *error =
                    "cannot create the ZooKeeper chroot " + chroot_ + ": " + zk::error_string(rc);
                return false;
            }
        }
        uint64_t gen = ++generation_;
        auto s = zk::session::open(
            hosts_ + chroot_, session_timeout_ms_, remaining(),
            [this, gen](const zk::event& e) { push_event(gen, e); }, error);
        if (!s) return false;
        log_->info("connected to ZooKeeper at {}{} (session 0x{:x})", hosts_, chroot_,
                   s->session_id());
        std::shared_ptr<zk::session> shared = std::move(s);
        {
            std::lock_guard lock(zk_mu_);
            zk_ = shared;
        }
        for (const char* p : {kBrokerIds, kTopics, kConfigTopics, kShutdowns, "/cluster"}) {
            if (int rc = shared->ensure_path(p); rc != ZOK) {
                *error = std::string("cannot create ") + p + ": " + zk::error_string(rc);
                return false;
            }
        }
        if (!check_cluster_id(*shared, first, error)) return false;
        // Registration: a previous incarnation's ephemeral znode may linger until its session
        // expires.
        std::string path = std::string(kBrokerIds) + "/" + std::to_string(self_.id);
        auto wait_until = clock::now() + std::chrono::milliseconds(session_timeout_ms_) + 5s;
        bool logged_wait = false;
        for (;;) {
            int rc = shared->create(path, broker_json(self_), true);
            if (rc == ZOK) break;
            if (rc == ZNODEEXISTS) {
                Stat st;
                if (shared->exists(path, false, &st) == ZOK &&
                    st.ephemeralOwner == shared->session_id())
                    break;
                if (!logged_wait) {
                    log_->warn(
                        "broker id {} is still registered by another session; waiting "
                        "up to {} ms for it to expire",
                        self_.id, session_timeout_ms_ + 5000);
                    logged_wait = true;
                }
                if (clock::now() > wait_until || stopping()) {
                    *error = "broker.id " + std::to_string(self_.id) +
                             " is already registered in ZooKeeper (" + path +
                             ") by another live session: another broker uses this broker.id";
                    return false;
                }
                std::this_thread::sleep_for(250ms);
                continue;
            }
            *error = "cannot register " + path + ": " + zk::error_string(rc);
            return false;
        }
        log_->info("registered broker {} at {}", self_.id, path);
        is_controller_ = false;
        is_controller_flag_ = false;
        return true;
    }

    bool check_cluster_id(zk::session& s, bool first, std::string* error) {
        std::string data;
        std::string id;
        for (int attempt = 0; attempt < 3 && id.empty(); ++attempt) {
            int rc = s.get(kClusterId, false, &data);
            if (rc == ZOK) {
                try {
                    id = json::parse(data).at("id").get<std::string>();
                } catch (const std::exception& e) {
                    *error = std::string("corrupt ") + kClusterId + ": " + e.what();
                    return false;
                }
            } else if (rc == ZNONODE) {
                std::string fresh = uuid_to_base64url(random_topic_uuid());
                json j = {{"version", "1"}, {"id", fresh}};
                int c = s.create(kClusterId, j.dump());
                if (c == ZOK) {
                    id = fresh;
                    log_->info("created cluster id {}", id);
                } else if (c != ZNODEEXISTS) {
                    *error =
                        std::string("cannot create ") + kClusterId + ": " + zk::error_string(c);
                    return false;
                }
            } else {
                *error = std::string("cannot read ") + kClusterId + ": " + zk::error_string(rc);
                return false;
            }
        }
        if (id.empty()) {
            *error = "cannot establish the cluster id";
            return false;
        }
        if (!first) {
            if (id != cluster_id_) {
                *error = "the cluster id in ZooKeeper changed from " + cluster_id_ + " to " + id;
                return false;
            }
            return true;
        }
        std::error_code ec;
        std::filesystem::create_directories(data_dir_, ec);
        std::string meta = data_dir_ + "/meta.properties";
        auto props = read_meta_properties(meta);
        if (!props) {
            *error = props.error();
            return false;
        }
        if (*props) {
            const auto& cid = (*props)->cluster_id;
            const auto& bid = (*props)->node_id;
            if (cid && *cid != id) {
                *error = "The cluster id " + id + " in ZooKeeper does not match the cluster.id " +
                         *cid + " in " + meta + ": this data directory belongs to another cluster";
                return false;
            }
            if (bid && *bid != std::to_string(self_.id)) {
                *error = "The configured broker.id " + std::to_string(self_.id) +
                         " does not match broker.id " + *bid + " in " + meta;
                return false;
            }
            if (!cid) {
                if (!write_meta(meta, id, error)) return false;
            }
        } else if (!write_meta(meta, id, error)) {
            return false;
        }
        cluster_id_ = id;
        return true;
    }

    bool write_meta(const std::string& path, const std::string& id, std::string* error) {
        std::string content = "#Written by Rill\nversion=0\ncluster.id=" + id +
                              "\nbroker.id=" + std::to_string(self_.id) + "\n";
        if (auto r = write_file_atomically(path, content); !r) {
            *error = r.error();
            return false;
        }
        return true;
    }

    bool stopping() {
        std::lock_guard lock(q_mu_);
        return stop_;
    }

    // ---- the store thread -----------------------------------------------------------------

    void run() {
        next_rebalance_ = clock::now() + rebalance_interval_;
        for (;;) {
            std::deque<queued_event> events;
            std::deque<std::function<void()>> tasks;
            {
                std::unique_lock lock(q_mu_);
                q_cv_.wait_for(lock, 1s,
                               [&] { return stop_ || !events_.empty() || !tasks_.empty(); });
                if (stop_) {
                    tasks.swap(tasks_);
                    lock.unlock();
                    for (auto& t : tasks)
                        t();  // let waiting writers return
                    return;
                }
                events.swap(events_);
                tasks.swap(tasks_);
            }
            for (const auto& e : events) {
                if (e.generation != generation_) continue;
                handle_event(e.ev);
            }
            if (!need_reconnect_ && clock::now() >= next_registration_check_) {
                next_registration_check_ = clock::now() + 1s;
                check_registration();
            }
            if (need_reconnect_) reconnect();
            if (need_full_reload_) full_reload();
            if (need_election_ || (controller_id_ < 0 && !is_controller_)) elect();
            if (!is_controller_ && controller_id_ == self_.id) resume_controller();
            if (dirty_) publish();
            for (auto& t : tasks) {
                t();
                if (dirty_) publish();
            }
            if (is_controller_) {
                run_controller();
                if (dirty_) publish();
            }
        }
    }

    void handle_event(const zk::event& e) {
        if (e.type == ZOO_SESSION_EVENT) {
            if (e.state == ZOO_EXPIRED_SESSION_STATE) {
                log_->warn("ZooKeeper session expired");
                need_reconnect_ = true;
            } else if (e.state == ZOO_CONNECTED_STATE) {
                if (disconnected_) log_->info("reconnected to ZooKeeper");
                disconnected_ = false;
            } else if (e.state == ZOO_CONNECTING_STATE) {
                if (!disconnected_) log_->warn("disconnected from ZooKeeper; reconnecting");
                disconnected_ = true;
            }
            return;
        }
        if (e.type == ZOO_NOTWATCHING_EVENT) return;
        const std::string& p = e.path;
        if (p == kBrokerIds) {
            load_brokers();
        } else if (p == kTopics) {
            load_topic_list();
        } else if (p.starts_with(std::string(kTopics) + "/")) {
            std::string rest = p.substr(std::string(kTopics).size() + 1);
            auto slash = rest.find('/');
            if (slash == std::string::npos) {
                load_topic(rest);
            } else {
                std::string t = rest.substr(0, slash);
                std::string tail = rest.substr(slash);  // /partitions/<p>/state
                const std::string pre = "/partitions/";
                if (tail.starts_with(pre) && tail.ends_with("/state")) {
                    std::string num = tail.substr(pre.size(), tail.size() - pre.size() - 6);
                    try {
                        load_state(t, std::stoi(num));
                    } catch (const std::exception&) {
                    }
                }
            }
        } else if (p == kConfigTopics) {
            load_config_list();
        } else if (p.starts_with(std::string(kConfigTopics) + "/")) {
            load_config(p.substr(std::string(kConfigTopics).size() + 1));
        } else if (p == kController) {
            load_controller();
        } else if (p == kShutdowns) {
            load_shutdowns();
        } else if (p == kPidBlock) {
            load_pid();
        }
    }

    // Safety net: our registration must exist and belong to our session. If the session was
    // closed under us (without an expiry event reaching this client), start over.
    void check_registration() {
        auto s = zk();
        if (!s || !s->connected()) return;
        Stat st;
        int rc = s->exists(std::string(kBrokerIds) + "/" + std::to_string(self_.id), false, &st);
        if (rc == ZNONODE || (rc == ZOK && st.ephemeralOwner != s->session_id())) {
            log_->warn(
                "our registration is gone (session 0x{:x} closed); re-registering on a new "
                "session",
                s->session_id());
            need_reconnect_ = true;
        }
    }

    void reconnect() {
        is_controller_ = false;
        is_controller_flag_ = false;
        for (int attempt = 0; !stopping(); ++attempt) {
            std::string error;
            if (connect_and_register(clock::now() + connect_timeout_, false, &error)) {
                log_->info("re-registered broker {} after session expiry", self_.id);
                need_reconnect_ = false;
                need_full_reload_ = true;
                need_election_ = true;
                return;
            }
            log_->warn("re-registration failed (attempt {}): {}", attempt + 1, error);
            std::this_thread::sleep_for(std::min(5000ms, 200ms * (attempt + 1)));
        }
    }

    // A read failed on the transport: re-read everything once the connection is back.
    void read_failed(int rc, const std::string& what) {
        if (!need_full_reload_)
            log_->warn("reading {} failed: {}; will re-read", what, zk::error_string(rc));
        need_full_reload_ = true;
    }

    void full_reload() {
        need_full_reload_ = false;
        load_brokers();
        load_topic_list();
        // Watches of a lost session are gone: re-read (and re-watch) every topic and state.
        std::vector<std::string> names;
        for (const auto& [name, _] : topics_)
            names.push_back(name);
        for (const auto& name : names)
            load_topic(name, true);
        load_config_list();
        std::vector<std::string> cfgs;
        for (const auto& [name, _] : configs_)
            cfgs.push_back(name);
        for (const auto& name : cfgs)
            load_config(name);
        load_controller();
        load_shutdowns();
        load_pid();
        dirty_ = true;
    }

    void load_brokers() {
        auto s = zk();
        std::vector<std::string> ids;
        int rc = s->children(kBrokerIds, true, &ids);
        if (rc != ZOK) return read_failed(rc, kBrokerIds);
        std::map<int32_t, broker_info> next;
        for (const auto& name : ids) {
            int32_t id = 0;
            try {
                id = std::stoi(name);
            } catch (const std::exception&) {
                continue;
            }
            std::string data;
            rc = s->get(std::string(kBrokerIds) + "/" + name, false, &data);
            if (rc == ZNONODE) continue;
            if (rc != ZOK) return read_failed(rc, kBrokerIds);
            if (auto b = parse_broker(id, data)) next[id] = std::move(*b);
        }
        for (const auto& [id, _] : next)
            if (!brokers_.contains(id)) log_->info("broker {} is live", id);
        for (const auto& [id, _] : brokers_)
            if (!next.contains(id)) log_->info("broker {} is gone", id);
        brokers_ = std::move(next);
        dirty_ = true;
    }

    void load_topic_list() {
        auto s = zk();
        std::vector<std::string> names;
        int rc = s->children(kTopics, true, &names);
        if (rc != ZOK) return read_failed(rc, kTopics);
        std::set<std::string> now(names.begin(), names.end());
        for (auto it = topics_.begin(); it != topics_.end();)
            if (!now.contains(it->first)) {
                it = topics_.erase(it);
                dirty_ = true;
            } else {
                ++it;
            }
        for (const auto& t : names)
            if (!topics_.contains(t)) load_topic(t);
    }

    // Re-reads a topic znode (and the state of partitions not known yet, or of all of them).
    void load_topic(const std::string& name, bool all_states = false) {
        auto s = zk();
        std::string data;
        Stat st;
        int rc = s->get(topic_path(name), true, &data, &st);
        if (rc == ZNONODE) {
            if (topics_.erase(name)) dirty_ = true;
            return;
        }
        if (rc != ZOK) return read_failed(rc, topic_path(name));
        auto tz = parse_topic(data);
        if (!tz) {
            log_->warn("ignoring topic {}: unreadable znode", name);
            return;
        }
        auto& entry = topics_[name];
        bool fresh = entry.version < 0;
        entry.version = st.version;
        topic_info& t = entry.info;
        t.name = name;
        t.id = tz->id;
        t.internal = name.starts_with("__");
        std::vector<partition_info> parts;
        for (const auto& [p, replicas] : tz->partitions) {
            if (p != static_cast<int32_t>(parts.size())) break;  // partitions are 0..n-1
            partition_info pi;
            bool known = !fresh && p < static_cast<int32_t>(t.partitions.size());
            if (known) pi = t.partitions[static_cast<size_t>(p)];
            pi.id = p;
            pi.replicas = replicas;
            pi.adding_replicas = tz->adding.contains(p) ? tz->adding[p] : std::vector<int32_t>{};
            pi.removing_replicas =
                tz->removing.contains(p) ? tz->removing[p] : std::vector<int32_t>{};
            if (!known) {
                pi.leader = -1;
                pi.partition_epoch = -1;
            }
            parts.push_back(std::move(pi));
        }
        size_t old = fresh || all_states ? 0 : t.partitions.size();
        t.partitions = std::move(parts);
        if (auto c = configs_.find(name); c != configs_.end()) t.configs = c->second;
        for (size_t p = old; p < t.partitions.size(); ++p)
            load_state(name, static_cast<int32_t>(p));
        dirty_ = true;
    }

    void load_state(const std::string& topic, int32_t p) {
        auto it = topics_.find(topic);
        if (it == topics_.end() || p < 0 ||
            p >= static_cast<int32_t>(it->second.info.partitions.size()))
            return;
        auto s = zk();
        std::string path = state_path(topic, p);
        std::string data;
        Stat st;
        int rc = s->get(path, true, &data, &st);
        if (rc == ZNONODE) {
            rc = s->exists(path, true, &st);  // watch for its creation
            if (rc == ZOK) rc = s->get(path, true, &data, &st);
        }
        auto& pi = it->second.info.partitions[static_cast<size_t>(p)];
        if (rc == ZNONODE) {
            pi.leader = -1;
            pi.isr.clear();
            pi.partition_epoch = -1;
            dirty_ = true;
            return;
        }
        if (rc != ZOK) return read_failed(rc, path);
        auto state = parse_state(data);
        if (!state) {
            log_->warn("unreadable partition state {}", path);
            return;
        }
        pi.leader = state->leader;
        pi.leader_epoch = state->leader_epoch;
        pi.isr = state->isr;
        pi.partition_epoch = st.version;
        dirty_ = true;
    }

    void load_config_list() {
        auto s = zk();
        std::vector<std::string> names;
        int rc = s->children(kConfigTopics, true, &names);
        if (rc != ZOK) return read_failed(rc, kConfigTopics);
        std::set<std::string> now(names.begin(), names.end());
        for (auto it = configs_.begin(); it != configs_.end();)
            if (!now.contains(it->first)) {
                if (auto t = topics_.find(it->first); t != topics_.end())
                    t->second.info.configs = config_values{};
                it = configs_.erase(it);
                dirty_ = true;
            } else {
                ++it;
            }
        for (const auto& n : names)
            if (!configs_.contains(n)) load_config(n);
    }

    void load_config(const std::string& name) {
        auto s = zk();
        std::string data;
        int rc = s->get(config_path(name), true, &data);
        config_values values;
        if (rc == ZNONODE) {
            configs_.erase(name);
        } else if (rc != ZOK) {
            return read_failed(rc, config_path(name));
        } else {
            try {
                auto j = json::parse(data);
                if (j.contains("config"))
                    for (const auto& [k, v] : j["config"].items())
                        values.set(k, v.is_string() ? v.get<std::string>() : v.dump());
            } catch (const std::exception&) {
                log_->warn("unreadable config znode for {}", name);
            }
            configs_[name] = values;
        }
        if (auto t = topics_.find(name); t != topics_.end()) t->second.info.configs = values;
        dirty_ = true;
    }

    void load_controller() {
        auto s = zk();
        std::string data;
        int rc = s->get(kController, true, &data);
        if (rc == ZNONODE) {
            rc = s->exists(kController, true);
            if (rc == ZOK) rc = s->get(kController, true, &data);
        }
        if (rc == ZNONODE) {
            if (controller_id_ != -1) log_->info("controller is gone; electing");
            controller_id_ = -1;
            if (is_controller_) log_->warn("lost controllership");
            is_controller_ = false;
            is_controller_flag_ = false;
            need_election_ = true;
            dirty_ = true;
            return;
        }
        if (rc != ZOK) return read_failed(rc, kController);
        int32_t id = -1;
        try {
            id = json::parse(data).at("brokerid").get<int32_t>();
        } catch (const std::exception&) {
        }
        if (id != controller_id_) {
            if (id != self_.id) log_->info("controller is broker {}", id);
            dirty_ = true;
        }
        controller_id_ = id;
        if (id != self_.id && is_controller_) {
            log_->warn("lost controllership to broker {}", id);
            is_controller_ = false;
            is_controller_flag_ = false;
        }
        std::string ed;
        if (s->get(kControllerEpoch, false, &ed) == ZOK) {
            try {
                known_controller_epoch_ = std::stoi(ed);
            } catch (const std::exception&) {
            }
        }
    }

    void load_shutdowns() {
        auto s = zk();
        std::vector<std::string> ids;
        int rc = s->children(kShutdowns, true, &ids);
        if (rc != ZOK) return read_failed(rc, kShutdowns);
        std::set<int32_t> next;
        for (const auto& n : ids) {
            try {
                next.insert(std::stoi(n));
            } catch (const std::exception&) {
            }
        }
        for (int32_t id : next)
            if (!shutting_down_.contains(id)) log_->info("broker {} is shutting down", id);
        shutting_down_ = std::move(next);
    }

    void load_pid() {
        auto s = zk();
        std::string data;
        int rc = s->get(kPidBlock, true, &data);
        if (rc == ZNONODE) {
            s->exists(kPidBlock, true);
            return;
        }
        if (rc != ZOK) return read_failed(rc, kPidBlock);
        try {
            next_pid_ = std::stoll(json::parse(data).at("block_end").get<std::string>()) + 1;
            dirty_ = true;
        } catch (const std::exception&) {
        }
    }

    void publish() {
        dirty_ = false;
        auto next = std::make_shared<metadata_snapshot>();
        next->version = ++version_;
        next->cluster_id = cluster_id_;
        next->controller_id = controller_id_;
        next->cluster_mode = true;
        next->brokers = brokers_;
        for (const auto& [name, e] : topics_)
            next->topics.emplace(name, e.info);
        next->next_producer_id = next_pid_;
        std::shared_ptr<const metadata_snapshot> pub = std::move(next);
        {
            std::lock_guard lock(snap_mu_);
            snap_ = pub;
        }
        snap_cv_.notify_all();
        std::vector<listener> ls;
        {
            std::lock_guard lock(listeners_mu_);
            ls = listeners_;
        }
        for (auto& l : ls)
            l(pub);
    }

    // ---- controller ------------------------------------------------------------------------

    void elect() {
        need_election_ = false;
        auto s = zk();
        json j = {{"version", 2}, {"brokerid", self_.id}, {"timestamp", now_ms_string()}};
        int rc = s->create(kController, j.dump(), true);
        if (rc == ZOK) {
            controller_id_ = self_.id;
            dirty_ = true;
            become_controller();
            load_controller();  // arms the watch
        } else if (rc == ZNODEEXISTS) {
            load_controller();
            if (controller_id_ == self_.id && !is_controller_) resume_controller();
        } else {
            log_->warn("controller election failed: {}", zk::error_string(rc));
        }
    }

    // /controller names us: finish taking over if it is this session's znode (a previous
    // incarnation's znode lingers until its session expires).
    void resume_controller() {
        auto s = zk();
        Stat st;
        if (s->exists(kController, false, &st) == ZOK && st.ephemeralOwner == s->session_id())
            become_controller();
    }

    void become_controller() {
        auto s = zk();
        for (int attempt = 0; attempt < 20; ++attempt) {
            std::string data;
            Stat st;
            int rc = s->get(kControllerEpoch, false, &data, &st);
            if (rc == ZNONODE) {
                rc = s->create(kControllerEpoch, "1");
                if (rc == ZNODEEXISTS) continue;
                if (rc != ZOK) break;
                controller_epoch_ = 1;
                controller_epoch_version_ = 0;
            } else if (rc == ZOK) {
                int32_t e = 0;
                try {
                    e = std::stoi(data);
                } catch (const std::exception&) {
                }
                Stat nst;
                rc = s->set(kControllerEpoch, std::to_string(e + 1), st.version, &nst);
                if (rc == ZBADVERSION) continue;
                if (rc != ZOK) break;
                controller_epoch_ = e + 1;
                controller_epoch_version_ = nst.version;
            } else {
                break;
            }
            is_controller_ = true;
            is_controller_flag_ = true;
            known_controller_epoch_ = controller_epoch_;
            log_->info("broker {} became controller (epoch {})", self_.id, controller_epoch_);
            next_rebalance_ = clock::now() + rebalance_interval_;
            // Re-read partition state so decisions start from the truth.
            load_brokers();
            load_shutdowns();
            return;
        }
        log_->warn("could not increment {}; will retry", kControllerEpoch);
    }

    bool unclean_enabled(const std::string& topic) const {
        if (auto c = configs_.find(topic); c != configs_.end())
            if (const std::string* v = c->second.get("unclean.leader.election.enable"))
                return *v == "true";
        return config_.get_bool("unclean.leader.election.enable");
    }

    struct decision {
        int32_t leader;
        int32_t leader_epoch;
        std::vector<int32_t> isr;
        bool unclean = false;
        bool finish_reassignment = false;
        std::vector<int32_t> final_replicas;
    };

    // What the partition's state should be now (nullopt: nothing to do).
    std::optional<decision> decide(const std::string& topic, const partition_info& p,
                                   bool rebalance) const {
        if (p.partition_epoch < 0 || p.replicas.empty()) return std::nullopt;
        auto live = [&](int32_t b) { return brokers_.contains(b); };
        auto up = [&](int32_t b) { return live(b) && !shutting_down_.contains(b); };
        decision d{p.leader, p.leader_epoch, p.isr};
        const auto& replicas = p.replicas;
        bool leader_ok = d.leader >= 0 && up(d.leader) && contains(replicas, d.leader);
        if (!leader_ok) {
            int32_t cand = -1;
            for (int32_t r : replicas)
                if (up(r) && contains(d.isr, r)) {
                    cand = r;
                    break;
                }
            if (cand < 0 && d.leader >= 0 && live(d.leader) && contains(replicas, d.leader))
                cand = d.leader;  // shutting down with no other in-sync replica: keep it
            if (cand < 0 && unclean_enabled(topic))
                for (int32_t r : replicas)
                    if (up(r)) {
                        cand = r;
                        d.unclean = true;
                        break;
                    }
            if (cand != d.leader) {
                if (cand >= 0) {
                    if (d.unclean) {
                        d.isr = {cand};
                    } else {
                        std::vector<int32_t> isr;
                        for (int32_t b : d.isr)
                            if (live(b) && contains(replicas, b)) isr.push_back(b);
                        if (!contains(isr, cand)) isr.insert(isr.begin(), cand);
                        d.isr = std::move(isr);
                    }
                }
                d.leader = cand;
                d.leader_epoch++;
            }
        }
        if (rebalance && d.leader >= 0 && d.leader != replicas.front() && up(replicas.front()) &&
            contains(d.isr, replicas.front())) {
            d.leader = replicas.front();
            d.leader_epoch++;
        }
        if (d.leader >= 0) {
            std::vector<int32_t> isr;
            for (int32_t b : d.isr)
                if (b == d.leader || (up(b) && contains(replicas, b))) isr.push_back(b);
            if (!contains(isr, d.leader)) isr.push_back(d.leader);
            d.isr = std::move(isr);
        }
        // Reassignment: complete once every target replica is in the ISR.
        if ((!p.adding_replicas.empty() || !p.removing_replicas.empty()) && d.leader >= 0) {
            std::vector<int32_t> target;
            for (int32_t b : replicas)
                if (!contains(p.removing_replicas, b)) target.push_back(b);
            bool caught_up =
                !target.empty() && std::all_of(target.begin(), target.end(),
                                               [&](int32_t b) { return contains(d.isr, b); });
            if (caught_up) {
                if (!contains(target, d.leader) || !up(d.leader)) {
                    int32_t cand = -1;
                    for (int32_t b : target)
                        if (up(b) && contains(d.isr, b)) {
                            cand = b;
                            break;
                        }
                    if (cand >= 0) {
                        d.leader = cand;
                        d.leader_epoch++;
                    } else {
                        caught_up = false;
                    }
                }
            }
            if (caught_up) {
                std::vector<int32_t> isr;
                for (int32_t b : d.isr)
                    if (contains(target, b)) isr.push_back(b);
                d.isr = std::move(isr);
                d.finish_reassignment = true;
                d.final_replicas = target;
            }
        }
        if (!d.finish_reassignment && d.leader == p.leader && d.leader_epoch == p.leader_epoch &&
            d.isr == p.isr)
            return std::nullopt;
        return d;
    }

    void run_controller() {
        bool rebalance_due = false;
        if (config_.get_bool("auto.leader.rebalance.enable") && clock::now() >= next_rebalance_) {
            next_rebalance_ = clock::now() + rebalance_interval_;
            rebalance_due = true;
        }
        // Brokers whose preferred-leader imbalance exceeds the threshold.
        std::set<int32_t> imbalanced;
        if (rebalance_due) {
            std::map<int32_t, std::pair<int, int>> counts;  // preferred -> (total, not leading)
            for (const auto& [_, e] : topics_)
                for (const auto& p : e.info.partitions) {
                    if (p.replicas.empty()) continue;
                    auto& c = counts[p.replicas.front()];
                    c.first++;
                    if (p.leader != p.replicas.front()) c.second++;
                }
            for (const auto& [b, c] : counts)
                if (c.first > 0 && c.second * 100 > c.first * kImbalancePercent)
                    imbalanced.insert(b);
        }
        // Topics written without a topic id (older tools) get one.
        std::vector<std::string> no_id;
        for (const auto& [name, e] : topics_)
            if (e.info.id.is_zero()) no_id.push_back(name);
        for (const auto& name : no_id)
            assign_topic_id(name);
        std::vector<std::pair<std::string, int32_t>> todo;
        for (const auto& [name, e] : topics_)
            for (const auto& p : e.info.partitions)
                todo.emplace_back(name, p.id);
        for (const auto& [name, pid] : todo) {
            if (!is_controller_) return;
            auto it = topics_.find(name);
            if (it == topics_.end() ||
                pid >= static_cast<int32_t>(it->second.info.partitions.size()))
                continue;
            const partition_info& p = it->second.info.partitions[static_cast<size_t>(pid)];
            if (p.partition_epoch < 0) {
                // No state znode (a topic written by another tool): create the initial state.
                if (!create_state(name, pid) && (!is_controller_ || need_full_reload_)) return;
                continue;
            }
            bool rebalance = !p.replicas.empty() && imbalanced.contains(p.replicas.front());
            auto d = decide(name, p, rebalance);
            if (!d) continue;
            if (!apply(name, pid, *d)) {
                if (!is_controller_ || need_full_reload_) return;
            }
        }
    }

    void assign_topic_id(const std::string& name) {
        auto& e = topics_.at(name);
        topic_znode tz;
        tz.id = random_topic_uuid();
        for (const auto& p : e.info.partitions) {
            tz.partitions[p.id] = p.replicas;
            if (!p.adding_replicas.empty()) tz.adding[p.id] = p.adding_replicas;
            if (!p.removing_replicas.empty()) tz.removing[p.id] = p.removing_replicas;
        }
        auto s = zk();
        zk::ops o;
        o.check(kControllerEpoch, controller_epoch_version_);
        o.set(topic_path(name), topic_json(tz), e.version);
        int rc = s->multi(o);
        if (rc == ZOK) log_->info("assigned topic id {} to {}", uuid_to_base64url(tz.id), name);
        load_topic(name);
    }

    bool create_state(const std::string& name, int32_t pid) {
        const partition_info& p = topics_.at(name).info.partitions[static_cast<size_t>(pid)];
        std::vector<int32_t> isr;
        for (int32_t b : p.replicas)
            if (brokers_.contains(b)) isr.push_back(b);
        if (isr.empty()) return true;  // nobody to lead yet; retried on the next pass
        auto s = zk();
        // Conditional on the topic znode: a topic being deleted must not be re-created.
        zk::ops o;
        o.check(kControllerEpoch, controller_epoch_version_);
        o.check(topic_path(name), topics_.at(name).version);
        if (s->exists(partitions_path(name), false) == ZNONODE) {
            o.create(partitions_path(name), "");
            o.create(partition_path(name, pid), "");
        } else if (s->exists(partition_path(name, pid), false) == ZNONODE) {
            o.create(partition_path(name, pid), "");
        }
        o.create(state_path(name, pid), state_json(isr.front(), 0, isr, controller_epoch_));
        int failed = -1;
        int rc = s->multi(o, &failed);
        if (rc == ZOK) {
            log_->info("created the state of {}-{}: leader {}", name, pid, isr.front());
        } else if (rc == ZBADVERSION && failed == 0) {
            is_controller_ = false;
            is_controller_flag_ = false;
            load_controller();
            return false;
        } else if (zk::session::is_transport_error(rc)) {
            read_failed(rc, state_path(name, pid));
            return false;
        }
        if (rc == ZNONODE || rc == ZBADVERSION) {
            load_topic(name);
            return false;
        }
        load_state(name, pid);
        return rc == ZOK;
    }

    // Writes one decision, conditional on our controller epoch and the partition's state
    // version (and the topic znode's version when finishing a reassignment).
    bool apply(const std::string& name, int32_t pid, const decision& d) {
        auto& entry = topics_.at(name);
        partition_info& p = entry.info.partitions[static_cast<size_t>(pid)];
        auto s = zk();
        zk::ops o;
        o.check(kControllerEpoch, controller_epoch_version_);
        o.set(state_path(name, pid), state_json(d.leader, d.leader_epoch, d.isr, controller_epoch_),
              p.partition_epoch);
        if (d.finish_reassignment) {
            topic_znode tz;
            tz.id = entry.info.id;
            for (const auto& q : entry.info.partitions) {
                tz.partitions[q.id] = q.id == pid ? d.final_replicas : q.replicas;
                if (q.id == pid) continue;
                if (!q.adding_replicas.empty()) tz.adding[q.id] = q.adding_replicas;
                if (!q.removing_replicas.empty()) tz.removing[q.id] = q.removing_replicas;
            }
            o.set(topic_path(name), topic_json(tz), entry.version);
        }
        int failed = -1;
        std::vector<Stat> stats;
        int rc = s->multi(o, &failed, &stats);
        if (rc == ZOK) {
            if (d.leader != p.leader) {
                if (d.leader < 0)
                    log_->warn("partition {}-{} is offline: no live in-sync replica (ISR {})", name,
                               pid, fmt_list(d.isr));
                else
                    log_->info("elected leader {} for {}-{} (leader epoch {}{})", d.leader, name,
                               pid, d.leader_epoch, d.unclean ? ", unclean" : "");
            } else if (d.isr != p.isr) {
                log_->info("ISR of {}-{} is now {}", name, pid, fmt_list(d.isr));
            }
            p.leader = d.leader;
            p.leader_epoch = d.leader_epoch;
            p.isr = d.isr;
            if (stats.size() >= 1) p.partition_epoch = stats[0].version;
            if (d.finish_reassignment) {
                log_->info("reassignment of {}-{} completed: replicas {}", name, pid,
                           fmt_list(d.final_replicas));
                p.replicas = d.final_replicas;
                p.adding_replicas.clear();
                p.removing_replicas.clear();
                if (stats.size() >= 2) entry.version = stats[1].version;
            }
            dirty_ = true;
            return true;
        }
        if (rc == ZBADVERSION && failed == 0) {
            log_->warn("controller epoch {} is stale; resigning", controller_epoch_);
            is_controller_ = false;
            is_controller_flag_ = false;
            load_controller();
            return false;
        }
        if (rc == ZBADVERSION || rc == ZNONODE) {
            // Someone else changed it: re-read and decide again on the next pass.
            if (failed == 2)
                load_topic(name);
            else
                load_state(name, pid);
            return false;
        }
        read_failed(rc, "controller write for " + name + "-" + std::to_string(pid));
        return false;
    }

    static std::string fmt_list(const std::vector<int32_t>& v) {
        std::string s = "[";
        for (size_t i = 0; i < v.size(); ++i)
            s += (i ? "," : "") + std::to_string(v[i]);
        return s + "]";
    }

    // Configuration.
    const broker_config& config_;
    broker_info self_;
    std::string data_dir_;
    std::string hosts_;
    std::string chroot_;
    int session_timeout_ms_ = 18000;
    std::chrono::milliseconds connect_timeout_{18000};
    std::chrono::seconds rebalance_interval_{300};
    std::shared_ptr<spdlog::logger> log_;

    // The session (replaced after expiry).
    mutable std::mutex zk_mu_;
    std::shared_ptr<zk::session> zk_;
    std::atomic<uint64_t> generation_{0};

    // The store thread and its queue.
    std::thread thread_;
    std::mutex q_mu_;
    std::condition_variable q_cv_;
    std::deque<queued_event> events_;
    std::deque<std::function<void()>> tasks_;
    bool stop_ = false;

    // Cache (store thread only, or the starting thread before it runs).
    std::string cluster_id_;
    std::map<int32_t, broker_info> brokers_;
    std::map<std::string, topic_entry> topics_;
    std::map<std::string, config_values> configs_;
    std::set<int32_t> shutting_down_;
    int32_t controller_id_ = -1;
    int64_t next_pid_ = 0;
    bool dirty_ = false;
    bool need_full_reload_ = false;
    bool need_reconnect_ = false;
    bool need_election_ = false;
    bool disconnected_ = false;
    uint64_t version_ = 0;

    // Controller state (store thread).
    bool is_controller_ = false;
    std::atomic<bool> is_controller_flag_{false};
    int32_t controller_epoch_ = 0;
    int32_t controller_epoch_version_ = -1;
    std::atomic<int32_t> known_controller_epoch_{0};
    clock::time_point next_rebalance_;
    clock::time_point next_registration_check_;

    // Published snapshot and listeners.
    mutable std::mutex snap_mu_;
    std::condition_variable snap_cv_;
    std::shared_ptr<const metadata_snapshot> snap_;
    std::mutex listeners_mu_;
    std::vector<listener> listeners_;
};

}  // namespace

std::unique_ptr<metadata_store> make_zookeeper_store(const broker_config& config, broker_info self,
                                                     const std::string& data_dir,
                                                     std::string* error) {
    auto store = std::make_unique<zk_store>(config, std::move(self), data_dir);
    if (!store->start(error)) return nullptr;
    return store;
}

namespace zk_testing {
bool expire_session(metadata_store& store) {
    auto* s = dynamic_cast<zk_store*>(&store);
    return s && s->expire_for_testing();
}
bool is_controller(const metadata_store& store) {
    auto* s = dynamic_cast<const zk_store*>(&store);
    return s && s->controller_now();
}
}  // namespace zk_testing

}  // namespace rill::cluster
