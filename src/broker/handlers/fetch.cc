#include <map>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"

namespace rill::broker {
namespace {

using tresp = m::fetch_response::fetchable_topic_response;
using presp = tresp::partition_data;

struct fetch_item {
    presp* out = nullptr;
    std::shared_ptr<partition> part;
    int64_t offset = 0;
    int32_t current_leader_epoch = -1;
    size_t max_bytes = 0;
    size_t bytes = 0;  // read in the latest pass
};

constexpr int32_t kReadCommitted = 1;

// Reads every item on its owner shard. With `waiter`, partitions that had nothing new
// register it, so an append wakes the fetch.
boost::asio::awaitable<void> read_all(partition_manager& pm, std::vector<fetch_item>& items,
                                      bool read_committed, bool follower,
                                      std::shared_ptr<latch> waiter) {
    co_await pm.run_on_owners(items, [waiter, read_committed, follower](partition& p,
                                                                        fetch_item& it) {
        presp& out = *it.out;
        it.bytes = 0;
        if (p.removed) {
            out.error_code = wire(error_code::not_leader_or_follower);
            return;
        }
        auto& lg = *p.log;
        if (it.current_leader_epoch >= 0 && it.current_leader_epoch != p.leader_epoch) {
            out.error_code = wire(it.current_leader_epoch > p.leader_epoch
                                      ? error_code::unknown_leader_epoch
                                      : error_code::fenced_leader_epoch);
            return;
        }
        out.high_watermark = lg.high_watermark();
        out.last_stable_offset = lg.last_stable_offset();
        out.log_start_offset = lg.log_start_offset();
        int64_t upper = follower         ? lg.log_end_offset()
                        : read_committed ? out.last_stable_offset
                                         : out.high_watermark;
        auto r = lg.read(it.offset, it.max_bytes, upper);
        if (!r) {
            out.error_code = wire(to_error_code(r.error().code));
            return;
        }
        out.error_code = 0;
        it.bytes = r->bytes;
        out.records = protocol::record_data::from_regions(std::move(r->regions));
        if (it.bytes == 0 && waiter) p.add_waiter(waiter);
    });
}

}  // namespace

// Sessionless fetch (KIP-227 sessions are answered with session id 0: none created), long
// polling woken by appends, whole batches served from the page cache with sendfile.
task<m::fetch_response> handle_fetch(request_context& ctx, m::fetch_request& req) {
    const int16_t v = ctx.api_version;
    auto& pm = ctx.b.partitions();
    auto snap = ctx.b.metadata().snapshot();
    m::fetch_response resp;
    resp.session_id = 0;
    if (req.session_id != 0 || req.session_epoch > 0) {
        // We never create sessions, so any session id is unknown.
        resp.error_code = wire(error_code::fetch_session_id_not_found);
        co_return resp;
    }
    bool read_committed = v >= 4 && req.isolation_level == kReadCommitted;
    int32_t replica = v >= 15 ? req.replica_state.replica_id : req.replica_id;
    bool follower = replica >= 0;

    std::vector<fetch_item> items;
    size_t n = 0;
    for (const auto& t : req.topics) n += t.partitions.size();
    items.reserve(n);
    resp.responses.reserve(req.topics.size());
    for (const auto& t : req.topics) {
        auto& tout = resp.responses.emplace_back();
        const cluster::topic_info* topic = nullptr;
        if (v >= 13) {
            tout.topic_id = t.topic_id;
            topic = snap->find_topic(t.topic_id);
        } else {
            tout.topic = t.topic;
            topic = snap->find_topic(t.topic);
        }
        tout.partitions.resize(t.partitions.size());
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& fp = t.partitions[i];
            presp& out = tout.partitions[i];
            out.partition_index = fp.partition;
            out.high_watermark = -1;
            out.last_stable_offset = -1;
            out.log_start_offset = -1;
            out.preferred_read_replica = -1;
            out.records = protocol::record_data::from_bytes({});
            if (read_committed) out.aborted_transactions.emplace();
            if (!topic) {
                out.error_code = wire(v >= 13 ? error_code::unknown_topic_id
                                              : error_code::unknown_topic_or_partition);
                continue;
            }
            auto part = pm.find({topic->name, fp.partition});
            if (!part) {
                out.error_code = wire(fp.partition >= 0 &&
                                              fp.partition < static_cast<int32_t>(topic->partitions.size())
                                          ? error_code::not_leader_or_follower
                                          : error_code::unknown_topic_or_partition);
                continue;
            }
            fetch_item it;
            it.out = &out;
            it.part = std::move(part);
            it.offset = fp.fetch_offset;
            it.current_leader_epoch = v >= 9 ? fp.current_leader_epoch : -1;
            it.max_bytes = static_cast<size_t>(std::max(fp.partition_max_bytes, 0));
            items.push_back(std::move(it));
        }
    }

    auto ex = co_await boost::asio::this_coro::executor;
    bool may_wait = req.max_wait_ms > 0 && req.min_bytes > 0;
    auto waiter = may_wait ? latch::make(ex, 1) : nullptr;
    co_await read_all(pm, items, read_committed, follower, waiter);
    auto total = [&] {
        size_t b = 0;
        for (const auto& it : items) b += it.bytes;
        return b;
    };
    bool errors = false;
    for (const auto& it : items) errors |= it.out->error_code != 0;
    if (may_wait && !errors && total() < static_cast<size_t>(req.min_bytes)) {
        co_await waiter->wait(std::chrono::milliseconds(req.max_wait_ms));
        waiter->finish();
        co_await read_all(pm, items, read_committed, follower, nullptr);
    } else if (waiter) {
        waiter->finish();
    }

    // Response-wide max_bytes (v3+), a soft limit: in request order, the first partition with
    // data always gets its batches; later ones are dropped once the limit is reached.
    size_t limit = v >= 3 ? static_cast<size_t>(std::max(req.max_bytes, 0)) : SIZE_MAX;
    size_t used = 0;
    for (auto& it : items) {
        if (it.bytes == 0) continue;
        if (used > 0 && used + it.bytes > limit) {
            it.out->records = protocol::record_data::from_bytes({});
            continue;
        }
        used += it.bytes;
    }
    co_return resp;
}

}  // namespace rill::broker
