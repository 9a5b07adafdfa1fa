#include "broker/group_host.h"

#include "broker/errors.h"

namespace rill::broker {

namespace {

struct watermark_item {
    std::shared_ptr<partition> part;
    std::pair<int64_t, int64_t> marks{-1, -1};
};

}  // namespace

coordinator::coordinator_host make_group_host(partition_manager& pm) {
    coordinator::coordinator_host h;
    for (size_t i = 0; i < pm.shard_count(); ++i)
        h.shards.push_back(&pm.shard(i));
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
    h.append = [&pm](const storage::topic_partition& tp,
                     protocol::bytes& batch) -> result<int64_t, error_code> {
        auto p = pm.find(tp);
        if (!p) return unexpected(error_code::not_leader_or_follower);
        auto r = p->append(batch, wall_clock_ms());  // wakes followers; single replica: committed
        if (!r) return unexpected(r.error().code);
        return r->base_offset;
    };
    h.when_replicated = [&pm](const storage::topic_partition& tp, int64_t offset,
                              std::function<void(error_code)> done) {
        auto p = pm.find(tp);
        if (!p) return done(error_code::not_leader_or_follower);
        p->when_committed(offset, 1, std::move(done));
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
