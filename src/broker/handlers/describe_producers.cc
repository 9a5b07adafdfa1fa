#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"

namespace rill::broker {
namespace {

using presp = m::describe_producers_response::topic_response::partition_response;

struct item {
    presp* out = nullptr;
    std::shared_ptr<partition> part;
};

}  // namespace

// The idempotent producers each partition knows: id, epoch, last sequence and timestamp, and
// the first offset of the open transaction (-1 when none).
task<m::describe_producers_response> handle_describe_producers(request_context& ctx,
                                                               m::describe_producers_request& req) {
    auto& pm = ctx.b.partitions();
    m::describe_producers_response resp;
    std::vector<item> items;
    for (const auto& t : req.topics) {
        auto& tout = resp.topics.emplace_back();
        tout.name = t.name;
        tout.partitions.resize(t.partition_indexes.size());
    }
    for (size_t ti = 0; ti < req.topics.size(); ++ti) {
        const auto& t = req.topics[ti];
        for (size_t i = 0; i < t.partition_indexes.size(); ++i) {
            presp& out = resp.topics[ti].partitions[i];
            out.partition_index = t.partition_indexes[i];
            auto part = pm.find({t.name, out.partition_index});
            if (!part) {
                out.error_code = wire(error_code::unknown_topic_or_partition);
                continue;
            }
            items.push_back({&out, std::move(part)});
        }
    }
    co_await pm.run_on_owners(items, [](partition& p, item& it) {
        if (!p.is_leader()) {
            it.out->error_code = wire(error_code::not_leader_or_follower);
            return;
        }
        for (const auto& [id, e] : p.log->producers().all()) {
            presp::producer_state ps;
            ps.producer_id = id;
            ps.producer_epoch = e.epoch;
            ps.last_sequence = e.batches.empty() ? -1 : e.batches.back().last_seq;
            ps.last_timestamp = e.last_timestamp;
            ps.coordinator_epoch = -1;
            ps.current_txn_start_offset = e.txn_first_offset;  // -1 when none is open
            it.out->active_producers.push_back(ps);
        }
    });
    co_return resp;
}

}  // namespace rill::broker
