// The ZooKeeper store's metadata cache (see zk_store_impl.h): watch events name what changed,
// the store thread re-reads (and re-watches) those znodes into the cache and publishes the
// cache as an immutable snapshot. Store thread only.
#include <set>

#include "cluster/zk_codecs.h"
#include "cluster/zk_store_impl.h"

namespace rill::cluster::zk_detail {

using namespace zk_codec;

void zk_store::handle_event(const zk::event& e) {
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
    auto w = classify(e.path);
    using k = watched_path::kind;
    switch (w.what) {
        case k::broker_list:
            load_brokers();
            break;
        case k::topic_list:
            load_topic_list();
            break;
        case k::topic:
            load_topic(w.topic);
            break;
        case k::state:
            load_state(w.topic, w.partition);
            break;
        case k::config_list:
            load_config_list();
            break;
        case k::config:
            load_config(w.topic);
            break;
        case k::group_config_list:
            load_group_config_list();
            break;
        case k::group_config:
            load_group_config(w.topic);
            break;
        case k::controller:
            load_controller();
            break;
        case k::shutdowns:
            load_shutdowns();
            break;
        case k::offline_replicas:
            load_offline_replicas();
            break;
        case k::log_dir_events:
            load_log_dir_events();
            break;
        case k::pid_block:
            load_pid();
            break;
        case k::other:
            break;
    }
}

void zk_store::read_failed(int rc, const std::string& what) {
    if (!need_full_reload_)
        log_->warn("reading {} failed: {}; will re-read", what, zk::error_string(rc));
    need_full_reload_ = true;
}

void zk_store::full_reload() {
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
    group_configs_.clear();
    load_group_config_list();
    load_controller();
    load_shutdowns();
    load_offline_replicas();
    load_log_dir_events();
    load_pid();
    dirty_ = true;
}

void zk_store::load_brokers() {
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
        if (auto b = decode_broker(id, data)) next[id] = std::move(*b);
    }
    for (const auto& [id, _] : next)
        if (!brokers_.contains(id)) log_->info("broker {} is live", id);
    for (const auto& [id, _] : brokers_)
        if (!next.contains(id)) log_->info("broker {} is gone", id);
    brokers_ = std::move(next);
    dirty_ = true;
}

void zk_store::load_topic_list() {
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

void zk_store::load_topic(const std::string& name, bool all_states) {
    auto s = zk();
    std::string data;
    Stat st;
    int rc = s->get(topic_path(name), true, &data, &st);
    if (rc == ZNONODE) {
        if (topics_.erase(name)) dirty_ = true;
        return;
    }
    if (rc != ZOK) return read_failed(rc, topic_path(name));
    auto tz = decode_topic(data);
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
        pi.removing_replicas = tz->removing.contains(p) ? tz->removing[p] : std::vector<int32_t>{};
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

void zk_store::load_state(const std::string& topic, int32_t p) {
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
    auto state = decode_state(data);
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

void zk_store::load_config_list() {
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

void zk_store::load_config(const std::string& name) {
    auto s = zk();
    std::string data;
    int rc = s->get(config_path(name), true, &data);
    config_values values;
    if (rc == ZNONODE) {
        configs_.erase(name);
    } else if (rc != ZOK) {
        return read_failed(rc, config_path(name));
    } else {
        if (auto parsed = decode_topic_config(data))
            values = std::move(*parsed);
        else
            log_->warn("unreadable config znode for {}", name);
        configs_[name] = values;
    }
    if (auto t = topics_.find(name); t != topics_.end()) t->second.info.configs = values;
    dirty_ = true;
}

void zk_store::load_group_config_list() {
    auto s = zk();
    std::vector<std::string> names;
    int rc = s->children(kConfigGroups, true, &names);
    if (rc != ZOK) return read_failed(rc, kConfigGroups);
    std::set<std::string> now(names.begin(), names.end());
    for (auto it = group_configs_.begin(); it != group_configs_.end();)
        if (!now.contains(it->first)) {
            it = group_configs_.erase(it);
            dirty_ = true;
        } else {
            ++it;
        }
    for (const auto& n : names)
        if (!group_configs_.contains(n)) load_group_config(n);
}

// The same JSON shape as a topic's config znode ({"version":1,"config":{...}}).
void zk_store::load_group_config(const std::string& group) {
    auto s = zk();
    std::string data;
    int rc = s->get(group_config_path(group), true, &data);
    if (rc == ZNONODE) {
        group_configs_.erase(group);
    } else if (rc != ZOK) {
        return read_failed(rc, group_config_path(group));
    } else if (auto parsed = decode_topic_config(data)) {
        if (parsed->all().empty())
            group_configs_.erase(group);
        else
            group_configs_[group] = std::move(*parsed);
    } else {
        log_->warn("unreadable config znode for group {}", group);
    }
    dirty_ = true;
}

void zk_store::load_controller() {
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
    int32_t id = decode_controller(data).value_or(-1);
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
        if (auto e = decode_controller_epoch(ed)) known_controller_epoch_ = *e;
    }
}

void zk_store::load_shutdowns() {
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

void zk_store::load_offline_replicas() {
    auto s = zk();
    std::vector<std::string> ids;
    int rc = s->children(kOfflineReplicas, true, &ids);
    if (rc != ZOK) return read_failed(rc, kOfflineReplicas);
    std::map<int32_t, std::set<std::pair<std::string, int32_t>>> next;
    for (const auto& n : ids) {
        int32_t id = 0;
        try {
            id = std::stoi(n);
        } catch (const std::exception&) {
            continue;
        }
        std::string data;
        rc = s->get(offline_replicas_path(id), true, &data);
        if (rc == ZNONODE) continue;
        if (rc != ZOK) return read_failed(rc, offline_replicas_path(id));
        if (auto parts = decode_offline_replicas(data); parts && !parts->empty())
            next[id] = std::move(*parts);
    }
    for (const auto& [id, parts] : next) {
        auto it = offline_replicas_.find(id);
        if (it == offline_replicas_.end() || it->second != parts)
            log_->warn("broker {} has {} offline replicas (failed log dir)", id, parts.size());
    }
    if (next != offline_replicas_) {
        offline_replicas_ = std::move(next);
        dirty_ = true;
    }
}

void zk_store::load_log_dir_events() {
    auto s = zk();
    std::vector<std::string> names;
    int rc = s->children(kLogDirEvents, true, &names);
    if (rc != ZOK) return read_failed(rc, kLogDirEvents);
    if (names.empty() || !is_controller_) return;
    for (const auto& n : names) {
        std::string path = std::string(kLogDirEvents) + "/" + n;
        std::string data;
        if (s->get(path, false, &data) == ZOK) {
            if (auto b = decode_log_dir_event(data))
                log_->warn("controller: broker {} reported a log dir failure", *b);
        }
        s->remove(path);
    }
    load_offline_replicas();
}

void zk_store::load_pid() {
    auto s = zk();
    std::string data;
    int rc = s->get(kPidBlock, true, &data);
    if (rc == ZNONODE) {
        s->exists(kPidBlock, true);
        return;
    }
    if (rc != ZOK) return read_failed(rc, kPidBlock);
    if (auto end = decode_pid_block_end(data)) {
        next_pid_ = *end + 1;
        dirty_ = true;
    }
}

void zk_store::publish() {
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
    next->group_configs = group_configs_;
    next->offline_replicas = offline_replicas_;
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

}  // namespace rill::cluster::zk_detail
