#include "broker/replica_fetcher.h"

#include <algorithm>
#include <atomic>

#include "common/clock.h"
#include "common/logging.h"
#include "net/client.h"
#include "protocol/generated/fetch.h"
#include "protocol/generated/offset_for_leader_epoch.h"
#include "protocol/record_batch_header.h"

namespace rill::broker {

namespace m = protocol::messages;
namespace asio = boost::asio;
using asio::awaitable;

namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = rill::logger("replication");
    return l;
}

constexpr int16_t kFetchVersion = 12;                // flexible, names topics by name
constexpr int16_t kOffsetForLeaderEpochVersion = 4;  // replica_id, current_leader_epoch

// replica.fetch.backoff.ms: the pause after a failed fetch, resync or append of a partition
// (and between connection attempts), so that a partition that keeps failing costs one attempt
// per back-off, not a busy loop.
int64_t backoff_ms(broker_config& config) {
    return config.get_int("replica.fetch.backoff.ms");
}

}  // namespace

// True until the background work of a truncation finished (partition_log::truncate_*_async).
using truncation_flag = std::atomic<bool>;

struct replica_fetchers::fetcher {
    struct followed {
        std::shared_ptr<partition> part;
        int32_t leader_epoch = 0;
        bool resync = true;  // ask the leader where our latest epoch ends, truncate, then fetch
        int64_t fetch_offset = -1;
        int64_t retry_at_ms = 0;
        // Set while a truncation of the log is being made durable in the background; the
        // partition is neither resynchronised nor fetched until it is.
        std::shared_ptr<truncation_flag> truncating;
    };

    fetcher(asio::io_context& c, int32_t leader_id, int32_t self_id)
        : ctx(c),
          leader(leader_id),
          self(self_id),
          wake(c),
          client(c.get_executor(), "rill-replica-fetcher-" + std::to_string(self_id)) {}

    asio::io_context& ctx;
    const int32_t leader;
    const int32_t self;
    std::map<topic_partition, followed> parts;  // ctx only
    asio::steady_timer wake;
    net::kafka_client client;
    bool stopped = false;
    bool warned = false;  // a connection failure was logged (until the next success)
};

namespace {

using fetcher = replica_fetchers::fetcher;

awaitable<void> pause(fetcher& f, int64_t ms) {
    f.wake.expires_after(std::chrono::milliseconds(ms));
    boost::system::error_code ec;
    auto waiting = f.wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    co_await std::move(waiting);
}

// One partition's resynchronisation with the leader (OffsetForLeaderEpoch, then truncation).
struct resync_item {
    std::shared_ptr<partition> part;
    int32_t leader = -1;
    int32_t epoch = 0;
    bool current = false;  // the partition still follows `leader` at `epoch`
    std::optional<int32_t> local_epoch;
    int64_t leo = 0;
    int16_t error = 0;
    int32_t leader_answer_epoch = -1;
    int64_t leader_end_offset = -1;
    int64_t fetch_offset = -1;                    // set when resynchronised
    std::shared_ptr<truncation_flag> truncating;  // set when the log was truncated
};

// One partition's share of a Fetch response.
struct fetch_job {
    std::shared_ptr<partition> part;
    int32_t leader = -1;
    int32_t epoch = 0;
    int64_t fetch_offset = 0;
    m::fetch_response::fetchable_topic_response::partition_data* data = nullptr;
    int64_t next_offset = -1;  // set when the partition may fetch on
    bool resync = false;
    bool backoff = false;
    std::shared_ptr<truncation_flag> truncating;  // set when the log was truncated
};

bool busy(const fetcher::followed& fp) {
    return fp.truncating && fp.truncating->load(std::memory_order_acquire);
}

// The `done` of a truncate_*_async of `p`'s log: the background thread posts the result to
// the owner shard (which takes the log offline on failure), then clears the returned flag.
std::pair<storage::partition_log::truncation_done, std::shared_ptr<truncation_flag>>
truncation_callback(partition_manager& pm, std::shared_ptr<partition> p) {
    auto flag = std::make_shared<truncation_flag>(true);
    auto* owner = &pm.shard(p->shard);
    auto done = [owner, p = std::move(p), flag](const storage::status& st) {
        boost::asio::post(*owner, [p, flag, st] {
            if (!p->removed()) p->log->complete_truncation(st);
            flag->store(false, std::memory_order_release);
        });
    };
    return {std::move(done), std::move(flag)};
}

bool still_follows(const partition& p, int32_t leader, int32_t epoch) {
    return !p.removed() && p.leader_id() == leader && p.leader_epoch() == epoch &&
           p.leader_id() != p.self;
}

awaitable<void> resync(fetcher& f, partition_manager& pm, broker_config& config) {
    std::vector<resync_item> items;
    for (auto& [tp, fp] : f.parts) {
        if (!fp.resync || fp.retry_at_ms > wall_clock_ms() || busy(fp)) continue;
        resync_item it;
        it.part = fp.part;
        it.leader = f.leader;
        it.epoch = fp.leader_epoch;
        items.push_back(std::move(it));
    }
    if (items.empty()) co_return;
    auto inspect = [](partition& p, resync_item& it) {
        it.current = still_follows(p, it.leader, it.epoch);
        if (!it.current) return;
        it.local_epoch = p.log->latest_epoch();
        it.leo = p.log->log_end_offset();
    };
    auto inspecting = pm.run_on_owners(items, inspect);
    co_await std::move(inspecting);

    m::offset_for_leader_epoch_request req;
    req.replica_id = f.self;
    for (auto& it : items) {
        if (!it.current) continue;
        if (!it.local_epoch) {  // nothing written under any epoch: nothing can diverge
            it.fetch_offset = it.leo;
            continue;
        }
        if (req.topics.empty() || req.topics.back().topic != it.part->tp.topic)
            req.topics.emplace_back().topic = it.part->tp.topic;
        auto& rp = req.topics.back().partitions.emplace_back();
        rp.partition = it.part->tp.partition;
        rp.current_leader_epoch = it.epoch;
        rp.leader_epoch = *it.local_epoch;
    }
    if (!req.topics.empty()) {
        auto calling =
            f.client.call<m::offset_for_leader_epoch_request, m::offset_for_leader_epoch_response>(
                req, kOffsetForLeaderEpochVersion, std::chrono::seconds(30));
        auto resp = co_await std::move(calling);
        if (!resp) co_return;  // connection lost: retried on the next pass
        for (const auto& t : resp->topics)
            for (const auto& rp : t.partitions)
                for (auto& it : items)
                    if (it.current && it.local_epoch && it.part->tp.topic == t.topic &&
                        it.part->tp.partition == rp.partition) {
                        it.error = rp.error_code;
                        it.leader_answer_epoch = rp.leader_epoch;
                        it.leader_end_offset = rp.end_offset;
                    }
    }
    auto truncate = [&pm](partition& p, resync_item& it) {
        if (!it.current || !still_follows(p, it.leader, it.epoch)) return;
        if (!it.local_epoch) {
            it.fetch_offset = p.log->log_end_offset();
            return;
        }
        if (it.error != 0) return;  // retried after a back-off
        auto& lg = *p.log;
        const int64_t leo = lg.log_end_offset();
        int64_t target = leo;
        if (it.leader_answer_epoch < 0 || it.leader_end_offset < 0) {
            // The leader knows no epoch as old as ours: only what is committed is safe.
            target = std::min(leo, lg.high_watermark());
        } else {
            // Our log agrees with the leader's up to where the leader's answer epoch ends, and
            // our own copy of that epoch ends.
            target = std::min(leo, it.leader_end_offset);
            if (auto mine = lg.end_offset_for_epoch(it.leader_answer_epoch))
                target = std::min(target, mine->second);
        }
        if (target < leo) {
            auto [done, flag] = truncation_callback(pm, it.part);
            if (auto st = lg.truncate_to_async(target, std::move(done)); !st) {
                log()->error("{}: cannot truncate to {}: {}", p.tp.dir_name(), target,
                             st.error().message);
                return;
            }
            it.truncating = std::move(flag);
            log()->info(
                "{}: truncated divergent tail {} -> {} (leader {} epoch {} ends at {} for our "
                "epoch {})",
                p.tp.dir_name(), leo, target, it.leader, it.leader_answer_epoch,
                it.leader_end_offset, *it.local_epoch);
        }
        it.fetch_offset = lg.log_end_offset();
    };
    auto truncating = pm.run_on_owners(items, truncate);
    co_await std::move(truncating);
    const int64_t now = wall_clock_ms();
    for (auto& it : items) {
        auto found = f.parts.find(it.part->tp);
        if (found == f.parts.end() || found->second.part != it.part ||
            found->second.leader_epoch != it.epoch)
            continue;
        if (it.truncating) found->second.truncating = std::move(it.truncating);
        if (it.fetch_offset >= 0) {
            found->second.resync = false;
            found->second.fetch_offset = it.fetch_offset;
        } else {
            found->second.retry_at_ms = now + backoff_ms(config);
        }
    }
}

// Appends the leader's batches. A follower whose log is empty at an offset inside the first
// batch (it restarted at the leader's log start, which DeleteRecords put inside a batch) gets
// that whole batch: it restarts its log at the batch's base offset and appends it, as Kafka's
// Partition.appendRecordsToFollowerOrFutureReplica does. The log start then follows the
// leader's on this same fetch.
storage::result<storage::append_result> append_from_leader(partition_manager& pm, fetch_job& job,
                                                           std::span<const uint8_t> view) {
    partition& p = *job.part;
    auto& lg = *p.log;
    auto r = lg.append_replicated(view, wall_clock_ms());
    if (r || r.error().code != storage::errc::offset_out_of_range) return r;
    auto h = protocol::parse_batch_header(view);
    const int64_t leo = lg.log_end_offset();
    if (!h || leo != lg.log_start_offset() || h->base_offset >= leo || h->last_offset() < leo)
        return r;
    // The batch is appended at once (the leader would not serve its base offset again); the
    // next fetch waits until the restart is durable.
    auto [done, flag] = truncation_callback(pm, job.part);
    if (auto st = lg.truncate_fully_and_start_at_async(h->base_offset, std::move(done)); !st)
        return unexpected{st.error()};
    job.truncating = std::move(flag);
    log()->info(
        "{}: leader {} sent the batch [{}, {}] holding our log start {}; restarted the "
        "log at its base offset",
        p.tp.dir_name(), job.leader, h->base_offset, h->last_offset(), leo);
    return lg.append_replicated(view, wall_clock_ms());
}

awaitable<void> fetch_once(fetcher& f, partition_manager& pm, broker_config& config) {
    const int64_t now = wall_clock_ms();
    m::fetch_request req;
    req.replica_id = f.self;
    req.replica_state.replica_id = f.self;
    req.max_wait_ms = static_cast<int32_t>(config.get_int("replica.fetch.wait.max.ms"));
    req.min_bytes = 1;
    req.max_bytes = 10 * 1024 * 1024;
    req.isolation_level = 0;
    req.session_id = 0;
    req.session_epoch = -1;  // sessionless full fetches
    const auto partition_max = static_cast<int32_t>(config.get_int("replica.fetch.max.bytes"));
    std::vector<fetch_job> jobs;
    for (auto& [tp, fp] : f.parts) {
        if (fp.resync || fp.retry_at_ms > now || busy(fp)) continue;
        if (req.topics.empty() || req.topics.back().topic != tp.topic)
            req.topics.emplace_back().topic = tp.topic;
        auto& rp = req.topics.back().partitions.emplace_back();
        rp.partition = tp.partition;
        rp.current_leader_epoch = fp.leader_epoch;
        rp.fetch_offset = fp.fetch_offset;
        rp.partition_max_bytes = partition_max;
        fetch_job job;
        job.part = fp.part;
        job.leader = f.leader;
        job.epoch = fp.leader_epoch;
        job.fetch_offset = fp.fetch_offset;
        jobs.push_back(std::move(job));
    }
    if (jobs.empty()) {
        co_await pause(f, 100);
        co_return;
    }
    auto calling = f.client.call<m::fetch_request, m::fetch_response>(
        req, kFetchVersion, std::chrono::milliseconds(req.max_wait_ms) + std::chrono::seconds(30));
    auto resp = co_await std::move(calling);
    if (!resp) co_return;  // reconnects on the next pass
    if (resp->error_code != 0) {
        log()->warn("fetch from broker {} failed: error {}", f.leader, resp->error_code);
        co_await pause(f, backoff_ms(config));
        co_return;
    }
    for (auto& t : resp->responses)
        for (auto& pd : t.partitions)
            for (auto& job : jobs)
                if (!job.data && job.part->tp.topic == t.topic &&
                    job.part->tp.partition == pd.partition_index)
                    job.data = &pd;
    auto apply = [&pm](partition& p, fetch_job& job) {
        if (!job.data || !still_follows(p, job.leader, job.epoch)) return;
        auto& lg = *p.log;
        if (lg.log_end_offset() != job.fetch_offset) {  // changed meanwhile: start over
            job.resync = true;
            return;
        }
        const auto& d = *job.data;
        const auto err = static_cast<error_code>(d.error_code);
        if (err == error_code::none) {
            auto view = d.records.view();
            if (!view.empty()) {
                auto r = append_from_leader(pm, job, view);
                if (!r) {
                    log()->error("{}: cannot append batches from leader {} at offset {}: {}",
                                 p.tp.dir_name(), job.leader, job.fetch_offset, r.error().message);
                    job.resync = true;
                    job.backoff = true;  // replica.fetch.backoff.ms before trying again
                    return;
                }
            }
            lg.set_high_watermark(std::min(d.high_watermark, lg.log_end_offset()));
            // DeleteRecords (and retention) on the leader moved its log start: follow it, so a
            // later leader does not bring deleted records back.
            if (d.log_start_offset > lg.log_start_offset() &&
                d.log_start_offset <= lg.high_watermark()) {
                if (auto r = lg.delete_records(d.log_start_offset, wall_clock_ms()); !r)
                    log()->warn("{}: cannot follow the leader's log start {}: {}", p.tp.dir_name(),
                                d.log_start_offset, r.error().message);
            }
            job.next_offset = lg.log_end_offset();
            return;
        }
        if (err == error_code::offset_out_of_range) {
            if (job.fetch_offset < d.log_start_offset) {
                // The leader deleted what we would fetch next: start over at its log start.
                auto [done, flag] = truncation_callback(pm, job.part);
                if (auto st =
                        lg.truncate_fully_and_start_at_async(d.log_start_offset, std::move(done));
                    !st) {
                    log()->error("{}: cannot restart at {}: {}", p.tp.dir_name(),
                                 d.log_start_offset, st.error().message);
                    job.backoff = true;
                    return;
                }
                job.truncating = std::move(flag);
                log()->info("{}: behind the leader's log start; restarted at {}", p.tp.dir_name(),
                            d.log_start_offset);
                job.next_offset = lg.log_end_offset();
            } else {
                job.resync = true;
            }
            return;
        }
        job.backoff = true;  // not leader / fenced / unknown epoch: metadata will catch up
    };
    auto applying = pm.run_on_owners(jobs, apply);
    co_await std::move(applying);
    const int64_t after = wall_clock_ms();
    for (auto& job : jobs) {
        auto found = f.parts.find(job.part->tp);
        if (found == f.parts.end() || found->second.part != job.part ||
            found->second.leader_epoch != job.epoch)
            continue;
        if (job.truncating) found->second.truncating = std::move(job.truncating);
        if (job.next_offset >= 0) found->second.fetch_offset = job.next_offset;
        if (job.resync) found->second.resync = true;
        if (job.backoff) found->second.retry_at_ms = after + backoff_ms(config);
    }
}

awaitable<void> run_fetcher(std::shared_ptr<fetcher> f, partition_manager& pm,
                            cluster::metadata_store& metadata, broker_config& config) {
    while (!f->stopped) {
        if (f->parts.empty()) {
            co_await pause(*f, 1000);
            continue;
        }
        if (!f->client.connected()) {
            auto snap = metadata.snapshot();
            auto b = snap->brokers.find(f->leader);
            bool ok = false;
            if (b != snap->brokers.end() && !b->second.endpoints.empty()) {
                const auto& ep = b->second.endpoints.front();
                auto connecting = f->client.connect(ep.host, ep.port, std::chrono::seconds(5));
                ok = co_await std::move(connecting);
                if (!ok && !f->warned) {
                    log()->warn("cannot connect to leader {} at {}:{}; retrying", f->leader,
                                ep.host, ep.port);
                    f->warned = true;
                }
            }
            if (!ok) {
                co_await pause(*f, backoff_ms(config));
                continue;
            }
            f->warned = false;
        }
        auto resyncing = resync(*f, pm, config);
        co_await std::move(resyncing);
        if (f->stopped) break;
        auto fetching = fetch_once(*f, pm, config);
        co_await std::move(fetching);
    }
    f->client.close();
}

}  // namespace

replica_fetchers::replica_fetchers(partition_manager& pm, cluster::metadata_store& metadata,
                                   broker_config& config)
    : pm_(pm), metadata_(metadata), config_(config) {}

replica_fetchers::~replica_fetchers() {
    stop();
}

void replica_fetchers::follow(std::shared_ptr<partition> p, int32_t leader, int32_t leader_epoch) {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    const topic_partition tp = p->tp;
    for (auto& [id, f] : fetchers_) {
        if (id == leader) continue;
        boost::asio::post(f->ctx, [f = f, tp] { f->parts.erase(tp); });
    }
    auto& f = fetchers_[leader];
    if (!f) {
        auto& ctx = pm_.shard(static_cast<size_t>(leader) % pm_.shard_count());
        f = std::make_shared<fetcher>(ctx, leader, pm_.self_id());
        auto run = run_fetcher(f, pm_, metadata_, config_);
        boost::asio::co_spawn(ctx, std::move(run), boost::asio::detached);
    }
    boost::asio::post(f->ctx, [f = f, p = std::move(p), leader_epoch] {
        fetcher::followed fp;
        fp.part = p;
        fp.leader_epoch = leader_epoch;
        f->parts[p->tp] = std::move(fp);
        f->wake.cancel();
    });
}

void replica_fetchers::unfollow(const topic_partition& tp) {
    std::lock_guard lock(mu_);
    for (auto& [id, f] : fetchers_)
        boost::asio::post(f->ctx, [f = f, tp] { f->parts.erase(tp); });
}

void replica_fetchers::stop() {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    for (auto& [id, f] : fetchers_)
        boost::asio::post(f->ctx, [f = f] {
            f->stopped = true;
            f->client.close();
            f->wake.cancel();
        });
}

}  // namespace rill::broker
