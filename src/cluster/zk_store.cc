// Lifecycle, session and the store thread of the ZooKeeper store (see zk_store_impl.h).
#include "cluster/zk_store.h"

#include <filesystem>
#include <future>

#include "cluster/topic_rules.h"
#include "cluster/zk_codecs.h"
#include "cluster/zk_store_impl.h"
#include "common/file_util.h"

namespace rill::cluster {
namespace zk_detail {

using namespace std::chrono_literals;
using namespace zk_codec;

namespace {

meta_error unavailable(int rc, const std::string& what) {
    return meta_error{meta_errc::unavailable,
                      "ZooKeeper unavailable (" + what + "): " + zk::error_string(rc)};
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

}  // namespace

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string now_ms_string() {
    return std::to_string(now_ms());
}

meta_error zk_failure(int rc, const std::string& what) {
    if (zk::session::is_transport_error(rc)) return unavailable(rc, what);
    return meta_error{meta_errc::storage_error, what + ": " + zk::error_string(rc)};
}

zk_store::zk_store(const broker_config& config, broker_info self, std::string data_dir)
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

zk_store::~zk_store() {
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

bool zk_store::start(std::string* error) {
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

std::shared_ptr<const metadata_snapshot> zk_store::snapshot() const {
    std::lock_guard lock(snap_mu_);
    return snap_;
}

void zk_store::subscribe(listener l) {
    std::lock_guard lock(listeners_mu_);
    listeners_.push_back(std::move(l));
}

bool zk_store::expire_for_testing() {
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

std::shared_ptr<zk::session> zk_store::zk() const {
    std::lock_guard lock(zk_mu_);
    return zk_;
}

// Runs `fn` on the store thread (inline when already there, or before it starts), then
// publishes if anything changed; waits for it.
void zk_store::on_store(const std::function<void()>& fn) {
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

void zk_store::push_event(uint64_t gen, const zk::event& e) {
    {
        std::lock_guard lock(q_mu_);
        events_.push_back(queued_event{gen, e});
    }
    q_cv_.notify_all();
}

bool zk_store::connect_and_register(clock::time_point deadline, bool first, std::string* error) {
    auto remaining = [&] {
        return std::max(
            std::chrono::milliseconds(1),
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()));
    };
    if (!chroot_.empty()) {
        auto root = zk::session::open(hosts_, session_timeout_ms_, remaining(), nullptr, error);
        if (!root) return false;
        if (int rc = root->ensure_path(chroot_); rc != ZOK) {
            *error = "cannot create the ZooKeeper chroot " + chroot_ + ": " + zk::error_string(rc);
            return false;
        }
    }
    uint64_t gen = ++generation_;
    auto s = zk::session::open(
        hosts_ + chroot_, session_timeout_ms_, remaining(),
        [this, gen](const zk::event& e) { push_event(gen, e); }, error);
    if (!s) return false;
    log_->info("connected to ZooKeeper at {}{} (session 0x{:x})", hosts_, chroot_, s->session_id());
    std::shared_ptr<zk::session> shared = std::move(s);
    {
        std::lock_guard lock(zk_mu_);
        zk_ = shared;
    }
    for (const char* p : {kBrokerIds, kTopics, kConfigTopics, kConfigGroups, kShutdowns,
                          kOfflineReplicas, kLogDirEvents, "/cluster"}) {
        if (int rc = shared->ensure_path(p); rc != ZOK) {
            *error = std::string("cannot create ") + p + ": " + zk::error_string(rc);
            return false;
        }
    }
    // A previous incarnation's offline replicas are stale; this session's (after an expiry
    // with a log dir still failed) are written again.
    (void)shared->remove(offline_replicas_path(self_.id));
    {
        std::lock_guard lock(offline_mu_);
        if (!reported_offline_.empty())
            (void)shared->create(offline_replicas_path(self_.id),
                                 encode_offline_replicas(reported_offline_), true);
    }
    if (!check_cluster_id(*shared, first, error)) return false;
    // Registration: a previous incarnation's ephemeral znode may linger until its session
    // expires.
    std::string path = broker_path(self_.id);
    auto wait_until = clock::now() + std::chrono::milliseconds(session_timeout_ms_) + 5s;
    bool logged_wait = false;
    for (;;) {
        int rc = shared->create(path, encode_broker(self_, now_ms()), true);
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

bool zk_store::check_cluster_id(zk::session& s, bool first, std::string* error) {
    std::string data;
    std::string id;
    for (int attempt = 0; attempt < 3 && id.empty(); ++attempt) {
        int rc = s.get(kClusterId, false, &data);
        if (rc == ZOK) {
            auto parsed = decode_cluster_id(data);
            if (!parsed) {
                *error = std::string("corrupt ") + kClusterId + ": " + parsed.error();
                return false;
            }
            id = *parsed;
        } else if (rc == ZNONODE) {
            std::string fresh = uuid_to_base64url(random_topic_uuid());
            int c = s.create(kClusterId, encode_cluster_id(fresh));
            if (c == ZOK) {
                id = fresh;
                log_->info("created cluster id {}", id);
            } else if (c != ZNODEEXISTS) {
                *error = std::string("cannot create ") + kClusterId + ": " + zk::error_string(c);
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

bool zk_store::write_meta(const std::string& path, const std::string& id, std::string* error) {
    std::string content = "#Written by Rill\nversion=0\ncluster.id=" + id +
                          "\nbroker.id=" + std::to_string(self_.id) + "\n";
    if (auto r = write_file_atomically(path, content); !r) {
        *error = r.error();
        return false;
    }
    return true;
}

bool zk_store::stopping() {
    std::lock_guard lock(q_mu_);
    return stop_;
}

void zk_store::run() {
    next_rebalance_ = clock::now() + rebalance_interval_;
    for (;;) {
        std::deque<queued_event> events;
        std::deque<std::function<void()>> tasks;
        {
            std::unique_lock lock(q_mu_);
            q_cv_.wait_for(lock, 1s, [&] { return stop_ || !events_.empty() || !tasks_.empty(); });
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

// Safety net: our registration must exist and belong to our session. If the session was
// closed under us (without an expiry event reaching this client), start over.
void zk_store::check_registration() {
    auto s = zk();
    if (!s || !s->connected()) return;
    Stat st;
    int rc = s->exists(broker_path(self_.id), false, &st);
    if (rc == ZNONODE || (rc == ZOK && st.ephemeralOwner != s->session_id())) {
        log_->warn(
            "our registration is gone (session 0x{:x} closed); re-registering on a new "
            "session",
            s->session_id());
        need_reconnect_ = true;
    }
}

void zk_store::reconnect() {
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

}  // namespace zk_detail

using zk_detail::zk_store;

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
std::vector<std::string> children(const metadata_store& store, const std::string& path) {
    auto* s = dynamic_cast<const zk_store*>(&store);
    return s ? s->children_for_testing(path) : std::vector<std::string>{};
}
}  // namespace zk_testing

}  // namespace rill::cluster
