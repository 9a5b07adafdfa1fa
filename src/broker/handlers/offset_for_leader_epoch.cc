#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"

namespace rill::broker {
namespace {

using presp = m::offset_for_leader_epoch_response::offset_for_leader_topic_result::epoch_end_offset;

struct item {
    presp* out = nullptr;
    std::shared_ptr<partition> part;
    int32_t current_leader_epoch = -1;
    int32_t leader_epoch = 0;
};

}  // namespace

// For each partition: the largest epoch <= the requested one and its end offset (KIP-320),
// answered by the leader only.
task<m::offset_for_leader_epoch_response> handle_offset_for_leader_epoch(
    request_context& ctx, m::offset_for_leader_epoch_request& req) {
    auto& pm = ctx.b.partitions();
    m::offset_for_leader_epoch_response resp;
    std::vector<item> items;
    for (const auto& t : req.topics) {
        auto& tout = resp.topics.emplace_back();
        tout.topic = t.topic;
        tout.partitions.resize(t.partitions.size());
    }
    for (size_t ti = 0; ti < req.topics.size(); ++ti) {
        const auto& t = req.topics[ti];
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            const auto& rp = t.partitions[i];
            presp& out = resp.topics[ti].partitions[i];
            out.partition = rp.partition;
            auto part = pm.find({t.topic, rp.partition});
            if (!part) {
                out.error_code = wire(pm.missing_partition_error(
                    {t.topic, rp.partition}, error_code::unknown_topic_or_partition));
                continue;
            }
            items.push_back({&out, std::move(part),
                             ctx.api_version >= 2 ? rp.current_leader_epoch : -1, rp.leader_epoch});
        }
    }
    co_await pm.run_on_owners(items, [](partition& p, item& it) {
        if (p.log->offline()) {
            it.out->error_code = wire(error_code::kafka_storage_error);
            return;
        }
        if (!p.is_leader()) {
            it.out->error_code = wire(error_code::not_leader_or_follower);
            return;
        }
        if (auto e = check_leader_epoch(it.current_leader_epoch, p.leader_epoch());
            e != error_code::none) {
            it.out->error_code = wire(e);
            return;
        }
        if (it.leader_epoch > p.leader_epoch()) return;  // unknown epoch: -1 / -1
        // Kafka's answer (KIP-101/279): the largest epoch <= the requested one and where it
        // ends; a follower truncates its divergent tail there.
        const auto r = p.log->offset_for_leader_epoch(it.leader_epoch);
        it.out->leader_epoch = r.leader_epoch;
        it.out->end_offset = r.end_offset;
    });
    co_return resp;
}

}  // namespace rill::broker
