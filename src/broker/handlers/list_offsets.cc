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
};

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
                out.error_code = wire(error_code::unknown_topic_or_partition);
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
    co_await pm.run_on_owners(items, [v, read_committed](partition& p, item& it) {
        presp& out = *it.out;
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
        // What a consumer may read: a lookup by timestamp never answers beyond it (Kafka's
        // fetchOffsetForTimestamp filters the hit against the HWM, or the LSO under
        // read_committed).
        const int64_t visible = read_committed ? lg.last_stable_offset() : lg.high_watermark();
        int64_t offset = -1, ts = -1;
        switch (it.timestamp) {
            case kLatest:
                offset = visible;
                break;
            case kEarliest:
            case kEarliestLocal:
            case kEarliestPendingUpload:
                offset = lg.log_start_offset();
                break;
            case kMaxTimestamp: {
                auto hit = lg.max_timestamp();
                offset = hit.offset;
                ts = hit.timestamp;
                break;
            }
            default: {
                auto hit = lg.offset_for_timestamp(it.timestamp);
                if (!hit) {
                    out.error_code = wire(to_error_code(hit.error().code));
                    return;
                }
                if (*hit) {
                    offset = (*hit)->offset;
                    ts = (*hit)->timestamp;
                }
            }
        }
        if ((it.timestamp == kMaxTimestamp || it.timestamp >= 0) && offset >= visible) {
            offset = -1;  // the hit is not committed yet: no such offset
            ts = -1;
        }
        out.leader_epoch = p.leader_epoch();
        if (v == 0) {
            if (offset >= 0) out.old_style_offsets.push_back(offset);
        } else {
            out.offset = offset;
            out.timestamp = ts;
        }
    });
    co_return resp;
}

}  // namespace rill::broker
