#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"

namespace rill::broker {
namespace {

using presp =
    m::delete_records_response::delete_records_topic_result::delete_records_partition_result;

struct item {
    presp* out = nullptr;
    std::shared_ptr<partition> part;
    int64_t offset = 0;
};

}  // namespace

// Advances the log start offset (offset -1 means the high watermark).
task<m::delete_records_response> handle_delete_records(request_context& ctx,
                                                       m::delete_records_request& req) {
    auto& pm = ctx.b.partitions();
    m::delete_records_response resp;
    std::vector<item> items;
    for (const auto& t : req.topics) {
        auto& tout = resp.topics.emplace_back();
        tout.name = t.name;
        tout.partitions.resize(t.partitions.size());
    }
    for (size_t ti = 0; ti < req.topics.size(); ++ti) {
        const auto& t = req.topics[ti];
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            presp& out = resp.topics[ti].partitions[i];
            out.partition_index = t.partitions[i].partition_index;
            out.low_watermark = -1;
            auto part = pm.find({t.name, out.partition_index});
            if (!part) {
                out.error_code = wire(pm.missing_partition_error(
                    {t.name, out.partition_index}, error_code::unknown_topic_or_partition));
                continue;
            }
            items.push_back({&out, std::move(part), t.partitions[i].offset});
        }
    }
    int64_t now = wall_clock_ms();
    co_await pm.run_on_owners(items, [now](partition& p, item& it) {
        if (p.log->offline()) {
            it.out->error_code = wire(error_code::kafka_storage_error);
            return;
        }
        if (!p.is_leader()) {
            it.out->error_code = wire(error_code::not_leader_or_follower);
            return;
        }
        int64_t target = it.offset == -1 ? p.log->high_watermark() : it.offset;
        if (target < 0) {
            it.out->error_code = wire(error_code::offset_out_of_range);
            return;
        }
        auto r = p.log->delete_records(target, now);
        if (!r) {
            it.out->error_code = wire(to_error_code(r.error().code));
            return;
        }
        it.out->low_watermark = *r;
    });
    co_return resp;
}

}  // namespace rill::broker
