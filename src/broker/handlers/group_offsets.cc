// OffsetCommit, OffsetFetch and OffsetDelete: request normalization and response shaping per
// version; the offsets themselves are coordinator::group_coordinator's.
#include <set>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "coordinator/group_coordinator.h"

namespace rill::broker {

task<m::offset_commit_response> handle_offset_commit(request_context& ctx,
                                                     m::offset_commit_request& req) {
    const int16_t v = ctx.api_version;
    if (v < 1) req.generation_id_or_member_epoch = -1;  // v0: simple (offsets-only) commits
    // v2-4 carry a retention time (-1: the broker's offsets.retention.minutes); others none.
    if (v < 2 || v > 4) req.retention_time_ms = -1;
    if (v < 6)  // the leader epoch of the committed offset exists from v6 on
        for (auto& t : req.topics)
            for (auto& p : t.partitions)
                p.committed_leader_epoch = -1;
    coordinator::commit_options opts;
    opts.consumer_protocol = v >= 9;  // KIP-848 members commit with v9+
    auto op = ctx.b.groups().offset_commit(std::move(req), opts);
    co_return co_await std::move(op);
}

namespace {

// OffsetFetch v7+ with require_stable: a partition whose transactional offsets are pending
// answers UNSTABLE_OFFSET_COMMIT (retriable) instead of an offset that may change.
template <typename Topics>
void mark_unstable(Topics& topics, const std::set<storage::topic_partition>& pending) {
    if (pending.empty()) return;
    for (auto& t : topics)
        for (auto& part : t.partitions)
            if (pending.count({t.name, part.partition_index})) {
                part.committed_offset = -1;
                part.error_code = wire(error_code::unstable_offset_commit);
            }
}

}  // namespace

task<m::offset_fetch_response> handle_offset_fetch(request_context& ctx,
                                                   m::offset_fetch_request& req) {
    const int16_t v = ctx.api_version;
    using topics_t = coordinator::group_coordinator::fetch_topics;
    m::offset_fetch_response resp;
    if (v >= 8) {  // KIP-709: several groups per request
        for (auto& g : req.groups) {
            topics_t topics;
            if (g.topics) {
                topics.emplace();
                for (auto& t : *g.topics)
                    topics->emplace_back(t.name, t.partition_indexes);
            }
            // v9 (KIP-848): a consumer-protocol member names itself and its epoch.
            std::optional<std::string> member_id;
            int32_t member_epoch = -1;
            if (v >= 9) {
                member_id = g.member_id;
                member_epoch = g.member_epoch;
            }
            auto op = ctx.b.groups().offset_fetch(g.group_id, std::move(topics),
                                                  std::move(member_id), member_epoch);
            resp.groups.push_back(co_await std::move(op));
            if (req.require_stable) {
                auto pending_op = ctx.b.groups().pending_txn_partitions(g.group_id);
                auto pending = co_await std::move(pending_op);
                mark_unstable(resp.groups.back().topics, pending);
            }
        }
        co_return resp;
    }
    // v0-1 always name the partitions; from v2 a null topic list means all.
    topics_t topics;
    if (req.topics || v < 2) {
        topics.emplace();
        if (req.topics)
            for (auto& t : *req.topics)
                topics->emplace_back(t.name, t.partition_indexes);
    }
    auto op = ctx.b.groups().offset_fetch(req.group_id, topics);
    auto g = co_await std::move(op);
    if (v >= 7 && req.require_stable) {
        auto pending_op = ctx.b.groups().pending_txn_partitions(req.group_id);
        auto pending = co_await std::move(pending_op);
        mark_unstable(g.topics, pending);
    }
    if (v >= 2) {
        resp.error_code = g.error_code;
    } else if (g.error_code != 0 && topics) {
        // v0-1 have no top-level error: every requested partition carries it.
        for (auto& [name, parts] : *topics) {
            auto& t = resp.topics.emplace_back();
            t.name = name;
            for (int32_t part : parts) {
                auto& po = t.partitions.emplace_back();
                po.partition_index = part;
                po.committed_offset = -1;
                po.metadata = "";
                po.error_code = g.error_code;
            }
        }
        co_return resp;
    }
    for (auto& t : g.topics) {
        auto& tout = resp.topics.emplace_back();
        tout.name = std::move(t.name);
        for (auto& part : t.partitions) {
            auto& po = tout.partitions.emplace_back();
            po.partition_index = part.partition_index;
            po.committed_offset = part.committed_offset;
            po.committed_leader_epoch = part.committed_leader_epoch;
            po.metadata = std::move(part.metadata);
            po.error_code = part.error_code;
        }
    }
    co_return resp;
}

task<m::offset_delete_response> handle_offset_delete(request_context& ctx,
                                                     m::offset_delete_request& req) {
    auto op = ctx.b.groups().offset_delete(std::move(req));
    co_return co_await std::move(op);
}

}  // namespace rill::broker
