#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"

namespace rill::broker {
namespace {

using presp =
    m::list_offsets_response::list_offsets_topic_response::list_offsets_partition_response;

constexpr int64_t kLatest = -1;
constexpr int64_t kEarliest = -2;
constexpr int64_t kMaxTimestamp = -3;
constexpr int64_t kEarliestLocal = -4;
constexpr int64_t kEarliestPendingUpload = -5;

struct item {
    presp* out = nullptr;
    std::shared_ptr<partition> part;
    int64_t timestamp = 0;
    int32_t current_leader_epoch = -1;
    // Lookups by timestamp (and -3): planned on the owner, run on the work pool, finished on
    // the owner again.
    std::optional<storage::partition_log::timestamp_lookup> lookup;
    storage::result<std::optional<storage::timestamp_hit>> found =
        std::optional<storage::timestamp_hit>{};
};

void answer(presp& out, int16_t v, int32_t leader_epoch, int64_t offset, int64_t ts) {
    out.leader_epoch = leader_epoch;
    if (v == 0) {
        if (offset >= 0) out.old_style_offsets.push_back(offset);
    } else {
        out.offset = offset;
        out.timestamp = ts;
    }
}

}  // namespace

// Earliest (-2), latest (-1: HWM, or LSO under read_committed), max timestamp (-3), earliest
// local (-4) and by timestamp; v0 answers with the offsets array.
task<m::list_offsets_response> handle_list_offsets(request_context& ctx,
                                                   m::list_offsets_request& req) {
    const int16_t v = ctx.api_version;
    auto& pm = ctx.b.partitions();
    auto snap = ctx.b.metadata().snapshot();
    bool read_committed = v >= 2 && req.isolation_level == 1;
    m::list_offsets_response resp;
    std::vector<item> items;
    for (const auto& t : req.topics) {
        auto& tout = resp.topics.emplace_back();
        tout.name = t.name;
        tout.partitions.resize(t.partitions.size());
    }
    for (size_t ti = 0; ti < req.topics.size(); ++ti) {
        const auto& t = req.topics[ti];
        const cluster::topic_info* topic = snap->find_topic(t.name);
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& rp = t.partitions[i];
            presp& out = resp.topics[ti].partitions[i];
            out.partition_index = rp.partition_index;
            auto part = topic ? pm.find({t.name, rp.partition_index}) : nullptr;
            if (!part) {
                out.error_code = wire(pm.missing_partition_error(
                    {t.name, rp.partition_index}, error_code::unknown_topic_or_partition));
                continue;
            }
            if (rp.timestamp < kEarliestPendingUpload || (rp.timestamp == kMaxTimestamp && v < 7)) {
                out.error_code = wire(error_code::invalid_request);
                continue;
            }
            items.push_back(
                {&out, std::move(part), rp.timestamp, v >= 4 ? rp.current_leader_epoch : -1});
        }
    }
    // Step 1, on the owners: everything but the file reads of lookups by timestamp.
    auto plan = [v, read_committed](partition& p, item& it) {
        presp& out = *it.out;
        if (p.log->offline()) {
            out.error_code = wire(error_code::kafka_storage_error);
            return;
        }
        if (!p.is_leader()) {
            out.error_code = wire(error_code::not_leader_or_follower);
            return;
        }
        if (auto e = check_leader_epoch(it.current_leader_epoch, p.leader_epoch());
            e != error_code::none) {
            out.error_code = wire(e);
            return;
        }
        auto& lg = *p.log;
        switch (it.timestamp) {
            case kLatest:
                answer(out, v, p.leader_epoch(),
                       read_committed ? lg.last_stable_offset() : lg.high_watermark(), -1);
                break;
            case kEarliest:
            case kEarliestLocal:
            case kEarliestPendingUpload:
                answer(out, v, p.leader_epoch(), lg.log_start_offset(), -1);
                break;
            case kMaxTimestamp:
                it.lookup = lg.plan_max_timestamp();
                break;
            default:
                it.lookup = lg.plan_offset_for_timestamp(it.timestamp);
        }
    };
    co_await pm.run_on_owners(items, plan);

    // Step 2, on the work pool: the preads and record scans (never on a shard).
    bool any_lookup = false;
    for (const auto& it : items)
        any_lookup = any_lookup || (it.lookup && !it.lookup->scans.empty());
    if (any_lookup) {
        auto scan_all = [&items] {
            for (auto& it : items)
                if (it.lookup && !it.lookup->scans.empty())
                    it.found = storage::partition_log::run_timestamp_lookup(*it.lookup);
            return 0;
        };
        co_await ctx.b.validation_pool().run(scan_all);
    }

    // Step 3, on the owners again: clamp to the log start and answer only with offsets a
    // client may fetch (below the high watermark, or the LSO under read_committed), as Kafka's
    // Partition.fetchOffsetForTimestamp does; otherwise no offset (-1).
    std::vector<item> lookups;
    for (auto& it : items)
        if (it.lookup) lookups.push_back(std::move(it));
    auto finish = [v, read_committed](partition& p, item& it) {
        presp& out = *it.out;
        if (!it.found) {
            out.error_code = wire(to_error_code(it.found.error().code));
            return;
        }
        auto& lg = *p.log;
        auto hit = lg.clamp_to_log_start(*it.found);
        const int64_t fetchable = read_committed ? lg.last_stable_offset() : lg.high_watermark();
        if (hit && hit->offset >= fetchable) hit.reset();
        answer(out, v, p.leader_epoch(), hit ? hit->offset : -1, hit ? hit->timestamp : -1);
    };
    co_await pm.run_on_owners(lookups, finish);
    co_return resp;
}

}  // namespace rill::broker
