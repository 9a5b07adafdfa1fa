// Cluster administration: partition reassignment (AlterPartitionReassignments,
// ListPartitionReassignments) and leader elections (ElectLeaders). The metadata store's
// controller carries them out (cluster/zk_store.h); a single node answers with the store's
// errors (nothing to move, nothing to elect).
#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"

namespace rill::broker {

namespace {
constexpr int8_t kPreferredElection = 0;
}  // namespace

task<m::alter_partition_reassignments_response> handle_alter_partition_reassignments(
    request_context& ctx, m::alter_partition_reassignments_request& req) {
    m::alter_partition_reassignments_response resp;
    for (const auto& t : req.topics) {
        auto& tout = resp.responses.emplace_back();
        tout.name = t.name;
        for (const auto& p : t.partitions) {
            auto& pout = tout.partitions.emplace_back();
            pout.partition_index = p.partition_index;
            // A null replica list cancels the partition's ongoing reassignment.
            auto write = [&] {
                return ctx.b.metadata().reassign_partition(
                    t.name, p.partition_index, p.replicas.value_or(std::vector<int32_t>{}));
            };
            auto op = ctx.b.store_write(write);
            auto r = co_await std::move(op);
            if (!r) {
                pout.error_code = wire(to_error_code(r.error().code));
                pout.error_message = r.error().message;
            }
        }
    }
    co_return resp;
}

task<m::list_partition_reassignments_response> handle_list_partition_reassignments(
    request_context& ctx, m::list_partition_reassignments_request& req) {
    m::list_partition_reassignments_response resp;
    auto snap = ctx.b.metadata().snapshot();
    auto add = [&](const cluster::topic_info& t, const cluster::partition_info& p) {
        if (p.adding_replicas.empty() && p.removing_replicas.empty()) return;
        if (resp.topics.empty() || resp.topics.back().name != t.name)
            resp.topics.emplace_back().name = t.name;
        auto& out = resp.topics.back().partitions.emplace_back();
        out.partition_index = p.id;
        out.replicas = p.replicas;
        out.adding_replicas = p.adding_replicas;
        out.removing_replicas = p.removing_replicas;
    };
    if (!req.topics) {
        for (const auto& [name, t] : snap->topics)
            for (const auto& p : t.partitions)
                add(t, p);
        co_return resp;
    }
    for (const auto& rt : *req.topics) {
        const cluster::topic_info* t = snap->find_topic(rt.name);
        if (!t) continue;  // Kafka lists only ongoing reassignments; unknown ones are skipped
        for (int32_t idx : rt.partition_indexes)
            if (idx >= 0 && idx < static_cast<int32_t>(t->partitions.size()))
                add(*t, t->partitions[static_cast<size_t>(idx)]);
    }
    co_return resp;
}

task<m::elect_leaders_response> handle_elect_leaders(request_context& ctx,
                                                     m::elect_leaders_request& req) {
    m::elect_leaders_response resp;
    auto snap = ctx.b.metadata().snapshot();
    const int8_t type = ctx.api_version >= 1 ? req.election_type : kPreferredElection;
    std::vector<std::pair<std::string, int32_t>> targets;
    if (!req.topic_partitions) {  // null: every partition
        for (const auto& [name, t] : snap->topics)
            for (const auto& p : t.partitions)
                targets.emplace_back(name, p.id);
    } else {
        for (const auto& tp : *req.topic_partitions)
            for (int32_t p : tp.partitions)
                targets.emplace_back(tp.topic, p);
    }
    for (const auto& [topic, partition] : targets) {
        if (resp.replica_election_results.empty() ||
            resp.replica_election_results.back().topic != topic)
            resp.replica_election_results.emplace_back().topic = topic;
        auto& out = resp.replica_election_results.back().partition_result.emplace_back();
        out.partition_id = partition;
        const cluster::topic_info* t = snap->find_topic(topic);
        if (!t || partition < 0 || partition >= static_cast<int32_t>(t->partitions.size())) {
            out.error_code = wire(error_code::unknown_topic_or_partition);
            continue;
        }
        if (type != kPreferredElection) {
            // Unclean elections are the controller's business when
            // unclean.leader.election.enable is set; on demand they are not offered.
            out.error_code = wire(error_code::invalid_request);
            out.error_message = "Only preferred leader elections (type 0) are supported";
            continue;
        }
        auto write = [&] { return ctx.b.metadata().elect_preferred_leader(topic, partition); };
        auto op = ctx.b.store_write(write);
        if (auto r = co_await std::move(op); !r) {
            out.error_code = wire(to_error_code(r.error().code));
            out.error_message = r.error().message;
        }
    }
    co_return resp;
}

}  // namespace rill::broker
