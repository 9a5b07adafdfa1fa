#include "broker/partition_manager.h"

#include <chrono>
#include <functional>

#include <fmt/format.h>

#include "broker/replica_fetcher.h"
#include "common/logging.h"

namespace rill::broker {
namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = rill::logger("broker");
    return l;
}

int64_t to_int(const std::optional<std::string>& s, int64_t fallback) {
    if (!s) return fallback;
    try {
        return std::stoll(*s);
    } catch (...) {
        return fallback;
    }
}

double to_double(const std::optional<std::string>& s, double fallback) {
    if (!s) return fallback;
    try {
        return std::stod(*s);
    } catch (...) {
        return fallback;
    }
}

constexpr int64_t kPeriodicMs = 1000;
constexpr int64_t kCheckpointIntervalMs = 60000;  // log.flush.offset.checkpoint.interval.ms
// Periodic checkpoints are queued only while the background queue holds fewer tasks than this;
// the rest of the pass waits for the next periodic run. This bounds the queue (10,000
// partitions would otherwise queue 10,000 checkpoint writes at once, every interval).
constexpr size_t kMaxBackgroundBacklog = 1024;

bool same_state(const cluster::partition_info& a, const cluster::partition_info& b) {
    return a.leader == b.leader && a.leader_epoch == b.leader_epoch &&
           a.partition_epoch == b.partition_epoch && a.replicas == b.replicas && a.isr == b.isr &&
           a.adding_replicas == b.adding_replicas && a.removing_replicas == b.removing_replicas;
}

}  // namespace

storage::log_config make_log_config(const config_values& o, const broker_config& b) {
    auto v = [&](std::string_view name) { return topic_config_value(name, o, b); };
    storage::log_config c;
    c.segment_bytes = to_int(v("segment.bytes"), c.segment_bytes);
    c.segment_ms = to_int(v("segment.ms"), c.segment_ms);
    c.index_interval_bytes =
        static_cast<uint32_t>(to_int(v("index.interval.bytes"), c.index_interval_bytes));
    c.segment_index_bytes = to_int(v("segment.index.bytes"), c.segment_index_bytes);
    c.retention_ms = to_int(v("retention.ms"), c.retention_ms);
    c.retention_bytes = to_int(v("retention.bytes"), c.retention_bytes);
    c.flush_messages = to_int(v("flush.messages"), c.flush_messages);
    c.flush_ms = to_int(v("flush.ms"), c.flush_ms);
    c.log_append_time = v("message.timestamp.type") == "LogAppendTime";
    auto policy = v("cleanup.policy").value_or("delete");
    c.cleanup_delete = policy.find("delete") != std::string::npos;
    c.cleanup_compact = policy.find("compact") != std::string::npos;
    c.delete_retention_ms = to_int(v("delete.retention.ms"), c.delete_retention_ms);
    c.min_cleanable_dirty_ratio =
        to_double(v("min.cleanable.dirty.ratio"), c.min_cleanable_dirty_ratio);
    c.min_compaction_lag_ms = to_int(v("min.compaction.lag.ms"), c.min_compaction_lag_ms);
    return c;
}

struct partition_manager::periodic_state {
    explicit periodic_state(boost::asio::io_context& ctx) : timer(ctx) {}
    boost::asio::steady_timer timer;
    int64_t last_retention_ms = 0;
    int64_t last_checkpoint_ms = 0;
    int64_t last_compaction_ms = 0;
    // A checkpoint pass in progress: the partitions from this one on are still to be done.
    std::optional<topic_partition> checkpoint_from;
    bool stopped = false;
};

partition_manager::partition_manager(storage::log_manager& logs, broker_config& config,
                                     cluster::metadata_store& metadata,
                                     std::vector<boost::asio::io_context*> shards)
    : logs_(logs),
      config_(config),
      metadata_(metadata),
      shards_(std::move(shards)),
      self_id_(static_cast<int32_t>(config.get_int("broker.id"))) {}

partition_manager::~partition_manager() {
    stop();
}

size_t partition_manager::shard_of(const topic_partition& tp) const {
    size_t h = std::hash<std::string>{}(tp.topic);
    return (h + static_cast<size_t>(tp.partition)) % shards_.size();
}

std::shared_ptr<partition> partition_manager::find(const topic_partition& tp) const {
    std::shared_lock lock(mu_);
    auto it = parts_.find(tp);
    return it == parts_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<partition>> partition_manager::all() const {
    std::shared_lock lock(mu_);
    std::vector<std::shared_ptr<partition>> out;
    out.reserve(parts_.size());
    for (const auto& [_, p] : parts_)
        out.push_back(p);
    return out;
}

bool partition_manager::is_offline(const topic_partition& tp) const {
    std::shared_lock lock(mu_);
    return offline_.contains(tp);
}

std::map<topic_partition, std::string> partition_manager::offline_partitions() const {
    std::shared_lock lock(mu_);
    return offline_;
}

void partition_manager::refresh_offline_locked() {
    std::map<topic_partition, std::string> next = refused_;
    for (const auto& [tp, o] : logs_.offline_partitions())
        next[tp] = o.log_dir;
    std::set<std::pair<std::string, int32_t>> report;
    for (const auto& [tp, _] : next)
        report.emplace(tp.topic, tp.partition);
    {
        std::unique_lock lock(mu_);
        offline_ = std::move(next);
    }
    // Cluster mode: the controller moves leadership away from them and drops them from the
    // ISR (Kafka's log dir event notification). A blocking ZooKeeper write: control thread.
    if (report != reported_offline_ && cluster_mode()) {
        // A retry is pending: it sends the newest set when its back-off ends.
        if (offline_report_retry_armed_) return;
        if (auto r = metadata_.report_offline_replicas(report); !r) {
            log()->error(
                "cannot report {} offline replicas to the controller (retried in {} ms): {}",
                report.size(), next_offline_report_backoff_ms(), r.error().message);
            schedule_offline_report_retry();
            return;
        }
        reported_offline_ = std::move(report);
    }
    offline_report_backoff_ms_ = 0;
}

int64_t partition_manager::next_offline_report_backoff_ms() const {
    return offline_report_backoff_ms_ == 0
               ? kOfflineReportFirstBackoffMs
               : std::min(offline_report_backoff_ms_ * 2, kOfflineReportMaxBackoffMs);
}

void partition_manager::schedule_offline_report_retry() {
    if (stopping_ || offline_report_retry_armed_) return;
    offline_report_backoff_ms_ = next_offline_report_backoff_ms();
    offline_report_retry_armed_ = true;
    offline_report_timer_.expires_after(std::chrono::milliseconds(offline_report_backoff_ms_));
    offline_report_timer_.async_wait([this](const boost::system::error_code& ec) {
        // On the control thread.
        std::lock_guard control(control_mu_);
        offline_report_retry_armed_ = false;
        if (ec || stopping_) return;
        refresh_offline_locked();  // reports again; re-arms with a longer back-off if it fails
    });
}

void partition_manager::on_log_dir_failure(const std::string& dir, const storage::error& cause) {
    std::vector<std::shared_ptr<partition>> affected;
    {
        std::lock_guard control(control_mu_);
        if (!reported_dirs_.insert(dir).second) return;
        refresh_offline_locked();
        std::shared_lock lock(mu_);
        for (const auto& [tp, p] : parts_)
            if (logs_.log_dir_of(tp) == dir) affected.push_back(p);
    }
    for (const auto& p : affected) {
        if (fetchers_) fetchers_->unfollow(p->tp);
        boost::asio::post(*shards_[p->shard], [p] { p->on_log_offline(); });
    }
    log()->warn("log dir {} is offline ({}): {} hosted partitions offline, serving the rest", dir,
                cause.message, affected.size());
}

result<void, std::string> partition_manager::start() {
    control_work_.emplace(control_.get_executor());
    control_thread_ = std::thread([this] { control_.run(); });
    fetchers_ = std::make_unique<replica_fetchers>(*this, metadata_, config_);
    // Log dir failures are handled on the control thread (never on the failing shard or
    // storage thread).
    logs_.set_failure_listener([this](const std::string& dir, const storage::error& cause) {
        boost::asio::post(control_, [this, dir, cause] { on_log_dir_failure(dir, cause); });
    });
    for (const auto& f : logs_.failed_log_dirs()) {
        boost::asio::post(control_, [this, f] { on_log_dir_failure(f.dir, f.cause); });
    }
    auto snap = metadata_.snapshot();
    {
        std::lock_guard control(control_mu_);
        auto failed = logs_.load_all(
            [&](const topic_partition& tp) {
                const cluster::topic_info* t = snap->find_topic(tp.topic);
                return make_log_config(t ? t->configs : config_values{}, config_);
            },
            wall_clock_ms());
        for (const auto& [tp, err] : failed)
            log()->error("partition {} could not be loaded: {}", tp.dir_name(), err.message);
        refresh_offline_locked();
    }
    reconcile();
    // Called on the writer's thread (a shard, for the embedded store) with the snapshot just
    // published: the reconcile runs on the control thread and reads the newest snapshot itself.
    metadata_.subscribe(
        [this](const std::shared_ptr<const cluster::metadata_snapshot>&) { request_reconcile(); });
    for (size_t i = 0; i < shards_.size(); ++i) {
        periodic_.push_back(std::make_shared<periodic_state>(*shards_[i]));
        schedule_periodic(i);
    }
    return {};
}

void partition_manager::stop() {
    logs_.set_failure_listener({});
    if (fetchers_) fetchers_->stop();
    if (control_thread_.joinable()) {
        // A pending retry of the offline-replica report must not hold the control thread.
        boost::asio::post(control_, [this] {
            std::lock_guard control(control_mu_);
            stopping_ = true;
            offline_report_timer_.cancel();
        });
        control_work_.reset();
        control_thread_.join();
    }
    for (size_t i = 0; i < periodic_.size(); ++i) {
        auto st = periodic_[i];
        boost::asio::post(*shards_[i], [st] {
            st->stopped = true;
            st->timer.cancel();
        });
    }
    periodic_.clear();
}

void partition_manager::request_reconcile() {
    {
        std::lock_guard lk(reconcile_mu_);
        ++reconcile_requested_;
    }
    boost::asio::post(control_, [this] { reconcile(); });
}

void partition_manager::when_reconciled(std::function<void()> done) {
    std::unique_lock lk(reconcile_mu_);
    if (reconcile_done_ >= reconcile_requested_) {
        lk.unlock();
        done();
        return;
    }
    reconcile_waiters_.emplace_back(reconcile_requested_, std::move(done));
}

boost::asio::awaitable<bool> partition_manager::reconciled(std::chrono::milliseconds timeout) {
    auto ex = co_await boost::asio::this_coro::executor;
    auto l = latch::make(ex, 1);
    when_reconciled([l] { l->count_down(); });
    auto waiting = l->wait(timeout);
    const bool ok = co_await std::move(waiting);
    l->finish();
    co_return ok;
}

void partition_manager::finish_reconcile(uint64_t upto) {
    std::vector<std::function<void()>> ready;
    {
        std::lock_guard lk(reconcile_mu_);
        reconcile_done_ = std::max(reconcile_done_, upto);
        std::erase_if(reconcile_waiters_, [&](auto& w) {
            if (w.first > reconcile_done_) return false;
            ready.push_back(std::move(w.second));
            return true;
        });
    }
    for (auto& f : ready)
        f();
}

void partition_manager::reconcile() {
    std::lock_guard control(control_mu_);
    uint64_t requested = 0;
    {
        std::lock_guard lk(reconcile_mu_);
        requested = reconcile_requested_;
    }
    auto latest = metadata_.snapshot();
    const cluster::metadata_snapshot& snap = *latest;
    int64_t now = wall_clock_ms();
    // Cluster mode hosts the partitions this broker is a replica of (or is being added to);
    // the single node hosts every partition.
    auto hosted = [&](const cluster::partition_info& pi) {
        if (!snap.cluster_mode) return true;
        auto has = [&](const std::vector<int32_t>& v) {
            return std::find(v.begin(), v.end(), self_id_) != v.end();
        };
        return has(pi.replicas) || has(pi.adding_replicas);
    };
    struct missing {
        topic_partition tp;
        storage::log_config cfg;
        cluster::partition_info pi;
    };
    std::vector<std::shared_ptr<partition>> removed;
    std::vector<std::pair<std::shared_ptr<partition>, cluster::partition_info>> states;
    std::vector<missing> creating;
    {
        // Only the table itself under the lock (every shard takes it to look partitions up):
        // no file work here.
        std::unique_lock lock(mu_);
        // Partitions whose topic is gone (deleted, or deleted and recreated with a new id), or
        // that moved to other brokers.
        for (auto it = parts_.begin(); it != parts_.end();) {
            const cluster::topic_info* t = snap.find_topic(it->first.topic);
            if (!t || it->first.partition >= static_cast<int32_t>(t->partitions.size()) ||
                !hosted(t->partitions[static_cast<size_t>(it->first.partition)])) {
                applied_.erase(it->first);
                removed.push_back(it->second);
                it = parts_.erase(it);
            } else {
                ++it;
            }
        }
        for (const auto& [name, t] : snap.topics) {
            auto cfg = make_log_config(t.configs, config_);
            for (const auto& pi : t.partitions) {
                if (!hosted(pi)) continue;
                topic_partition tp{name, pi.id};
                auto it = parts_.find(tp);
                if (it != parts_.end()) {
                    // Only what changed since the last reconcile goes to the owner shard: a
                    // metadata change of one partition must not cost every shard a task per
                    // hosted partition (broker-level config changes reach the logs through the
                    // periodic refresh).
                    auto p = it->second;
                    applied_state& last = applied_[tp];
                    if (last.configs != t.configs.all()) {
                        last.configs = t.configs.all();
                        boost::asio::post(*shards_[p->shard], [p, cfg] {
                            if (!p->removed()) p->log->set_config(cfg);
                        });
                    }
                    if (!last.pi || !same_state(*last.pi, pi)) {
                        last.pi = pi;
                        states.emplace_back(p, pi);
                    }
                    continue;
                }
                if (pending_removal_.contains(tp)) continue;  // created once the old log is gone
                if (offline_.contains(tp)) continue;          // offline here: never recreated
                creating.push_back({std::move(tp), cfg, pi});
            }
        }
    }
    // Creating logs (about 7 fsyncs each) runs here, on the control thread, without the table
    // lock; new partitions are published in steps so a big CreateTopics serves its first
    // partitions while the rest are created.
    constexpr size_t kPublishStep = 256;
    std::vector<std::shared_ptr<partition>> fresh;
    auto publish = [&] {
        std::unique_lock lock(mu_);
        for (auto& p : fresh)
            parts_.emplace(p->tp, p);
        fresh.clear();
    };
    bool refused = false;
    for (auto& c : creating) {
        std::shared_ptr<storage::partition_log> plog = logs_.get(c.tp);
        if (!plog) {
            auto created = logs_.create(c.tp, c.cfg, now);
            if (!created) {
                log()->error("cannot create log for {}: {}", c.tp.dir_name(),
                             created.error().message);
                // Offline (a failed log dir may hold it): KAFKA_STORAGE_ERROR, not retried.
                if (created.error().code == storage::errc::log_offline) {
                    refused_[c.tp] = logs_.log_dir_of(c.tp).value_or("");
                    refused = true;
                }
                continue;
            }
            plog = *created;
        } else {
            plog->set_config(c.cfg);  // not published yet: no shard uses it
        }
        // Single replica: everything in the log is committed. A replica keeps its checkpointed
        // high watermark; the leader advances it as the ISR catches up.
        if (!snap.cluster_mode) plog->set_high_watermark(plog->log_end_offset());
        auto p = std::make_shared<partition>(
            c.tp, shard_of(c.tp), std::move(plog), self_id_,
            [this](partition& part, std::vector<int32_t> isr, const char* why) {
                request_isr_change(part, std::move(isr), why);
            });
        // Single node: usable at once (a handler may append before the post below runs).
        if (!snap.cluster_mode) p->make_sole_leader(c.pi.leader_epoch);
        applied_[c.tp] = {c.pi, latest->find_topic(c.tp.topic)->configs.all()};
        fresh.push_back(p);
        states.emplace_back(std::move(p), c.pi);
        if (fresh.size() >= kPublishStep) publish();
    }
    publish();
    // Offline partitions of topics that are gone (or moved away) are forgotten.
    const size_t refused_before = refused_.size();
    std::erase_if(refused_, [&](const auto& kv) {
        const cluster::topic_info* t = snap.find_topic(kv.first.topic);
        return !t || kv.first.partition >= static_cast<int32_t>(t->partitions.size()) ||
               !hosted(t->partitions[static_cast<size_t>(kv.first.partition)]);
    });
    if (refused || refused_.size() != refused_before) refresh_offline_locked();
    for (auto& [p, pi] : states) {
        boost::asio::post(*shards_[p->shard], [this, p = p, pi = pi] { apply_state(p, pi); });
    }
    // Logs on disk that metadata does not name are left alone (never delete unknown data).
    for (auto& p : removed) {
        pending_removal_.insert(p->tp);
        if (fetchers_) fetchers_->unfollow(p->tp);
        // The owner shard stops using the log; the removal itself (a rename and a directory
        // fsync) runs back here on the control thread.
        boost::asio::post(*shards_[p->shard], [this, p] {
            p->remove();
            boost::asio::post(control_, [this, p] {
                {
                    std::lock_guard control(control_mu_);
                    if (auto st = logs_.remove(p->tp); !st)
                        log()->error("cannot remove log {}: {}", p->tp.dir_name(),
                                     st.error().message);
                    else
                        log()->info("removed log {}", p->tp.dir_name());
                    pending_removal_.erase(p->tp);
                }
                // A topic recreated under the same name meanwhile gets its fresh log now.
                reconcile();
            });
        });
    }
    // Waiters are released once no removal is pending (a topic deleted and recreated is
    // reconciled when its new log exists).
    if (pending_removal_.empty()) finish_reconcile(requested);
}

void partition_manager::apply_state(const std::shared_ptr<partition>& p,
                                    const cluster::partition_info& pi) {
    const bool cluster = metadata_.snapshot()->cluster_mode;
    const auto t = p->apply_state(pi, cluster, wall_clock_ms());
    if (t.ignored || !cluster) return;
    if (p->log->log_dir_failed()) {
        // Offline with its log dir: neither served nor followed (the controller moves
        // leadership away once told, see on_log_dir_failure).
        fetchers_->unfollow(p->tp);
        return;
    }
    if (p->is_leader()) {
        if (!t.was_leader || t.leader_changed) {
            fetchers_->unfollow(p->tp);
            log()->info("{}: leader at epoch {}, ISR {}, high watermark {}, log end {}",
                        p->tp.dir_name(), p->leader_epoch(), fmt::join(p->isr(), ","),
                        p->log->high_watermark(), p->log->log_end_offset());
        }
        return;
    }
    if (t.leader_changed || t.was_leader) {
        if (pi.leader >= 0) {
            log()->info("{}: following broker {} at epoch {}", p->tp.dir_name(), pi.leader,
                        pi.leader_epoch);
            fetchers_->follow(p, pi.leader, pi.leader_epoch);
        } else {
            log()->warn("{}: no leader (no live in-sync replica)", p->tp.dir_name());
            fetchers_->unfollow(p->tp);
        }
    }
}

void partition_manager::on_follower_fetch(partition& p, int32_t replica, int64_t offset,
                                          int64_t now_ms) {
    p.on_follower_fetch(replica, offset, now_ms);
}

void partition_manager::request_isr_change(partition& p, std::vector<int32_t> isr,
                                           const char* why) {
    auto sp = find(p.tp);
    if (!sp || sp.get() != &p || !control_thread_.joinable()) {
        p.end_isr_change();
        return;
    }
    const int32_t epoch = p.leader_epoch();
    const int32_t pepoch = p.partition_epoch();
    boost::asio::post(control_, [this, sp, isr = std::move(isr), epoch, pepoch, why] {
        auto r = metadata_.alter_isr(sp->tp.topic, sp->tp.partition, self_id_, epoch, pepoch, isr);
        if (r)
            log()->info("{}: ISR now {} ({})", sp->tp.dir_name(), fmt::join(r->isr, ","), why);
        else
            log()->info("{}: ISR change to {} not applied: {}", sp->tp.dir_name(),
                        fmt::join(isr, ","), r.error().message);
        std::optional<cluster::partition_info> applied;
        if (r) applied = *r;
        boost::asio::post(*shards_[sp->shard], [this, sp, applied] {
            sp->end_isr_change();
            if (applied) apply_state(sp, *applied);
        });
    });
}

void partition_manager::schedule_periodic(size_t shard) {
    auto st = periodic_[shard];
    st->timer.expires_after(std::chrono::milliseconds(kPeriodicMs));
    st->timer.async_wait([this, shard, st](const boost::system::error_code& ec) {
        if (ec || st->stopped) return;
        run_periodic(shard);
        if (!st->stopped) schedule_periodic(shard);
    });
}

// Runs on `shard`: flush.ms, config refresh (dynamic broker configs), retention, checkpoints
// and compaction for the partitions this shard owns.
void partition_manager::run_periodic(size_t shard) {
    auto st = periodic_[shard];
    int64_t now = wall_clock_ms();
    bool retention =
        now - st->last_retention_ms >= config_.get_int("log.retention.check.interval.ms");
    if (!st->checkpoint_from && now - st->last_checkpoint_ms >= kCheckpointIntervalMs) {
        st->last_checkpoint_ms = now;
        st->checkpoint_from = topic_partition{};  // a new pass, from the first partition
    }
    bool checkpoint = st->checkpoint_from.has_value();
    bool compaction = config_.get_bool("log.cleaner.enable") &&
                      now - st->last_compaction_ms >= config_.get_int("log.cleaner.backoff.ms");
    if (retention) st->last_retention_ms = now;
    if (compaction) st->last_compaction_ms = now;
    auto snap = metadata_.snapshot();
    for (const auto& p : all()) {
        if (p->shard != shard || p->removed()) continue;
        if (snap->cluster_mode) p->shrink_isr(now, config_.get_int("replica.lag.time.max.ms"));
        auto& lg = *p->log;
        if (const cluster::topic_info* t = snap->find_topic(p->tp.topic))
            lg.set_config(make_log_config(t->configs, config_));
        lg.maybe_flush(now);
        if (retention) {
            auto r = lg.enforce_retention(now);
            if (r && *r > 0)
                log()->info("retention deleted {} segments of {}", *r, p->tp.dir_name());
        }
        if (checkpoint && !(p->tp < *st->checkpoint_from)) {
            if (logs_.background_backlog() >= kMaxBackgroundBacklog) {
                st->checkpoint_from = p->tp;  // the queue is full: continue here next time
                checkpoint = false;
            } else {
                lg.checkpoint();
            }
        }
        if (compaction && lg.config().cleanup_compact) {
            auto* ctx = shards_[shard];
            logs_.schedule_compaction(p->log, now, [ctx, p](std::function<void()> install) {
                boost::asio::post(*ctx, [p, install = std::move(install)] {
                    if (!p->removed()) install();
                });
            });
        }
    }
    if (checkpoint) st->checkpoint_from.reset();  // the pass is complete
}

}  // namespace rill::broker
