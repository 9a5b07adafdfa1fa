#include <algorithm>
#include <map>
#include <set>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/fetch_down_convert.h"
#include "broker/fetch_session_update.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"
#include "common/metrics.h"

namespace rill::broker {
namespace {

using tresp = m::fetch_response::fetchable_topic_response;
using presp = tresp::partition_data;

struct fetch_item {
    std::string topic;
    protocol::uuid topic_id;
    presp out;
    session_partition* sp = nullptr;
    std::shared_ptr<partition> part;
    int64_t offset = 0;
    int32_t current_leader_epoch = -1;
    size_t max_bytes = 0;
    size_t bytes = 0;  // read in the latest pass
};

constexpr int32_t kReadCommitted = 1;

// Reads every item on its owner shard. With `waiter`, partitions that had nothing new
// register it, so an append wakes the fetch.
// `replica` is the fetching follower's broker id, or -1 for a consumer.
boost::asio::awaitable<void> read_all(partition_manager& pm, std::vector<fetch_item>& items,
                                      bool read_committed, int32_t replica,
                                      std::shared_ptr<latch> waiter) {
    // GCC 12 destroys a lambda's captures twice when the lambda is a temporary inside a
    // co_await expression (the shared_ptr here): build the awaitable in its own statement.
    const bool follower = replica >= 0;
    auto read_one = [waiter, read_committed, follower, replica, &pm](partition& p, fetch_item& it) {
        presp& out = it.out;
        it.bytes = 0;
        // Only the leader serves fetches, consumers' and followers' alike.
        if (!p.is_leader()) {
            out.error_code = wire(error_code::not_leader_or_follower);
            return;
        }
        auto& lg = *p.log;
        if (auto e = check_leader_epoch(it.current_leader_epoch, p.leader_epoch());
            e != error_code::none) {
            out.error_code = wire(e);
            return;
        }
        // Only a broker of the replica set fetches as a follower; a consumer claiming a
        // replica id is refused as Kafka refuses an unknown replica (UNKNOWN_LEADER_EPOCH when
        // the request names the current epoch, else NOT_LEADER_OR_FOLLOWER) and moves nothing.
        if (follower) {
            const auto& replicas = p.replicas();
            if (replica == p.self ||
                std::find(replicas.begin(), replicas.end(), replica) == replicas.end()) {
                out.error_code =
                    wire(it.current_leader_epoch >= 0 ? error_code::unknown_leader_epoch
                                                      : error_code::not_leader_or_follower);
                return;
            }
            // Its fetch offset is its log end: it moves the high watermark and the ISR.
            pm.on_follower_fetch(p, replica, it.offset, wall_clock_ms());
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
        // read_committed: the aborted transactions overlapping what is returned, by first
        // offset, so the client drops their batches (KAFKA-COMPAT.md §2.9).
        if (read_committed && !follower && r->last_offset >= 0) {
            auto aborted = lg.producers().aborted_between(it.offset, r->last_offset + 1);
            if (!out.aborted_transactions) out.aborted_transactions.emplace();
            for (const auto& a : aborted) {
                auto& at = out.aborted_transactions->emplace_back();
                at.producer_id = a.producer_id;
                at.first_offset = a.first_offset;
            }
        }
        out.records = protocol::record_data::from_regions(std::move(r->regions));
        if (it.bytes == 0 && waiter) p.add_waiter(waiter);
    };
    auto reads = pm.run_on_owners(items, read_one);
    co_await std::move(reads);
}

}  // namespace

// Fetch with long polling woken by appends and whole batches served from the page cache with
// sendfile; sessionless or in an incremental fetch session (fetch_session.h).
task<m::fetch_response> handle_fetch(request_context& ctx, m::fetch_request& req) {
    const int16_t v = ctx.api_version;
    auto& pm = ctx.b.partitions();
    auto& sessions = ctx.b.fetch_sessions();
    auto snap = ctx.b.metadata().snapshot();
    m::fetch_response resp;
    bool read_committed = v >= 4 && req.isolation_level == kReadCommitted;
    int32_t replica = v >= 15 ? req.replica_state.replica_id : req.replica_id;
    int64_t now = wall_clock_ms();

    // Session handling (fetch_session_update.h; v7+, older versions are always sessionless).
    const bool privileged =
        replica >= 0 && replica != ctx.b.node_id() && snap->brokers.contains(replica);
    session_open opened = open_fetch_session(sessions, req, v, now, privileged);
    if (opened.error != error_code::none) {
        resp.error_code = wire(opened.error);
        co_return resp;
    }
    fetch_session_cache::lease session = std::move(opened.session);
    const bool incremental = opened.incremental;

    std::vector<fetch_item> items;
    std::set<std::pair<std::string, int32_t>> named;  // partitions this request names
    auto lookup = [&](const m::fetch_request::fetch_topic& t) -> const cluster::topic_info* {
        return v >= 13 ? snap->find_topic(t.topic_id) : snap->find_topic(t.topic);
    };
    auto add_item = [&](const cluster::topic_info* topic, const std::string& name,
                        const protocol::uuid& id, int32_t partition, int64_t offset,
                        int32_t leader_epoch, int32_t max_bytes, session_partition* sp) {
        fetch_item it;
        it.topic = topic ? topic->name : name;
        it.topic_id = topic ? topic->id : id;
        it.out.partition_index = partition;
        it.out.high_watermark = -1;
        it.out.last_stable_offset = -1;
        it.out.log_start_offset = -1;
        it.out.preferred_read_replica = -1;
        it.out.records = protocol::record_data::from_bytes({});
        if (read_committed) it.out.aborted_transactions.emplace();
        it.offset = offset;
        it.current_leader_epoch = v >= 9 ? leader_epoch : -1;
        it.max_bytes = static_cast<size_t>(std::max(max_bytes, 0));
        it.sp = sp;
        if (!topic) {
            it.out.error_code = wire(v >= 13 ? error_code::unknown_topic_id
                                             : error_code::unknown_topic_or_partition);
        } else if (!(it.part = pm.find({topic->name, partition}))) {
            bool exists =
                partition >= 0 && partition < static_cast<int32_t>(topic->partitions.size());
            it.out.error_code =
                wire(exists ? pm.missing_partition_error({topic->name, partition},
                                                         error_code::not_leader_or_follower)
                            : error_code::unknown_topic_or_partition);
        }
        items.push_back(std::move(it));
    };

    if (session) {
        auto update = update_fetch_session(
            sessions, *session, req,
            [&](const std::string& name, const protocol::uuid& id) {
                return v >= 13 ? snap->find_topic(id) : snap->find_topic(name);
            },
            now);
        if (update.removed) {
            resp.error_code = wire(error_code::fetch_session_id_not_found);
            co_return resp;
        }
        for (const auto& u : update.once)
            add_item(u.info, u.topic->topic, u.topic->topic_id, u.partition->partition,
                     u.partition->fetch_offset, u.partition->current_leader_epoch,
                     u.partition->partition_max_bytes, nullptr);
        named = std::move(update.named);
        for (auto& [key, sp] : session->partitions) {
            const cluster::topic_info* topic = snap->find_topic(key.first);
            add_item(topic, key.first, sp.topic_id, key.second, sp.fetch_offset,
                     sp.current_leader_epoch, sp.max_bytes, &sp);
        }
    } else {
        for (const auto& t : req.topics)
            for (const auto& fp : t.partitions)
                add_item(lookup(t), t.topic, t.topic_id, fp.partition, fp.fetch_offset,
                         fp.current_leader_epoch, fp.partition_max_bytes, nullptr);
    }

    auto ex = co_await boost::asio::this_coro::executor;
    bool may_wait = req.max_wait_ms > 0 && req.min_bytes > 0;
    auto waiter = may_wait ? latch::make(ex, 1) : nullptr;
    auto first_read = read_all(pm, items, read_committed, replica, waiter);
    co_await std::move(first_read);
    size_t total = 0;
    bool errors = false;
    for (const auto& it : items) {
        total += it.bytes;
        errors |= it.out.error_code != 0;
    }
    if (may_wait && !errors && total < static_cast<size_t>(req.min_bytes)) {
        co_await waiter->wait(std::chrono::milliseconds(req.max_wait_ms));
        waiter->finish();
        auto reread = read_all(pm, items, read_committed, replica, nullptr);
        co_await std::move(reread);
    } else if (waiter) {
        waiter->finish();
    }

    // Which partitions go in the response: all for a full fetch; for an incremental one only
    // those with records, errors, changed watermarks, or named in this request.
    std::vector<fetch_item*> included;
    for (auto& it : items) {
        bool include = !incremental || it.bytes > 0 || it.out.error_code != 0 || !it.sp ||
                       named.contains({it.topic, it.out.partition_index}) ||
                       it.sp->last_hwm != it.out.high_watermark ||
                       it.sp->last_lso != it.out.last_stable_offset ||
                       it.sp->last_log_start != it.out.log_start_offset;
        if (!include) continue;
        if (it.sp) {
            it.sp->last_hwm = it.out.high_watermark;
            it.sp->last_lso = it.out.last_stable_offset;
            it.sp->last_log_start = it.out.log_start_offset;
        }
        included.push_back(&it);
    }
    if (session) {
        resp.session_id = session->id;
        finish_fetch_session(*session, req, incremental);
    }

    // Response-wide max_bytes (v3+), a soft limit: in order, the first partition with data
    // always gets its batches; later ones are dropped once the limit is reached.
    size_t limit = v >= 3 ? static_cast<size_t>(std::max(req.max_bytes, 0)) : SIZE_MAX;

    // v0-v3 carry only magic 0/1 message sets (fetch_down_convert.h).
    if (v <= 3) {
        std::vector<down_convert_job> jobs;
        for (fetch_item* it : included) {
            if (it->out.error_code != 0) continue;
            const cluster::topic_info* topic = snap->find_topic(it->topic);
            if (topic && topic_config_value("message.downconversion.enable", topic->configs,
                                            ctx.b.config()) == "false") {
                it->out.error_code = wire(error_code::unsupported_version);
                it->out.records = protocol::record_data::from_bytes({});
                it->bytes = 0;
                continue;
            }
            if (it->bytes > 0)
                jobs.push_back({&it->out.records, &it->out.error_code, it->offset, it->max_bytes});
        }
        auto conversion =
            down_convert_fetch(ctx.b.validation_pool(), ctx.conn.budget, v, limit, jobs);
        co_await std::move(conversion);
        for (fetch_item* it : included)
            it->bytes = it->out.records.size();
        limit = SIZE_MAX;  // applied by the conversion
    }
    size_t used = 0;
    for (fetch_item* it : included) {
        if (it->bytes == 0) continue;
        if (used > 0 && used + it->bytes > limit) {
            it->out.records = protocol::record_data::from_bytes({});
            continue;
        }
        used += it->bytes;
    }
    // BrokerTopicMetrics: one fetch request per topic named, bytes per partition served.
    // Unknown topics get no counters (bounded cardinality).
    {
        auto& reg = metrics::registry::global();
        const std::string* last_topic = nullptr;
        for (const fetch_item& it : items) {
            if (!snap->find_topic(it.topic)) continue;
            auto& counters = reg.topic(it.topic);
            if (!last_topic || *last_topic != it.topic) counters.total_fetch.add();
            last_topic = &it.topic;
            if (it.out.error_code != 0) counters.failed_fetch.add();
        }
        for (const fetch_item* it : included)
            if (it->out.records.size() > 0 && snap->find_topic(it->topic))
                reg.topic(it->topic).bytes_out.add(it->out.records.size());
    }
    for (fetch_item* it : included) {
        if (resp.responses.empty() || resp.responses.back().topic != it->topic ||
            resp.responses.back().topic_id != it->topic_id) {
            auto& t = resp.responses.emplace_back();
            t.topic = it->topic;
            t.topic_id = it->topic_id;
        }
        resp.responses.back().partitions.push_back(std::move(it->out));
    }
    co_return resp;
}

}  // namespace rill::broker
