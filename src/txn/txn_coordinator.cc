#include "txn/txn_coordinator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include "common/clock.h"
#include "common/completion.h"
#include "common/logging.h"
#include "coordinator/partition_host.h"

namespace rill::txn {

using boost::asio::awaitable;

namespace {

struct state_partition {
    int32_t id = 0;
    size_t shard = 0;
    std::shared_ptr<txn_shard> ts;
};

}  // namespace

struct txn_coordinator::impl {
    txn_host host;
    broker_config& config;
    cluster::metadata_store& metadata;
    std::shared_ptr<spdlog::logger> log = rill::logger("txn");

    std::mutex mu;  // guards parts and tickers
    std::shared_ptr<const std::vector<std::shared_ptr<state_partition>>> parts =
        std::make_shared<std::vector<std::shared_ptr<state_partition>>>();
    std::vector<std::shared_ptr<boost::asio::steady_timer>> tickers;
    std::shared_ptr<std::atomic<bool>> stopped = std::make_shared<std::atomic<bool>>(false);

    impl(txn_host h, broker_config& c, cluster::metadata_store& md)
        : host(std::move(h)), config(c), metadata(md) {}

    std::shared_ptr<const std::vector<std::shared_ptr<state_partition>>> partitions() {
        std::lock_guard lock(mu);
        return parts;
    }

    marker_writer writer_for(size_t shard) {
        return [this, shard](marker_request mr, std::function<void(error_code)> done) {
            auto run = [this, mr = std::move(mr), done = std::move(done)]() -> awaitable<void> {
                auto op = host.write_markers(mr);
                auto e = co_await std::move(op);
                done(e);
            };
            boost::asio::co_spawn(*host.partitions.shards[shard], std::move(run),
                                  boost::asio::detached);
        };
    }

    void adopt_topic(const cluster::topic_info& t) {
        std::lock_guard lock(mu);
        if (parts->size() == t.partitions.size()) return;
        auto next = std::make_shared<std::vector<std::shared_ptr<state_partition>>>();
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            if (i < parts->size()) {
                next->push_back((*parts)[i]);
                continue;
            }
            auto p = std::make_shared<state_partition>();
            p->id = static_cast<int32_t>(i);
            topic_partition tp{kTxnTopic, p->id};
            p->shard = host.partitions.shard_of(tp);
            p->ts = std::make_shared<txn_shard>(
                tp, coordinator::make_partition_host(host.partitions, metadata, tp, p->shard),
                writer_for(p->shard), config);
            next->push_back(std::move(p));
        }
        parts = std::move(next);
    }

    error_code ensure_topic() {
        auto snap = metadata.snapshot();
        if (const auto* t = snap->find_topic(kTxnTopic)) {
            adopt_topic(*t);
            return error_code::none;
        }
        cluster::new_topic nt;
        nt.name = kTxnTopic;
        nt.partitions =
            static_cast<int32_t>(config.get_int("transaction.state.log.num.partitions"));
        int64_t rf = config.get_int("transaction.state.log.replication.factor");
        int64_t brokers = static_cast<int64_t>(std::max<size_t>(snap->brokers.size(), 1));
        if (rf > brokers && snap->cluster_mode) {
            log->warn("{} needs transaction.state.log.replication.factor={} brokers; {} live",
                      kTxnTopic, rf, brokers);
            return error_code::coordinator_not_available;
        }
        if (rf > brokers) rf = brokers;
        nt.replication_factor = static_cast<int16_t>(rf);
        const int64_t min_isr = std::min(config.get_int("transaction.state.log.min.isr"), rf);
        nt.configs.set("cleanup.policy", "compact");
        nt.configs.set("compression.type", "uncompressed");
        nt.configs.set("min.insync.replicas", std::to_string(min_isr));
        nt.configs.set("segment.bytes",
                       std::to_string(config.get_int("transaction.state.log.segment.bytes")));
        nt.internal = true;
        auto r = metadata.create_topic(nt, false);
        if (!r && r.error().code != cluster::meta_errc::topic_exists) {
            log->error("cannot create {}: {}", kTxnTopic, r.error().message);
            return error_code::coordinator_not_available;
        }
        snap = metadata.snapshot();
        if (const auto* t = snap->find_topic(kTxnTopic)) {
            adopt_topic(*t);
            log->info("created {} with {} partitions", kTxnTopic, t->partitions.size());
            return error_code::none;
        }
        return error_code::coordinator_not_available;
    }

    std::shared_ptr<state_partition> partition_of(const std::string& id) {
        auto ps = partitions();
        if (ps->empty()) {
            if (ensure_topic() != error_code::none) return nullptr;
            ps = partitions();
            if (ps->empty()) return nullptr;
        }
        return (*ps)[coordinator::partition_for_group(id, static_cast<int32_t>(ps->size()))];
    }

    template <typename R, typename F>
    awaitable<R> on_partition(std::shared_ptr<state_partition> p, F f) {
        // GCC 12: a temporary with captures inside a co_await expression is destroyed twice;
        // the awaitable is built in its own statement.
        auto op = run_on<R>(*host.partitions.shards[p->shard],
                            [p, f = std::move(f)](std::function<void(R)> done) mutable {
                                f(*p->ts, std::move(done));
                            });
        co_return co_await std::move(op);
    }

    void tick(size_t shard) {
        auto ps = partitions();
        for (const auto& p : *ps)
            if (p->shard == shard) p->ts->tick();
    }

    void schedule_tick(size_t shard) {
        std::shared_ptr<boost::asio::steady_timer> t;
        {
            std::lock_guard lock(mu);
            if (shard >= tickers.size()) return;
            t = tickers[shard];
        }
        t->expires_after(std::chrono::milliseconds(100));
        t->async_wait([this, shard, stop = stopped](const boost::system::error_code& ec) {
            if (ec || stop->load()) return;
            tick(shard);
            schedule_tick(shard);
        });
    }
};

txn_coordinator::txn_coordinator(txn_host host, broker_config& config,
                                 cluster::metadata_store& metadata)
    : impl_(std::make_unique<impl>(std::move(host), config, metadata)) {}

txn_coordinator::~txn_coordinator() = default;

void txn_coordinator::start() {
    auto snap = impl_->metadata.snapshot();
    if (const auto* t = snap->find_topic(kTxnTopic)) impl_->adopt_topic(*t);
    {
        std::lock_guard lock(impl_->mu);
        impl_->tickers.clear();
        for (auto* s : impl_->host.partitions.shards)
            impl_->tickers.push_back(std::make_shared<boost::asio::steady_timer>(*s));
    }
    for (size_t i = 0; i < impl_->host.partitions.shards.size(); ++i)
        impl_->schedule_tick(i);
    auto all = impl_->partitions();
    for (const auto& p : *all)
        boost::asio::post(*impl_->host.partitions.shards[p->shard], [p] { (void)p->ts->ready(); });
}

void txn_coordinator::stop() {
    impl_->stopped->store(true);
    std::lock_guard lock(impl_->mu);
    for (size_t i = 0; i < impl_->tickers.size(); ++i)
        boost::asio::post(*impl_->host.partitions.shards[i],
                          [t = impl_->tickers[i]] { t->cancel(); });
}

error_code txn_coordinator::ensure_topic() {
    return impl_->ensure_topic();
}

int32_t txn_coordinator::partition_of(const std::string& id) {
    auto p = impl_->partition_of(id);
    return p ? p->id : -1;
}

awaitable<init_result> txn_coordinator::init_producer_id(std::string id, int32_t timeout_ms,
                                                         int64_t req_id, int16_t req_epoch,
                                                         int64_t fresh_id) {
    auto p = impl_->partition_of(id);
    if (!p) co_return init_result{error_code::coordinator_not_available};
    auto op = impl_->on_partition<init_result>(
        p, [id = std::move(id), timeout_ms, req_id, req_epoch, fresh_id](
               txn_shard& ts, std::function<void(init_result)> done) {
            ts.init_producer_id(id, timeout_ms, req_id, req_epoch, fresh_id, std::move(done));
        });
    co_return co_await std::move(op);
}

awaitable<error_code> txn_coordinator::add_partitions(std::string id, int64_t producer_id,
                                                      int16_t epoch,
                                                      std::vector<topic_partition> tps) {
    auto p = impl_->partition_of(id);
    if (!p) co_return error_code::coordinator_not_available;
    auto op = impl_->on_partition<error_code>(
        p, [id = std::move(id), producer_id, epoch, tps = std::move(tps)](
               txn_shard& ts, std::function<void(error_code)> done) mutable {
            ts.add_partitions(id, producer_id, epoch, std::move(tps), std::move(done));
        });
    co_return co_await std::move(op);
}

awaitable<error_code> txn_coordinator::end_txn(std::string id, int64_t producer_id, int16_t epoch,
                                               bool commit) {
    auto p = impl_->partition_of(id);
    if (!p) co_return error_code::coordinator_not_available;
    auto op = impl_->on_partition<error_code>(
        p, [id = std::move(id), producer_id, epoch, commit](txn_shard& ts,
                                                            std::function<void(error_code)> done) {
            ts.end_txn(id, producer_id, epoch, commit, std::move(done));
        });
    co_return co_await std::move(op);
}

awaitable<error_code> txn_coordinator::check_member(std::string id, int64_t producer_id,
                                                    int16_t epoch, topic_partition tp) {
    auto p = impl_->partition_of(id);
    if (!p) co_return error_code::coordinator_not_available;
    auto op = impl_->on_partition<error_code>(
        p, [id = std::move(id), producer_id, epoch, tp = std::move(tp)](
               txn_shard& ts, std::function<void(error_code)> done) {
            if (auto e = ts.ready(); e != error_code::none) return done(e);
            done(ts.check_member(id, producer_id, epoch, tp));
        });
    co_return co_await std::move(op);
}

awaitable<txn_coordinator::listing> txn_coordinator::list() {
    listing all;
    auto ps = impl_->partitions();
    for (const auto& p : *ps) {
        auto op =
            impl_->on_partition<listing>(p, [](txn_shard& ts, std::function<void(listing)> done) {
                listing out;
                auto e = ts.ready();
                if (e == error_code::coordinator_load_in_progress) out.error = e;
                if (ts.load_status() == txn_shard::status::loaded)
                    for (const auto& [id, md] : ts.transactions())
                        out.txns.push_back(txn_view{md, ts.busy(id)});
                done(std::move(out));
            });
        auto part = co_await std::move(op);
        if (part.error != error_code::none) all.error = part.error;
        for (auto& v : part.txns)
            all.txns.push_back(std::move(v));
    }
    std::sort(all.txns.begin(), all.txns.end(), [](const txn_view& a, const txn_view& b) {
        return a.md.transactional_id < b.md.transactional_id;
    });
    co_return all;
}

awaitable<std::pair<error_code, txn_view>> txn_coordinator::describe(std::string id) {
    using answer = std::pair<error_code, txn_view>;
    auto p = impl_->partition_of(id);
    if (!p) co_return answer{error_code::coordinator_not_available, {}};
    auto op = impl_->on_partition<answer>(
        p, [id = std::move(id)](txn_shard& ts, std::function<void(answer)> done) {
            if (auto e = ts.ready(); e != error_code::none) return done(answer{e, {}});
            auto it = ts.transactions().find(id);
            if (it == ts.transactions().end())
                return done(answer{error_code::transactional_id_not_found, {}});
            done(answer{error_code::none, txn_view{it->second, ts.busy(id)}});
        });
    co_return co_await std::move(op);
}

}  // namespace rill::txn
