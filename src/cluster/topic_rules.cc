#include "cluster/topic_rules.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>

#include "common/file_util.h"

namespace rill::cluster {
namespace {

constexpr const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::mt19937_64& rng() {
    static std::mt19937_64 r(std::random_device{}());
    return r;
}
std::mutex rng_mu;

meta_error err(meta_errc c, std::string m) {
    return meta_error{c, std::move(m)};
}

}  // namespace

protocol::uuid random_topic_uuid() {
    std::lock_guard lock(rng_mu);
    protocol::uuid u;
    for (;;) {
        for (size_t i = 0; i < 16; i += 8) {
            uint64_t v = rng()();
            for (size_t j = 0; j < 8; ++j)
                u.b[i + j] = static_cast<uint8_t>(v >> (8 * j));
        }
        u.b[6] = static_cast<uint8_t>((u.b[6] & 0x0f) | 0x40);
        u.b[8] = static_cast<uint8_t>((u.b[8] & 0x3f) | 0x80);
        if (!u.is_zero()) return u;
    }
}

std::string uuid_to_base64url(const protocol::uuid& u) {
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (auto b : u.b) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 6) {
            out.push_back(kB64[(acc >> (bits - 6)) & 63]);
            bits -= 6;
        }
    }
    if (bits > 0) out.push_back(kB64[(acc << (6 - bits)) & 63]);
    return out;
}

std::optional<protocol::uuid> uuid_from_base64url(const std::string& s) {
    std::string t = s;
    while (!t.empty() && t.back() == '=')
        t.pop_back();
    if (t.size() != 22) return std::nullopt;
    protocol::uuid u;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (char c : t) {
        if (c == '+') c = '-';
        if (c == '/') c = '_';
        const char* p = std::strchr(kB64, c);
        if (!p || c == 0) return std::nullopt;
        acc = (acc << 6) | static_cast<uint32_t>(p - kB64);
        bits += 6;
        if (bits >= 8) {
            if (n < 16) u.b[n++] = static_cast<uint8_t>(acc >> (bits - 8));
            bits -= 8;
        }
    }
    if (n != 16) return std::nullopt;
    return u;
}

result<resolved_topic, meta_error> resolve_new_topic(const new_topic& req,
                                                     const metadata_snapshot& snap,
                                                     const broker_config& config) {
    if (auto r = validate_topic_name(req.name); !r)
        return unexpected(err(meta_errc::invalid_topic, r.error()));
    if (snap.topics.contains(req.name))
        return unexpected(err(meta_errc::topic_exists, "Topic '" + req.name + "' already exists."));
    auto norm = [](std::string s) {
        for (auto& c : s)
            if (c == '.') c = '_';
        return s;
    };
    for (const auto& [name, _] : snap.topics)
        if (norm(name) == norm(req.name))
            return unexpected(
                err(meta_errc::invalid_topic,
                    "Topic '" + req.name + "' collides with existing topic '" + name + "'."));
    resolved_topic out;
    int32_t partitions = req.partitions;
    int32_t rf = req.replication_factor;
    if (!req.assignments.empty()) {
        if (partitions != -1 || rf != -1)
            return unexpected(
                err(meta_errc::invalid_partitions,
                    "Both partitions/replication factor and a replica assignment were given."));
        partitions = static_cast<int32_t>(req.assignments.size());
        rf = static_cast<int32_t>(req.assignments.begin()->second.size());
        int32_t expect = 0;
        for (const auto& [p, replicas] : req.assignments) {
            if (p != expect++)
                return unexpected(
                    err(meta_errc::invalid_replica_assignment,
                        "Partitions must be numbered 0.." + std::to_string(partitions - 1) + "."));
            if (replicas.empty())
                return unexpected(err(meta_errc::invalid_replica_assignment,
                                      "Partition " + std::to_string(p) + " has no replicas."));
            if (static_cast<int32_t>(replicas.size()) != rf)
                return unexpected(err(meta_errc::invalid_replica_assignment,
                                      "All partitions must have the same number of replicas."));
            std::set<int32_t> seen;
            for (int32_t b : replicas) {
                if (!seen.insert(b).second)
                    return unexpected(err(meta_errc::invalid_replica_assignment,
                                          "Duplicate replica " + std::to_string(b) +
                                              " in the assignment of partition " +
                                              std::to_string(p) + "."));
                if (!snap.brokers.contains(b))
                    return unexpected(err(meta_errc::invalid_replica_assignment,
                                          "Unknown broker " + std::to_string(b) +
                                              " in the assignment of partition " +
                                              std::to_string(p) + "."));
            }
        }
    }
    if (partitions == -1) partitions = static_cast<int32_t>(config.get_int("num.partitions"));
    if (rf == -1) rf = static_cast<int32_t>(config.get_int("default.replication.factor"));
    if (partitions <= 0)
        return unexpected(
            err(meta_errc::invalid_partitions, "Number of partitions must be larger than 0."));
    if (partitions > kMaxPartitionsPerTopic)
        return unexpected(err(meta_errc::invalid_partitions,
                              "Number of partitions " + std::to_string(partitions) +
                                  " exceeds the limit of " +
                                  std::to_string(kMaxPartitionsPerTopic) + "."));
    if (rf <= 0)
        return unexpected(err(meta_errc::invalid_replication_factor,
                              "Replication factor must be larger than 0."));
    if (rf > static_cast<int32_t>(snap.brokers.size()))
        return unexpected(err(
            meta_errc::invalid_replication_factor,
            "Replication factor: " + std::to_string(rf) +
                " larger than available brokers: " + std::to_string(snap.brokers.size()) + "."));
    if (auto r = validate_topic_configs(req.configs); !r)
        return unexpected(err(meta_errc::invalid_config, r.error()));
    out.partitions = partitions;
    out.replication_factor = rf;
    return out;
}

std::vector<std::vector<int32_t>> assign_replicas(const std::vector<broker_info>& brokers_in,
                                                  int32_t count, int32_t rf,
                                                  int32_t first_partition, int32_t start_index,
                                                  int32_t shift) {
    std::vector<broker_info> brokers = brokers_in;
    std::sort(brokers.begin(), brokers.end(),
              [](const broker_info& a, const broker_info& b) { return a.id < b.id; });
    const int32_t n = static_cast<int32_t>(brokers.size());
    std::vector<std::vector<int32_t>> out;
    if (n == 0 || rf <= 0 || rf > n) return out;
    {
        std::lock_guard lock(rng_mu);
        if (start_index < 0) start_index = static_cast<int32_t>(rng()() % static_cast<uint64_t>(n));
        if (shift < 0) shift = static_cast<int32_t>(rng()() % static_cast<uint64_t>(n));
    }
    bool racks = std::all_of(brokers.begin(), brokers.end(),
                             [](const broker_info& b) { return b.rack.has_value(); });
    // Rack-alternated order: one broker of each rack in turn (racks and brokers sorted).
    std::vector<int32_t> order;
    std::map<int32_t, std::string> rack_of;
    int32_t num_racks = 1;
    if (racks) {
        std::map<std::string, std::vector<int32_t>> by_rack;
        for (const auto& b : brokers) {
            by_rack[*b.rack].push_back(b.id);
            rack_of[b.id] = *b.rack;
        }
        num_racks = static_cast<int32_t>(by_rack.size());
        std::map<std::string, size_t> pos;
        while (static_cast<int32_t>(order.size()) < n)
            for (auto& [rack, ids] : by_rack)
                if (pos[rack] < ids.size()) order.push_back(ids[pos[rack]++]);
    } else {
        for (const auto& b : brokers)
            order.push_back(b.id);
    }
    auto replica_index = [n](int32_t first, int32_t sh, int32_t j) {
        int32_t s = 1 + (sh + j) % (n - 1);
        return (first + s) % n;
    };
    int32_t cur_shift = shift;
    for (int32_t i = first_partition; i < first_partition + count; ++i) {
        if (i > 0 && i % n == 0) ++cur_shift;
        int32_t first = (i + start_index) % n;
        std::vector<int32_t> replicas{order[static_cast<size_t>(first)]};
        if (!racks) {
            for (int32_t j = 0; j < rf - 1; ++j)
                replicas.push_back(order[static_cast<size_t>(replica_index(first, cur_shift, j))]);
        } else {
            std::set<std::string> racks_used{rack_of[replicas[0]]};
            std::set<int32_t> used{replicas[0]};
            int32_t k = 0;
            while (static_cast<int32_t>(replicas.size()) < rf) {
                int32_t b =
                    order[static_cast<size_t>(replica_index(first, cur_shift * num_racks, k++))];
                const std::string& r = rack_of[b];
                bool rack_ok =
                    !racks_used.contains(r) || static_cast<int32_t>(racks_used.size()) == num_racks;
                bool broker_ok = !used.contains(b);
                if (rack_ok && broker_ok) {
                    replicas.push_back(b);
                    racks_used.insert(r);
                    used.insert(b);
                    if (static_cast<int32_t>(racks_used.size()) == num_racks) racks_used.clear();
                }
                if (k > 4 * n * n) break;  // cannot happen with distinct brokers; be safe
            }
        }
        out.push_back(std::move(replicas));
    }
    return out;
}

result<void, meta_error> check_partition_increase(int32_t have, int32_t total) {
    if (total <= have)
        return unexpected(
            meta_error{meta_errc::invalid_partitions,
                       "Topic currently has " + std::to_string(have) +
                           " partitions, which is higher than or equal to the requested " +
                           std::to_string(total) + "."});
    if (total > kMaxPartitionsPerTopic)
        return unexpected(
            meta_error{meta_errc::invalid_partitions, "Number of partitions exceeds the limit."});
    return {};
}

result<std::optional<meta_properties>, std::string> read_meta_properties(const std::string& path) {
    if (!std::filesystem::exists(path)) return std::optional<meta_properties>{};
    auto text = read_file(path);
    if (!text) return unexpected(text.error());
    auto props = parse_properties(*text);
    if (!props) return unexpected(path + ": " + props.error());
    meta_properties m;
    if (const std::string* cid = props->get("cluster.id")) m.cluster_id = *cid;
    const std::string* nid = props->get("broker.id");
    if (!nid) nid = props->get("node.id");
    if (nid) m.node_id = *nid;
    return std::optional<meta_properties>{std::move(m)};
}

}  // namespace rill::cluster
