#include "broker/group_host.h"

#include "broker/append.h"
#include "broker/errors.h"

namespace rill::broker {

namespace {

struct watermark_item {
    std::shared_ptr<partition> part;
    std::pair<int64_t, int64_t> marks{-1, -1};
};

// One coordinator write waiting to be committed: replicated to the ISR and, when asked,
// fsynced. Owner shard only; the first outcome answers.
struct commit_wait {
    explicit commit_wait(boost::asio::io_context& io) : timer(io) {}
    boost::asio::steady_timer timer;
    std::function<void(error_code)> done;
    bool replicated = false;
    bool durable = true;  // false while an fsync is awaited

    void finish(error_code e) {
        if (!done) return;
        auto d = std::move(done);
        done = nullptr;
        timer.cancel();
        d(e);
    }
    void progress() {
        if (replicated && durable) finish(error_code::none);
    }
};

// Runs `work` on a thread of `pool`.
boost::asio::awaitable<void> run_on_pool(work_pool& pool, std::function<void()> work) {
    auto call = [&work] {
        work();
        return true;
    };
    auto op = pool.run(call);
    co_await std::move(op);
}

// Runs `work` on the broker's metadata thread, in order with the broker's own store writes.
boost::asio::awaitable<void> run_store_write(broker& b, std::function<void()> work) {
    auto call = [&work] {
        work();
        return true;
    };
    auto op = b.store_write(call);
    co_await std::move(op);
}

}  // namespace

coordinator::coordinator_host make_group_host(partition_manager& pm, const broker_config& config,
                                              cluster::metadata_store& metadata, broker& b,
                                              std::string topic) {
    coordinator::coordinator_host h;
    // Both run from shard 0's executor, which only resumes the coroutine when the work is done.
    h.run_blocking = [&pm, &b](std::function<void()> work) {
        boost::asio::co_spawn(pm.shard(0), run_on_pool(b.validation_pool(), std::move(work)),
                              boost::asio::detached);
    };
    h.run_metadata_write = [&pm, &b](std::function<void()> work) {
        boost::asio::co_spawn(pm.shard(0), run_store_write(b, std::move(work)),
                              boost::asio::detached);
    };
    for (size_t i = 0; i < pm.shard_count(); ++i)
        h.shards.push_back(&pm.shard(i));
    // The offsets topic is written with acks=all (Kafka's coordinator does): its
    // min.insync.replicas applies to every append, and a write is committed once the whole
    // ISR has it.
    auto min_insync = [&config, &metadata, topic]() -> int32_t {
        auto snap = metadata.snapshot();
        const auto* t = snap->find_topic(topic);
        return t ? produce_rules(*t, config).min_insync : 1;
    };
    h.shard_of = [&pm](const storage::topic_partition& tp) { return pm.shard_of(tp); };
    h.log_of =
        [&pm](const storage::topic_partition& tp) -> std::shared_ptr<storage::partition_log> {
        auto p = pm.find(tp);
        if (!p || !p->is_leader()) return nullptr;
        return p->log;
    };
    h.leader_epoch_of = [&pm](const storage::topic_partition& tp) -> int32_t {
        auto p = pm.find(tp);
        return p && p->is_leader() ? p->leader_epoch() : -1;
    };
    h.append = [&pm, min_insync](const storage::topic_partition& tp,
                                 protocol::bytes& batch) -> result<int64_t, error_code> {
        auto p = pm.find(tp);
        if (!p) return unexpected(error_code::not_leader_or_follower);
        auto r = p->append(batch, wall_clock_ms(), min_insync());
        if (!r) return unexpected(r.error().code);
        return r->base_offset;
    };
    h.when_committed = [&pm, &config, min_insync](const storage::topic_partition& tp, int64_t end,
                                                  std::function<void(error_code)> done) {
        auto p = pm.find(tp);
        if (!p) return done(error_code::not_leader_or_follower);
        auto& io = pm.shard(p->shard);
        auto w = std::make_shared<commit_wait>(io);
        w->done = std::move(done);
        w->timer.expires_after(
            std::chrono::milliseconds(config.get_int("offsets.commit.timeout.ms")));
        w->timer.async_wait([w](const boost::system::error_code& ec) {
            if (!ec) w->finish(error_code::request_timed_out);
        });
        if (config.get_bool("rill.acks.all.fsync")) {
            w->durable = false;
            p->log->flush_up_to(end, [w, &io](const storage::status& st) {
                // Flusher callbacks may run on a flusher thread: back to the owner shard.
                const bool ok = static_cast<bool>(st);
                boost::asio::post(io, [w, ok] {
                    if (!ok) return w->finish(error_code::kafka_storage_error);
                    w->durable = true;
                    w->progress();
                });
            });
        }
        p->when_committed(end, min_insync(), [w](error_code e) {
            if (e != error_code::none) return w->finish(e);
            w->replicated = true;
            w->progress();
        });
    };
    h.watermarks = [&pm](std::vector<storage::topic_partition> tps)
        -> boost::asio::awaitable<std::vector<std::pair<int64_t, int64_t>>> {
        std::vector<watermark_item> items(tps.size());
        for (size_t i = 0; i < tps.size(); ++i)
            items[i].part = pm.find(tps[i]);
        co_await pm.run_on_owners(items, [](partition& p, watermark_item& it) {
            if (!p.removed()) it.marks = {p.log->log_start_offset(), p.log->high_watermark()};
        });
        std::vector<std::pair<int64_t, int64_t>> out;
        for (auto& it : items)
            out.push_back(it.marks);
        co_return out;
    };
    return h;
}

}  // namespace rill::broker
