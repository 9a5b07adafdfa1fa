// The partitions this broker hosts: one storage::partition_log each, pinned to an owner shard.
//
// Ownership: a partition's log, waiters and counters are touched only on its owner shard
// (shard_of()). Handlers reach them with on_owner(), which runs a function there and resumes
// the caller on its own executor. The table of partitions itself (which exist) is guarded by
// a shared mutex so any shard can look up the owner; it changes only when metadata changes.
//
// Lifecycle: start() loads every log on disk, creates the logs metadata names but disk lacks,
// and removes logs of topics that no longer exist. Afterwards a metadata listener keeps the
// logs in step with topic creation, deletion, partition increases and config changes: it
// queues a reconcile on the control thread, which creates and removes logs (their fsyncs never
// run on a shard) and holds the table lock only to change the table; when_reconciled() tells
// a creating request when its logs exist.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "broker/errors.h"
#include "broker/latch.h"
#include "broker/partition.h"
#include "cluster/metadata_store.h"
#include "common/asio.h"
#include "common/clock.h"
#include "common/config.h"
#include "storage/log_manager.h"

namespace rill::broker {

// Maps a topic's effective configuration onto the storage log config.
storage::log_config make_log_config(const config_values& topic_overrides,
                                    const broker_config& broker);

class replica_fetchers;

class partition_manager {
  public:
    partition_manager(storage::log_manager& logs, broker_config& config,
                      cluster::metadata_store& metadata,
                      std::vector<boost::asio::io_context*> shards);
    ~partition_manager();

    // Loads and reconciles logs with metadata, subscribes to metadata changes and starts the
    // periodic work (retention, flush.ms, checkpoints, compaction) on every shard. Blocking.
    // Returns an error message when a log directory cannot be used.
    result<void, std::string> start();
    // Stops periodic work; the logs are closed by log_manager::close().
    void stop();

    // This broker's id and whether metadata comes from a cluster (ZooKeeper) store.
    int32_t self_id() const { return self_id_; }
    bool cluster_mode() const { return metadata_.snapshot()->cluster_mode; }

    // Owner shard, leader: a follower's fetch from `offset` (its log end). Tracks its progress
    // and catch-up time, adds it back to the ISR once caught up, advances the high watermark
    // (partition::on_follower_fetch).
    void on_follower_fetch(partition& p, int32_t replica, int64_t offset, int64_t now_ms);

    // ---- Offline partitions (any thread). A partition is offline here when its log could not
    // be loaded or created (it has no partition object then) or its log dir failed (it keeps
    // its partition object, whose log answers log_offline). Requests for it answer
    // KAFKA_STORAGE_ERROR; Metadata lists this broker in its offline replicas.
    bool is_offline(const topic_partition& tp) const;
    // Offline partitions with the log dir holding them ("" when unknown).
    std::map<topic_partition, std::string> offline_partitions() const;
    // The error for a partition without a partition object here: KAFKA_STORAGE_ERROR when it
    // is offline, else `otherwise`.
    error_code missing_partition_error(const topic_partition& tp, error_code otherwise) const {
        return is_offline(tp) ? error_code::kafka_storage_error : otherwise;
    }

    size_t shard_of(const topic_partition& tp) const;
    // Any thread: the partition, or nullptr when not hosted here.
    std::shared_ptr<partition> find(const topic_partition& tp) const;
    std::vector<std::shared_ptr<partition>> all() const;

    // Any thread: `done` runs (on the control thread, or at once) when every metadata snapshot
    // published before the call has been reconciled: its partitions' logs created or removed.
    void when_reconciled(std::function<void()> done);
    // Resumes the calling coroutine on its executor once when_reconciled() fires, or after
    // `timeout`: true when reconciled. For handlers that create partitions (CreateTopics,
    // CreatePartitions, auto-creation) so that the logs exist when they answer.
    boost::asio::awaitable<bool> reconciled(std::chrono::milliseconds timeout);

    boost::asio::io_context& shard(size_t i) { return *shards_[i]; }
    size_t shard_count() const { return shards_.size(); }
    storage::log_manager& logs() { return logs_; }

    // GCC 12 miscompiles a lambda (or aggregate) temporary created inside a co_await
    // expression: its members are destroyed twice. For `co_await pm.run_on_owners(items,
    // [sp](...) {...})` with a captured shared_ptr `sp` that drops one reference too many: the
    // object is freed while still in use, often from another shard (heap corruption). So `f`
    // is taken by reference and copied here, outside any coroutine, and a temporary `f` is
    // accepted only when destroying it twice is harmless (trivially destructible captures);
    // otherwise name the lambda and pass the variable. Also never write such a temporary
    // inside `co_await` elsewhere: build the awaitable in its own statement first.
    template <typename F>
    static constexpr bool safe_callable_arg =
        std::is_lvalue_reference_v<F> || std::is_trivially_destructible_v<std::remove_cvref_t<F>>;

    // Runs `f(partition&)` on the partition's owner shard and returns its result to the
    // calling coroutine's executor.
    template <typename F>
    boost::asio::awaitable<std::invoke_result_t<std::remove_cvref_t<F>&, partition&>> on_owner(
        std::shared_ptr<partition> p, F&& f) {
        static_assert(safe_callable_arg<F>,
                      "pass a named callable: GCC 12 destroys captures of a temporary lambda in a "
                      "co_await expression twice (see safe_callable_arg)");
        return on_owner_impl(std::move(p), std::remove_cvref_t<F>(std::forward<F>(f)));
    }

    // Runs `f(partition&, Item&)` for every item whose `part` is set, on that partition's owner
    // shard, all shards in parallel, and resumes the caller when all are done. `Item` must
    // have a `std::shared_ptr<partition> part` member; items outlive the call.
    template <typename Item, typename F>
    boost::asio::awaitable<void> run_on_owners(std::vector<Item>& items, F&& f) {
        static_assert(safe_callable_arg<F>,
                      "pass a named callable: GCC 12 destroys captures of a temporary lambda in a "
                      "co_await expression twice (see safe_callable_arg)");
        return run_on_owners_impl(items, std::remove_cvref_t<F>(std::forward<F>(f)));
    }

  private:
    template <typename F>
    boost::asio::awaitable<std::invoke_result_t<F&, partition&>> on_owner_impl(
        std::shared_ptr<partition> p, F f) {
        using R = std::invoke_result_t<F&, partition&>;
        auto run = [p, f = std::move(f)]() mutable -> boost::asio::awaitable<R> {
            co_return f(*p);
        };
        auto op =
            boost::asio::co_spawn(*shards_[p->shard], std::move(run), boost::asio::use_awaitable);
        co_return co_await std::move(op);
    }

    template <typename Item, typename F>
    boost::asio::awaitable<void> run_on_owners_impl(std::vector<Item>& items, F f) {
        auto ex = co_await boost::asio::this_coro::executor;
        std::map<size_t, std::vector<Item*>> by_shard;
        for (auto& it : items)
            if (it.part) by_shard[it.part->shard].push_back(&it);
        if (by_shard.empty()) co_return;
        auto done = latch::make(ex, by_shard.size());
        for (auto& [shard, group] : by_shard) {
            boost::asio::post(*shards_[shard], [group = std::move(group), done, f] {
                for (Item* it : group)
                    f(*it->part, *it);
                done->count_down();
            });
        }
        co_await done->wait();
    }

    // Brings the partitions in line with the newest metadata snapshot. Runs on the control
    // thread (or start()'s thread), never on a shard: creating a log costs fsyncs. The
    // snapshot is read under control_mu_, so concurrent callers never apply an older snapshot
    // after a newer one. The table lock mu_ is held only to read and change the table.
    void reconcile();
    // Any thread (the metadata listener): counts a reconcile request, runs it on the control
    // thread.
    void request_reconcile();
    // Releases the when_reconciled() waiters of requests up to `upto`.
    void finish_reconcile(uint64_t upto);
    // Owner shard: applies a partition's metadata (leader, epoch, replicas, ISR) and
    // starts or stops following.
    void apply_state(const std::shared_ptr<partition>& p, const cluster::partition_info& pi);
    // Owner shard, leader: the partition's isr_writer. Runs the conditional
    // metadata_store::alter_isr on the control thread, then applies the answer on the shard.
    void request_isr_change(partition& p, std::vector<int32_t> isr, const char* why);
    // Control thread: a log dir failed (log_manager's failure listener). Records its
    // partitions as offline, stops following them, fails their waiters on their owner shards
    // and, in cluster mode, tells the controller (metadata_store::report_log_dir_failure).
    void on_log_dir_failure(const std::string& dir, const storage::error& cause);
    // Control thread, control_mu_ held: offline_ := the log manager's offline partitions plus
    // `extra` (partitions whose creation was refused).
    void refresh_offline_locked();
    // Control thread, control_mu_ held: a failed report of the offline replicas to the
    // controller is retried by a timer on the control thread, with a back-off doubling from
    // 200 ms to 10 s, until it succeeds (or the manager stops).
    void schedule_offline_report_retry();
    int64_t next_offline_report_backoff_ms() const;
    void schedule_periodic(size_t shard);
    void run_periodic(size_t shard);

    storage::log_manager& logs_;
    broker_config& config_;
    cluster::metadata_store& metadata_;
    std::vector<boost::asio::io_context*> shards_;
    int32_t self_id_ = -1;

    // Blocking metadata writes (ISR changes) run here, never on a shard.
    boost::asio::io_context control_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>>
        control_work_;
    std::thread control_thread_;
    std::unique_ptr<replica_fetchers> fetchers_;

    std::mutex control_mu_;  // serialises log_manager calls (its control-thread contract)
    mutable std::shared_mutex mu_;
    std::map<topic_partition, std::shared_ptr<partition>> parts_;
    std::set<topic_partition> pending_removal_;  // guarded by control_mu_
    // Offline partitions -> their log dir (guarded by mu_; written on the control thread).
    std::map<topic_partition, std::string> offline_;
    // Partitions whose log creation was refused as offline (guarded by control_mu_).
    std::map<topic_partition, std::string> refused_;
    std::set<std::string> reported_dirs_;  // log dirs already handled (control thread)
    // Offline replicas last reported to the controller (guarded by control_mu_).
    std::set<std::pair<std::string, int32_t>> reported_offline_;
    // The retry of a failed report (guarded by control_mu_; the timer runs on control_).
    static constexpr int64_t kOfflineReportFirstBackoffMs = 200;
    static constexpr int64_t kOfflineReportMaxBackoffMs = 10'000;
    boost::asio::steady_timer offline_report_timer_{control_};
    int64_t offline_report_backoff_ms_ = 0;  // 0: the last report succeeded
    bool offline_report_retry_armed_ = false;
    bool stopping_ = false;
    // What reconcile() last sent each hosted partition's owner shard (guarded by control_mu_).
    struct applied_state {
        std::optional<cluster::partition_info> pi;
        std::map<std::string, std::string> configs;  // the topic's overrides
    };
    std::map<topic_partition, applied_state> applied_;

    std::mutex reconcile_mu_;  // guards the three below (never held across file work)
    uint64_t reconcile_requested_ = 0;
    uint64_t reconcile_done_ = 0;
    std::vector<std::pair<uint64_t, std::function<void()>>> reconcile_waiters_;

    struct periodic_state;
    std::vector<std::shared_ptr<periodic_state>> periodic_;
};

}  // namespace rill::broker
