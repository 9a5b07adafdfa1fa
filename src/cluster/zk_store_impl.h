// Internal to src/cluster: the ZooKeeper metadata store's class. Its members are implemented in
// four files, one job each:
//
//   zk_store.cc           lifecycle, the session (connect, cluster id, registration, expiry and
//                         re-registration) and the store thread's loop
//   zk_metadata_cache.cc  the cache: watch events -> znode reads -> the published snapshot
//   zk_controller.cc      the controller: election, leader election and ISR shrink on broker
//                         changes, controlled shutdown, reassignment completion, preferred
//                         leader rebalancing (decisions in zk_controller.h, pure)
//   zk_writes.cc          the metadata_store writes: conditional ZooKeeper writes on the
//                         caller's thread, each returning after the store's snapshot shows it
//
// Threads and ownership:
// - ZooKeeper's completion thread only queues events (push_event).
// - The store thread (run) owns the cache and the controller state ("store thread" below). Before
//   it starts, start() uses them on the constructing thread.
// - Writers run on their caller's thread; they use the session (zk()), the published snapshot
//   and the atomics, and reach the cache only through on_store (which runs a task on the store
//   thread and waits for it).
// - Listeners are called on the store thread (publish).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cluster/metadata_store.h"
#include "cluster/zk_client.h"
#include "cluster/zk_controller.h"
#include "common/logging.h"

namespace rill::cluster::zk_detail {

inline bool contains(const std::vector<int32_t>& v, int32_t x) {
    return std::find(v.begin(), v.end(), x) != v.end();
}

// ZooKeeper's `rc` as a meta_error: unavailable for transport errors, storage_error otherwise.
meta_error zk_failure(int rc, const std::string& what);
std::string now_ms_string();
int64_t now_ms();

class zk_store final : public metadata_store {
  public:
    using clock = std::chrono::steady_clock;

    // zk_store.cc. `config` must outlive the store.
    zk_store(const broker_config& config, broker_info self, std::string data_dir);
    ~zk_store() override;  // stops the store thread, then closes the session
    // Connects, registers, reads the first snapshot, takes part in the election and starts the
    // store thread. false and *error on failure.
    bool start(std::string* error);

    // Any thread.
    std::shared_ptr<const metadata_snapshot> snapshot() const override;
    void subscribe(listener l) override;

    // zk_writes.cc: caller's thread (blocking ZooKeeper round trips; never a shard thread).
    result<topic_info, meta_error> create_topic(const new_topic& req, bool validate_only) override;
    result<void, meta_error> delete_topic(const std::string& name) override;
    result<void, meta_error> create_partitions(const std::string& name, int32_t total,
                                               bool validate_only) override;
    result<void, meta_error> set_group_configs(const std::string& group,
                                               const config_values& configs) override;
    result<void, meta_error> set_topic_configs(const std::string& name,
                                               const config_values& configs,
                                               bool validate_only) override;
    result<int64_t, meta_error> allocate_producer_ids(int32_t count) override;
    result<partition_info, meta_error> alter_isr(const std::string& topic, int32_t partition,
                                                 int32_t leader, int32_t leader_epoch,
                                                 int32_t partition_epoch,
                                                 std::vector<int32_t> isr) override;
    result<void, meta_error> reassign_partition(const std::string& topic, int32_t partition,
                                                std::vector<int32_t> target) override;
    result<void, meta_error> elect_preferred_leader(const std::string& topic,
                                                    int32_t partition) override;
    int controlled_shutdown(std::chrono::milliseconds timeout) override;
    result<void, meta_error> report_offline_replicas(
        const std::set<std::pair<std::string, int32_t>>& partitions) override;

    // Testing hooks (zk_store.cc; any thread).
    bool expire_for_testing();
    bool controller_now() const { return is_controller_flag_.load(); }
    std::vector<std::string> children_for_testing(const std::string& path) const {
        std::vector<std::string> out;
        if (auto s = zk()) s->children(path, false, &out);
        return out;
    }

  private:
    struct topic_entry {
        topic_info info;
        int32_t version = -1;  // topic znode version
    };
    struct queued_event {
        uint64_t generation;
        zk::event ev;
    };

    // ---- zk_store.cc: session and store thread ----
    std::shared_ptr<zk::session> zk() const;  // the current session (any thread)
    // Runs `fn` on the store thread (inline when already there, or before it starts), then
    // publishes if anything changed; waits for it. Any thread.
    void on_store(const std::function<void()>& fn);
    void push_event(uint64_t gen, const zk::event& e);  // ZooKeeper's thread
    bool connect_and_register(clock::time_point deadline, bool first, std::string* error);
    bool check_cluster_id(zk::session& s, bool first, std::string* error);
    bool write_meta(const std::string& path, const std::string& id, std::string* error);
    bool stopping();
    void run();                 // the store thread
    void check_registration();  // store thread
    void reconnect();           // store thread

    // ---- zk_metadata_cache.cc: store thread ----
    void handle_event(const zk::event& e);
    // A read failed on the transport: re-read everything once the connection is back.
    void read_failed(int rc, const std::string& what);
    void full_reload();
    void load_brokers();
    void load_topic_list();
    // Re-reads a topic znode (and the state of partitions not known yet, or of all of them).
    void load_topic(const std::string& name, bool all_states = false);
    void load_state(const std::string& topic, int32_t p);
    void load_config_list();
    void load_config(const std::string& name);
    void load_group_config_list();
    void load_group_config(const std::string& group);
    void load_controller();
    void load_shutdowns();
    // /rill/offline_replicas: every broker's offline replicas (watched, children and data).
    void load_offline_replicas();
    // /log_dir_event_notification: the controller logs and deletes the events, then re-reads
    // the offline replicas.
    void load_log_dir_events();
    void load_pid();
    // Publishes a snapshot of the cache (version + 1) and calls the listeners.
    void publish();

    // ---- zk_controller.cc: store thread ----
    void elect();
    // /controller names us: finish taking over if it is this session's znode (a previous
    // incarnation's znode lingers until its session expires).
    void resume_controller();
    void become_controller();
    bool unclean_enabled(const std::string& topic) const;
    void run_controller();
    void assign_topic_id(const std::string& name);
    bool create_state(const std::string& name, int32_t pid);
    // Writes one decision, conditional on our controller epoch and the partition's state
    // version (and the topic znode's version when finishing a reassignment).
    bool apply(const std::string& name, int32_t pid, const controller_decision& d);

    // ---- zk_writes.cc ----
    bool shutting_down_now(int32_t id);  // reads ZooKeeper (caller's thread)

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
    std::map<std::string, config_values> group_configs_;
    std::set<int32_t> shutting_down_;
    std::map<int32_t, std::set<std::pair<std::string, int32_t>>> offline_replicas_;
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

    // What report_offline_replicas() last wrote (re-written after a session expiry).
    std::mutex offline_mu_;
    std::set<std::pair<std::string, int32_t>> reported_offline_;

    // Published snapshot and listeners.
    mutable std::mutex snap_mu_;
    std::condition_variable snap_cv_;
    std::shared_ptr<const metadata_snapshot> snap_;
    std::mutex listeners_mu_;
    std::vector<listener> listeners_;
};

}  // namespace rill::cluster::zk_detail
