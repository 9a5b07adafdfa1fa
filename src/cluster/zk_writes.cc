// The ZooKeeper store's writes (see zk_store_impl.h): each is a ZooKeeper transaction or a
// conditional set on the caller's thread (retried a few times when a concurrent change wins),
// and returns after the store thread has re-read what it wrote.
#include <set>

#include "cluster/topic_rules.h"
#include "cluster/zk_codecs.h"
#include "cluster/zk_store_impl.h"

namespace rill::cluster::zk_detail {

using namespace std::chrono_literals;
using namespace zk_codec;

result<topic_info, meta_error> zk_store::create_topic(const new_topic& req, bool validate_only) {
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
    o.create(topic_path(t.name), encode_topic(tz));
    o.create(partitions_path(t.name), "");
    int32_t cepoch = known_controller_epoch_.load();
    for (const auto& pi : t.partitions) {
        o.create(partition_path(t.name, pi.id), "");
        o.create(state_path(t.name, pi.id),
                 encode_state(pi.leader, pi.leader_epoch, pi.isr, cepoch));
    }
    const std::string cfg = encode_topic_config(t.configs);
    if (int rc = s->exists(config_path(t.name), false); rc == ZOK) {
        o.set(config_path(t.name), cfg, -1);
    } else if (rc == ZNONODE) {
        o.create(config_path(t.name), cfg);
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

result<void, meta_error> zk_store::delete_topic(const std::string& name) {
    auto s = zk();
    for (int attempt = 0; attempt < 5; ++attempt) {
        std::vector<std::string> parts;
        int rc = s->children(partitions_path(name), false, &parts);
        if (rc == ZNONODE) {
            if (int e = s->exists(topic_path(name), false); e == ZNONODE)
                return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + name});
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

result<void, meta_error> zk_store::create_partitions(const std::string& name, int32_t total,
                                                     bool validate_only) {
    auto s = zk();
    for (int attempt = 0; attempt < 5; ++attempt) {
        std::string data;
        Stat st;
        int rc = s->get(topic_path(name), false, &data, &st);
        if (rc == ZNONODE)
            return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + name});
        if (rc != ZOK) return unexpected(zk_failure(rc, "create partitions " + name));
        auto tz = decode_topic(data);
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
        o.set(topic_path(name), encode_topic(*tz), st.version);
        if (s->exists(partitions_path(name), false) == ZNONODE) o.create(partitions_path(name), "");
        for (int32_t p = have; p < total; ++p) {
            const auto& replicas = tz->partitions[p];
            std::vector<int32_t> isr;
            for (int32_t r : replicas)
                if (cur->brokers.contains(r)) isr.push_back(r);
            o.create(partition_path(name, p), "");
            o.create(state_path(name, p),
                     encode_state(isr.empty() ? -1 : isr.front(), 0, isr, cepoch));
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

result<void, meta_error> zk_store::set_topic_configs(const std::string& name,
                                                     const config_values& configs,
                                                     bool validate_only) {
    if (auto r = validate_topic_configs(configs); !r)
        return unexpected(meta_error{meta_errc::invalid_config, r.error()});
    auto s = zk();
    int rc = s->exists(topic_path(name), false);
    if (rc == ZNONODE)
        return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + name});
    if (rc != ZOK) return unexpected(zk_failure(rc, "alter configs of " + name));
    if (validate_only) return {};
    const std::string cfg = encode_topic_config(configs);
    rc = s->set(config_path(name), cfg, -1);
    if (rc == ZNONODE) rc = s->create(config_path(name), cfg);
    if (rc != ZOK) return unexpected(zk_failure(rc, "alter configs of " + name));
    on_store([this, &name] { load_config(name); });
    return {};
}

// /config/groups/<group>: written here, read back (and watched) by every broker's cache.
result<void, meta_error> zk_store::set_group_configs(const std::string& group,
                                                     const config_values& configs) {
    auto s = zk();
    const std::string path = group_config_path(group);
    int rc;
    if (configs.all().empty()) {
        rc = s->remove(path, -1);
        if (rc == ZNONODE) rc = ZOK;
    } else {
        const std::string cfg = encode_topic_config(configs);
        rc = s->set(path, cfg, -1);
        if (rc == ZNONODE) rc = s->create(path, cfg);
    }
    if (rc != ZOK) return unexpected(zk_failure(rc, "alter configs of group " + group));
    on_store([this, &group] {
        load_group_config_list();
        load_group_config(group);
    });
    return {};
}

result<int64_t, meta_error> zk_store::allocate_producer_ids(int32_t count) {
    if (count <= 0)
        return unexpected(meta_error{meta_errc::storage_error, "count must be positive"});
    auto s = zk();
    for (int attempt = 0; attempt < 50; ++attempt) {
        std::string data;
        Stat st;
        int rc = s->get(kPidBlock, false, &data, &st);
        int64_t start = 0;
        if (rc == ZOK) {
            auto end = decode_pid_block_end(data);
            if (!end)
                return unexpected(
                    meta_error{meta_errc::storage_error,
                               std::string("corrupt ") + kPidBlock + ": " + end.error()});
            start = *end + 1;
        } else if (rc != ZNONODE) {
            return unexpected(zk_failure(rc, "allocate producer ids"));
        }
        const std::string block = encode_pid_block(self_.id, start, start + count - 1);
        rc = rc == ZNONODE ? s->create(kPidBlock, block) : s->set(kPidBlock, block, st.version);
        if (rc == ZBADVERSION || rc == ZNODEEXISTS) continue;
        if (rc != ZOK) return unexpected(zk_failure(rc, "allocate producer ids"));
        on_store([this] { load_pid(); });
        return start;
    }
    return unexpected(meta_error{meta_errc::stale_state, "producer id block contended"});
}

result<partition_info, meta_error> zk_store::alter_isr(const std::string& topic, int32_t partition,
                                                       int32_t leader, int32_t leader_epoch,
                                                       int32_t partition_epoch,
                                                       std::vector<int32_t> isr) {
    if (partition < 0)
        return unexpected(meta_error{meta_errc::unknown_topic, "Unknown partition " + topic + "-" +
                                                                   std::to_string(partition)});
    if (!contains(isr, leader))
        return unexpected(
            meta_error{meta_errc::invalid_replica_assignment, "the ISR must contain the leader"});
    auto s = zk();
    std::string data;
    Stat st;
    int rc = s->get(state_path(topic, partition), false, &data, &st);
    if (rc == ZNONODE)
        return unexpected(meta_error{meta_errc::unknown_topic, "Unknown partition " + topic + "-" +
                                                                   std::to_string(partition)});
    if (rc != ZOK) return unexpected(zk_failure(rc, "alter ISR"));
    auto state = decode_state(data);
    if (!state) return unexpected(meta_error{meta_errc::storage_error, "corrupt state"});
    if (state->leader != leader || state->leader_epoch != leader_epoch)
        return unexpected(meta_error{meta_errc::not_leader,
                                     "partition " + topic + "-" + std::to_string(partition) +
                                         " is led by " + std::to_string(state->leader) +
                                         " at epoch " + std::to_string(state->leader_epoch)});
    if (st.version != partition_epoch)
        return unexpected(
            meta_error{meta_errc::stale_state, "partition epoch is " + std::to_string(st.version) +
                                                   ", not " + std::to_string(partition_epoch)});
    // Members must be replicas (of the ongoing reassignment's full set, if any).
    partition_info out;
    out.id = partition;
    std::string tdata;
    if (s->get(topic_path(topic), false, &tdata) == ZOK) {
        if (auto tz = decode_topic(tdata)) {
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
                encode_state(leader, leader_epoch, dedup, state->controller_epoch), st.version,
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

result<void, meta_error> zk_store::reassign_partition(const std::string& topic, int32_t partition,
                                                      std::vector<int32_t> target) {
    auto s = zk();
    for (int attempt = 0; attempt < 5; ++attempt) {
        std::string data;
        Stat st;
        int rc = s->get(topic_path(topic), false, &data, &st);
        if (rc == ZNONODE)
            return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + topic});
        if (rc != ZOK) return unexpected(zk_failure(rc, "reassign"));
        auto tz = decode_topic(data);
        if (!tz) return unexpected(meta_error{meta_errc::storage_error, "corrupt topic"});
        auto it = tz->partitions.find(partition);
        if (it == tz->partitions.end())
            return unexpected(
                meta_error{meta_errc::unknown_topic,
                           "Unknown partition " + topic + "-" + std::to_string(partition)});
        if (!target.empty()) {
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
        }
        if (!reassign(*tz, partition, target))
            return unexpected(meta_error{
                meta_errc::no_reassignment_in_progress,
                "No reassignment in progress for " + topic + "-" + std::to_string(partition)});
        rc = s->set(topic_path(topic), encode_topic(*tz), st.version);
        if (rc == ZBADVERSION) continue;
        if (rc != ZOK) return unexpected(zk_failure(rc, "reassign"));
        log_->info("reassignment of {}-{}: {}", topic, partition,
                   target.empty() ? std::string("cancelled") : std::string("started"));
        on_store([this, &topic] { load_topic(topic); });
        return {};
    }
    return unexpected(meta_error{meta_errc::stale_state, "topic keeps changing"});
}

result<void, meta_error> zk_store::elect_preferred_leader(const std::string& topic,
                                                          int32_t partition) {
    auto s = zk();
    for (int attempt = 0; attempt < 5; ++attempt) {
        std::string tdata, data;
        int rc = s->get(topic_path(topic), false, &tdata);
        if (rc == ZNONODE)
            return unexpected(meta_error{meta_errc::unknown_topic, "Unknown topic " + topic});
        if (rc != ZOK) return unexpected(zk_failure(rc, "elect leader"));
        auto tz = decode_topic(tdata);
        if (!tz || !tz->partitions.contains(partition) || tz->partitions[partition].empty())
            return unexpected(meta_error{meta_errc::unknown_topic, "Unknown partition"});
        int32_t preferred = tz->partitions[partition].front();
        Stat st;
        rc = s->get(state_path(topic, partition), false, &data, &st);
        if (rc != ZOK) return unexpected(zk_failure(rc, "elect leader"));
        auto state = decode_state(data);
        if (!state) return unexpected(meta_error{meta_errc::storage_error, "corrupt state"});
        if (state->leader == preferred)
            return unexpected(meta_error{meta_errc::election_not_needed,
                                         "Leader is already the preferred replica."});
        Stat bst;
        bool live = s->exists(broker_path(preferred), false, &bst) == ZOK;
        if (!live || !contains(state->isr, preferred) || shutting_down_now(preferred))
            return unexpected(meta_error{
                meta_errc::preferred_leader_not_available,
                "Preferred replica " + std::to_string(preferred) + " is not available."});
        rc = s->set(state_path(topic, partition),
                    encode_state(preferred, state->leader_epoch + 1, state->isr,
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

int zk_store::controlled_shutdown(std::chrono::milliseconds timeout) {
    auto deadline = clock::now() + timeout;
    auto s = zk();
    std::string path = shutdown_path(self_.id);
    int rc = s->create(path, now_ms_string(), true);
    if (rc != ZOK && rc != ZNODEEXISTS)
        log_->warn("controlled shutdown: cannot signal the controller: {}", zk::error_string(rc));
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

result<void, meta_error> zk_store::report_offline_replicas(
    const std::set<std::pair<std::string, int32_t>>& partitions) {
    auto s = zk();
    const std::string path = offline_replicas_path(self_.id);
    const std::string data = encode_offline_replicas(partitions);
    {
        std::lock_guard lock(offline_mu_);
        reported_offline_ = partitions;
    }
    // The broker's ephemeral set first (what the controller acts on), then Kafka's
    // notification (what wakes the controller).
    int rc = s->set(path, data, -1);
    if (rc == ZNONODE) rc = s->create(path, data, true);
    if (rc == ZNODEEXISTS) rc = s->set(path, data, -1);
    if (rc != ZOK) return unexpected(zk_failure(rc, path));
    rc = s->create_sequential(kLogDirEventPrefix, encode_log_dir_event(self_.id));
    if (rc != ZOK) return unexpected(zk_failure(rc, kLogDirEventPrefix));
    log_->warn("reported {} offline replicas to the controller", partitions.size());
    on_store([this] { load_offline_replicas(); });
    return {};
}

bool zk_store::shutting_down_now(int32_t id) {
    Stat st;
    auto s = zk();
    return s->exists(shutdown_path(id), false, &st) == ZOK;
}

}  // namespace rill::cluster::zk_detail
