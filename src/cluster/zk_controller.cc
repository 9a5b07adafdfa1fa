// The ZooKeeper store's controller (see zk_store_impl.h): the election for /controller, and
// while this broker holds it, the partition state decisions (zk_controller.h) written with
// conditional transactions. Store thread only.
#include "cluster/zk_controller.h"

#include <algorithm>

#include "cluster/topic_rules.h"
#include "cluster/zk_codecs.h"
#include "cluster/zk_store_impl.h"

namespace rill::cluster {

using zk_detail::contains;

std::optional<controller_decision> decide_partition(const partition_info& p,
                                                    const controller_view& view,
                                                    bool unclean_allowed, bool rebalance) {
    if (p.partition_epoch < 0 || p.replicas.empty()) return std::nullopt;
    auto live = [&](int32_t b) {
        return view.live.contains(b) && !(view.offline && view.offline->contains(b));
    };
    auto up = [&](int32_t b) { return live(b) && !view.shutting_down.contains(b); };
    controller_decision d{p.leader, p.leader_epoch, p.isr};
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
        if (cand < 0 && unclean_allowed)
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

namespace zk_detail {

using namespace zk_codec;

namespace {

std::string fmt_list(const std::vector<int32_t>& v) {
    std::string s = "[";
    for (size_t i = 0; i < v.size(); ++i)
        s += (i ? "," : "") + std::to_string(v[i]);
    return s + "]";
}

constexpr int kImbalancePercent = 10;  // leader.imbalance.per.broker.percentage

}  // namespace

void zk_store::elect() {
    need_election_ = false;
    auto s = zk();
    int rc = s->create(kController, encode_controller(self_.id, now_ms()), true);
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

void zk_store::resume_controller() {
    auto s = zk();
    Stat st;
    if (s->exists(kController, false, &st) == ZOK && st.ephemeralOwner == s->session_id())
        become_controller();
}

void zk_store::become_controller() {
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
        load_log_dir_events();  // failures reported while there was no controller
        return;
    }
    log_->warn("could not increment {}; will retry", kControllerEpoch);
}

bool zk_store::unclean_enabled(const std::string& topic) const {
    if (auto c = configs_.find(topic); c != configs_.end())
        if (const std::string* v = c->second.get("unclean.leader.election.enable"))
            return *v == "true";
    return config_.get_bool("unclean.leader.election.enable");
}

void zk_store::run_controller() {
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
            if (c.first > 0 && c.second * 100 > c.first * kImbalancePercent) imbalanced.insert(b);
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
    const std::string* unclean_topic = nullptr;  // todo is grouped by topic
    bool unclean = false;
    for (const auto& [name, pid] : todo) {
        if (!is_controller_) return;
        auto it = topics_.find(name);
        if (it == topics_.end() || pid >= static_cast<int32_t>(it->second.info.partitions.size()))
            continue;
        const partition_info& p = it->second.info.partitions[static_cast<size_t>(pid)];
        if (p.partition_epoch < 0) {
            // No state znode (a topic written by another tool): create the initial state.
            if (!create_state(name, pid) && (!is_controller_ || need_full_reload_)) return;
            continue;
        }
        bool rebalance = !p.replicas.empty() && imbalanced.contains(p.replicas.front());
        if (!unclean_topic || *unclean_topic != name) {
            unclean_topic = &name;
            unclean = unclean_enabled(name);
        }
        std::set<int32_t> offline;
        for (const auto& [b, parts] : offline_replicas_)
            if (parts.contains({name, pid})) offline.insert(b);
        auto d = decide_partition(p, controller_view{brokers_, shutting_down_, &offline}, unclean,
                                  rebalance);
        if (!d) continue;
        if (!apply(name, pid, *d)) {
            if (!is_controller_ || need_full_reload_) return;
        }
    }
}

void zk_store::assign_topic_id(const std::string& name) {
    auto& e = topics_.at(name);
    topic_znode tz = topic_znode_of(e.info);
    tz.id = random_topic_uuid();
    auto s = zk();
    zk::ops o;
    o.check(kControllerEpoch, controller_epoch_version_);
    o.set(topic_path(name), encode_topic(tz), e.version);
    int rc = s->multi(o);
    if (rc == ZOK) log_->info("assigned topic id {} to {}", uuid_to_base64url(tz.id), name);
    load_topic(name);
}

bool zk_store::create_state(const std::string& name, int32_t pid) {
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
    o.create(state_path(name, pid), encode_state(isr.front(), 0, isr, controller_epoch_));
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

bool zk_store::apply(const std::string& name, int32_t pid, const controller_decision& d) {
    auto& entry = topics_.at(name);
    partition_info& p = entry.info.partitions[static_cast<size_t>(pid)];
    auto s = zk();
    zk::ops o;
    o.check(kControllerEpoch, controller_epoch_version_);
    o.set(state_path(name, pid), encode_state(d.leader, d.leader_epoch, d.isr, controller_epoch_),
          p.partition_epoch);
    if (d.finish_reassignment) {
        topic_znode tz = topic_znode_of(entry.info);
        tz.partitions[pid] = d.final_replicas;
        tz.adding.erase(pid);
        tz.removing.erase(pid);
        o.set(topic_path(name), encode_topic(tz), entry.version);
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
                log_->info("elected leader {} for {}-{} (leader epoch {}{})", d.leader, name, pid,
                           d.leader_epoch, d.unclean ? ", unclean" : "");
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

}  // namespace zk_detail
}  // namespace rill::cluster
