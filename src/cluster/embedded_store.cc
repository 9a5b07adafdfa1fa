// The embedded metadata store: single node, own controller, state in the data directory.
//
// On-disk files in the first log directory:
//   meta.properties        version=1, cluster.id=<base64url uuid>, node.id=<id> (Kafka's shape)
//   rill-metadata.json     {"version":1, "topics":[{"name","id","internal","configs":{},
//                           "partitions":[{"id","replicas","leader_epoch"}]}],
//                           "group_configs":{"<group>":{"<key>":"<value>"}}}
// Both are replaced atomically (temp file, fsync, rename, fsync directory).
#include <filesystem>
#include <mutex>
#include <random>

#include <nlohmann/json.hpp>

#include "cluster/metadata_store.h"
#include "cluster/topic_rules.h"
#include "common/file_util.h"
#include "common/logging.h"

namespace rill::cluster {
namespace {

using json = nlohmann::json;

std::string uuid_to_hex(const protocol::uuid& u) {
    static const char* digits = "0123456789abcdef";
    std::string s;
    for (auto b : u.b) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 15]);
    }
    return s;
}

std::optional<protocol::uuid> uuid_from_hex(const std::string& s) {
    if (s.size() != 32) return std::nullopt;
    protocol::uuid u;
    for (size_t i = 0; i < 16; ++i) {
        auto nib = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            return -1;
        };
        int hi = nib(s[2 * i]), lo = nib(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        u.b[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    return u;
}

class embedded_store final : public metadata_store {
  public:
    embedded_store(std::string dir, broker_info self, const broker_config& config)
        : dir_(std::move(dir)), self_(std::move(self)), config_(config) {}

    bool load(std::string* error) {
        auto log = rill::logger("cluster");
        auto snap = std::make_shared<metadata_snapshot>();
        snap->controller_id = self_.id;
        snap->brokers[self_.id] = self_;

        // meta.properties: the cluster id and a node id check.
        std::string meta_path = dir_ + "/meta.properties";
        auto meta = read_meta_properties(meta_path);
        if (!meta) {
            *error = meta.error();
            return false;
        }
        if (*meta) {
            if (!(*meta)->cluster_id) {
                *error = meta_path + " has no cluster.id";
                return false;
            }
            if ((*meta)->node_id && *(*meta)->node_id != std::to_string(self_.id)) {
                *error = "broker.id " + std::to_string(self_.id) + " does not match node.id " +
                         *(*meta)->node_id + " in " + meta_path;
                return false;
            }
            snap->cluster_id = *(*meta)->cluster_id;
        } else {
            snap->cluster_id = uuid_to_base64url(random_topic_uuid());
            std::string content = "#Written by Rill\nversion=1\ncluster.id=" + snap->cluster_id +
                                  "\nnode.id=" + std::to_string(self_.id) + "\n";
            if (auto r = write_file_atomically(meta_path, content); !r) {
                *error = r.error();
                return false;
            }
            log->info("new cluster id {}", snap->cluster_id);
        }

        std::string path = dir_ + "/rill-metadata.json";
        if (std::filesystem::exists(path)) {
            auto text = read_file(path);
            if (!text) {
                *error = text.error();
                return false;
            }
            try {
                auto j = json::parse(*text);
                snap->next_producer_id = j.value("next_producer_id", int64_t{0});
                for (const auto& jt : j.at("topics")) {
                    topic_info t;
                    t.name = jt.at("name").get<std::string>();
                    auto id = uuid_from_hex(jt.at("id").get<std::string>());
                    if (!id) throw std::runtime_error("bad topic id for " + t.name);
                    t.id = *id;
                    t.internal = jt.value("internal", false);
                    for (const auto& [k, v] : jt.at("configs").items())
                        t.configs.set(k, v.get<std::string>());
                    for (const auto& jp : jt.at("partitions")) {
                        partition_info p;
                        p.id = jp.at("id").get<int32_t>();
                        p.replicas = jp.at("replicas").get<std::vector<int32_t>>();
                        p.leader_epoch = jp.value("leader_epoch", 0);
                        p.isr = p.replicas;
                        p.leader = p.replicas.empty() ? -1 : p.replicas.front();
                        t.partitions.push_back(std::move(p));
                    }
                    snap->topics.emplace(t.name, std::move(t));
                }
                if (j.contains("group_configs"))
                    for (const auto& [g, jc] : j.at("group_configs").items())
                        for (const auto& [k, v] : jc.items())
                            snap->group_configs[g].set(k, v.get<std::string>());
            } catch (const std::exception& e) {
                *error = path + " is corrupt: " + e.what();
                return false;
            }
            log->info("loaded {} topics from {}", snap->topics.size(), path);
        }
        snap_ = std::move(snap);
        return true;
    }

    std::shared_ptr<const metadata_snapshot> snapshot() const override {
        std::lock_guard lock(mu_);
        return snap_;
    }

    result<topic_info, meta_error> create_topic(const new_topic& req, bool validate_only) override {
        std::lock_guard lock(write_mu_);
        auto cur = snapshot();
        if (auto r = validate_topic_name(req.name); !r)
            return unexpected(meta_error{meta_errc::invalid_topic, r.error()});
        if (cur->topics.contains(req.name))
            return unexpected(
                meta_error{meta_errc::topic_exists, "Topic '" + req.name + "' already exists."});
        // Kafka refuses names colliding after '.' and '_' are treated alike (metric names).
        auto norm = [](std::string s) {
            for (auto& c : s)
                if (c == '.') c = '_';
            return s;
        };
        for (const auto& [name, _] : cur->topics)
            if (norm(name) == norm(req.name))
                return unexpected(meta_error{
                    meta_errc::invalid_topic,
                    "Topic '" + req.name + "' collides with existing topic '" + name + "'."});
        int32_t partitions = req.partitions;
        int32_t rf = req.replication_factor;
        if (!req.assignments.empty()) {
            if (partitions != -1 || rf != -1)
                return unexpected(meta_error{
                    meta_errc::invalid_partitions,
                    "Both partitions/replication factor and a replica assignment were given."});
            partitions = static_cast<int32_t>(req.assignments.size());
            rf = static_cast<int32_t>(req.assignments.begin()->second.size());
        }
        if (partitions == -1) partitions = static_cast<int32_t>(config_.get_int("num.partitions"));
        if (rf == -1) rf = static_cast<int32_t>(config_.get_int("default.replication.factor"));
        if (partitions <= 0)
            return unexpected(meta_error{meta_errc::invalid_partitions,
                                         "Number of partitions must be larger than 0."});
        if (partitions > kMaxPartitionsPerTopic)
            return unexpected(meta_error{meta_errc::invalid_partitions,
                                         "Number of partitions " + std::to_string(partitions) +
                                             " exceeds the limit of " +
                                             std::to_string(kMaxPartitionsPerTopic) + "."});
        if (rf <= 0)
            return unexpected(meta_error{meta_errc::invalid_replication_factor,
                                         "Replication factor must be larger than 0."});
        if (rf > static_cast<int32_t>(cur->brokers.size()))
            return unexpected(meta_error{meta_errc::invalid_replication_factor,
                                         "Replication factor: " + std::to_string(rf) +
                                             " larger than available brokers: " +
                                             std::to_string(cur->brokers.size()) + "."});
        if (auto r = validate_topic_configs(req.configs); !r)
            return unexpected(meta_error{meta_errc::invalid_config, r.error()});
        topic_info t;
        t.name = req.name;
        t.id = random_topic_uuid();
        t.internal = req.internal;
        t.configs = req.configs;
        for (int32_t p = 0; p < partitions; ++p) {
            partition_info pi;
            pi.id = p;
            pi.replicas = {self_.id};
            pi.isr = pi.replicas;
            pi.leader = self_.id;
            t.partitions.push_back(std::move(pi));
        }
        if (validate_only) return t;
        auto next = std::make_shared<metadata_snapshot>(*cur);
        next->topics.emplace(t.name, t);
        if (auto r = commit(std::move(next)); !r) return unexpected(r.error());
        rill::logger("cluster")->info("created topic {} with {} partitions", t.name, partitions);
        return t;
    }

    result<void, meta_error> delete_topic(const std::string& name) override {
        std::lock_guard lock(write_mu_);
        auto cur = snapshot();
        if (!cur->topics.contains(name))
            return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + name});
        auto next = std::make_shared<metadata_snapshot>(*cur);
        next->topics.erase(name);
        if (auto r = commit(std::move(next)); !r) return r;
        rill::logger("cluster")->info("deleted topic {}", name);
        return {};
    }

    result<void, meta_error> create_partitions(const std::string& name, int32_t total,
                                               bool validate_only) override {
        std::lock_guard lock(write_mu_);
        auto cur = snapshot();
        const topic_info* t = cur->find_topic(name);
        if (!t) return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + name});
        int32_t have = static_cast<int32_t>(t->partitions.size());
        if (auto ok = check_partition_increase(have, total); !ok) return unexpected(ok.error());
        if (validate_only) return {};
        auto next = std::make_shared<metadata_snapshot>(*cur);
        auto& nt = next->topics.at(name);
        for (int32_t p = have; p < total; ++p) {
            partition_info pi;
            pi.id = p;
            pi.replicas = {self_.id};
            pi.isr = pi.replicas;
            pi.leader = self_.id;
            nt.partitions.push_back(std::move(pi));
        }
        return commit(std::move(next));
    }

    result<void, meta_error> set_topic_configs(const std::string& name,
                                               const config_values& configs,
                                               bool validate_only) override {
        std::lock_guard lock(write_mu_);
        auto cur = snapshot();
        if (!cur->find_topic(name))
            return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + name});
        if (auto r = validate_topic_configs(configs); !r)
            return unexpected(meta_error{meta_errc::invalid_config, r.error()});
        if (validate_only) return {};
        auto next = std::make_shared<metadata_snapshot>(*cur);
        next->topics.at(name).configs = configs;
        return commit(std::move(next));
    }

    result<void, meta_error> set_group_configs(const std::string& group,
                                               const config_values& configs) override {
        std::lock_guard lock(write_mu_);
        auto next = std::make_shared<metadata_snapshot>(*snapshot());
        if (configs.all().empty())
            next->group_configs.erase(group);
        else
            next->group_configs[group] = configs;
        return commit(std::move(next));
    }

    result<int64_t, meta_error> allocate_producer_ids(int32_t count) override {
        std::lock_guard lock(write_mu_);
        auto cur = snapshot();
        auto next = std::make_shared<metadata_snapshot>(*cur);
        int64_t first = next->next_producer_id;
        next->next_producer_id += count;
        if (auto r = commit(std::move(next)); !r) return unexpected(r.error());
        return first;
    }

    // Single node: every partition's only replica is this broker, so its ISR never changes;
    // the conditions are still checked so callers see the same contract as in cluster mode.
    result<partition_info, meta_error> alter_isr(const std::string& topic, int32_t partition,
                                                 int32_t leader, int32_t leader_epoch,
                                                 int32_t partition_epoch,
                                                 std::vector<int32_t> isr) override {
        auto cur = snapshot();
        const topic_info* t = cur->find_topic(topic);
        if (!t || partition < 0 || partition >= static_cast<int32_t>(t->partitions.size()))
            return unexpected(meta_error{meta_errc::unknown_topic, "unknown partition"});
        const partition_info& p = t->partitions[static_cast<size_t>(partition)];
        if (p.leader != leader || p.leader_epoch != leader_epoch)
            return unexpected(meta_error{meta_errc::not_leader, "leadership moved"});
        if (p.partition_epoch != partition_epoch || isr != p.isr)
            return unexpected(meta_error{meta_errc::stale_state, "single node: ISR is fixed"});
        return p;
    }

    void subscribe(listener l) override {
        std::lock_guard lock(write_mu_);
        listeners_.push_back(std::move(l));
    }

  private:
    // REQUIRES: write_mu_ held. Persists, publishes and notifies.
    result<void, meta_error> commit(std::shared_ptr<metadata_snapshot> next) {
        next->version++;
        json j;
        j["version"] = 1;
        j["next_producer_id"] = next->next_producer_id;
        j["topics"] = json::array();
        for (const auto& [name, t] : next->topics) {
            json jt;
            jt["name"] = name;
            jt["id"] = uuid_to_hex(t.id);
            jt["internal"] = t.internal;
            jt["configs"] = json::object();
            for (const auto& [k, v] : t.configs.all())
                jt["configs"][k] = v;
            jt["partitions"] = json::array();
            for (const auto& p : t.partitions)
                jt["partitions"].push_back(
                    {{"id", p.id}, {"replicas", p.replicas}, {"leader_epoch", p.leader_epoch}});
            j["topics"].push_back(std::move(jt));
        }
        j["group_configs"] = json::object();
        for (const auto& [g, c] : next->group_configs)
            for (const auto& [k, v] : c.all())
                j["group_configs"][g][k] = v;
        if (auto r = write_file_atomically(dir_ + "/rill-metadata.json", j.dump(1)); !r)
            return unexpected(meta_error{meta_errc::storage_error, r.error()});
        std::shared_ptr<const metadata_snapshot> pub = std::move(next);
        {
            std::lock_guard lock(mu_);
            snap_ = pub;
        }
        for (auto& l : listeners_)
            l(pub);
        return {};
    }

    std::string dir_;
    broker_info self_;
    const broker_config& config_;
    mutable std::mutex mu_;  // guards snap_
    std::mutex write_mu_;    // serialises writers
    std::shared_ptr<const metadata_snapshot> snap_;
    std::vector<listener> listeners_;
};

}  // namespace

const topic_info* metadata_snapshot::find_topic(const protocol::uuid& id) const {
    for (const auto& [_, t] : topics)
        if (t.id == id) return &t;
    return nullptr;
}

result<void, std::string> validate_topic_name(const std::string& name) {
    if (name.empty()) return unexpected(std::string("Topic name is empty."));
    if (name == "." || name == "..") return unexpected("Topic name cannot be \".\" or \"..\".");
    if (name.size() > 249)
        return unexpected("Topic name is longer than 249 characters: " + name.substr(0, 40) +
                          "...");
    for (char c : name) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return unexpected("Topic name \"" + name +
                              "\" is illegal, it contains a character other than ASCII "
                              "alphanumerics, '.', '_' and '-'");
    }
    return {};
}

std::unique_ptr<metadata_store> make_embedded_store(const std::string& dir, broker_info self,
                                                    const broker_config& config,
                                                    std::string* error) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        *error = "cannot create " + dir + ": " + ec.message();
        return nullptr;
    }
    auto store = std::make_unique<embedded_store>(dir, std::move(self), config);
    if (!store->load(error)) return nullptr;
    return store;
}

}  // namespace rill::cluster
