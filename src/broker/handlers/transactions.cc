// The transaction APIs a producer sends to its transaction coordinator (AddPartitionsToTxn
// v0-3, AddOffsetsToTxn, EndTxn) and to its group coordinator (TxnOffsetCommit). The state
// machine is txn::txn_coordinator's; here are the version-specific parts: PRODUCER_FENCED
// exists from AddPartitionsToTxn/AddOffsetsToTxn/EndTxn v2 (older versions get
// INVALID_PRODUCER_EPOCH), and the response shapes.
#include <chrono>
#include <set>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "common/clock.h"
#include "coordinator/group_coordinator.h"
#include "txn/txn_coordinator.h"

namespace rill::broker {

namespace {

error_code for_version(error_code e, int16_t version, int16_t fenced_since) {
    if (e == error_code::producer_fenced && version < fenced_since)
        return error_code::invalid_producer_epoch;
    return e;
}

}  // namespace

task<m::add_partitions_to_txn_response> handle_add_partitions_to_txn(
    request_context& ctx, m::add_partitions_to_txn_request& req) {
    const int16_t v = ctx.api_version;
    m::add_partitions_to_txn_response resp;
    auto snap = ctx.b.metadata().snapshot();
    // Every partition must exist; otherwise the bad ones get UNKNOWN_TOPIC_OR_PARTITION and
    // the others OPERATION_NOT_ATTEMPTED, and nothing is added (as Kafka answers).
    std::vector<txn::topic_partition> tps;
    bool any_unknown = false;
    for (const auto& t : req.v3_and_below_topics) {
        const auto* topic = snap->find_topic(t.name);
        for (int32_t p : t.partitions) {
            if (!topic || p < 0 || p >= static_cast<int32_t>(topic->partitions.size()) ||
                topic->internal)
                any_unknown = true;
            tps.push_back({t.name, p});
        }
    }
    error_code e = error_code::none;
    if (req.v3_and_below_transactional_id.empty()) {
        e = error_code::invalid_request;
    } else if (!any_unknown) {
        auto op = ctx.b.txns().add_partitions(req.v3_and_below_transactional_id,
                                              req.v3_and_below_producer_id,
                                              req.v3_and_below_producer_epoch, tps);
        e = for_version(co_await std::move(op), v, 2);
    }
    for (const auto& t : req.v3_and_below_topics) {
        auto& tr = resp.results_by_topic_v3_and_below.emplace_back();
        tr.name = t.name;
        const auto* topic = snap->find_topic(t.name);
        for (int32_t p : t.partitions) {
            auto& pr = tr.results_by_partition.emplace_back();
            pr.partition_index = p;
            error_code pe = e;
            if (any_unknown)
                pe = (!topic || p < 0 || p >= static_cast<int32_t>(topic->partitions.size()) ||
                      topic->internal)
                         ? error_code::unknown_topic_or_partition
                         : error_code::operation_not_attempted;
            pr.partition_error_code = wire(pe);
        }
    }
    co_return resp;
}

task<m::add_offsets_to_txn_response> handle_add_offsets_to_txn(request_context& ctx,
                                                               m::add_offsets_to_txn_request& req) {
    m::add_offsets_to_txn_response resp;
    if (req.transactional_id.empty() || req.group_id.empty()) {
        resp.error_code =
            wire(req.group_id.empty() ? error_code::invalid_group_id : error_code::invalid_request);
        co_return resp;
    }
    // The group's __consumer_offsets partition joins the transaction: its marker makes the
    // transactional offsets visible.
    auto ensure = ctx.b.groups().ensure_offsets_topic(std::chrono::seconds(5));
    if (auto e = co_await std::move(ensure); e != error_code::none) {
        resp.error_code = wire(e);
        co_return resp;
    }
    auto snap = ctx.b.metadata().snapshot();
    const auto* offsets = snap->find_topic(coordinator::kOffsetsTopic);
    if (!offsets || offsets->partitions.empty()) {
        resp.error_code = wire(error_code::coordinator_not_available);
        co_return resp;
    }
    const int32_t p = coordinator::partition_for_group(
        req.group_id, static_cast<int32_t>(offsets->partitions.size()));
    auto op = ctx.b.txns().add_partitions(req.transactional_id, req.producer_id, req.producer_epoch,
                                          {txn::topic_partition{coordinator::kOffsetsTopic, p}});
    resp.error_code = wire(for_version(co_await std::move(op), ctx.api_version, 2));
    co_return resp;
}

task<m::end_txn_response> handle_end_txn(request_context& ctx, m::end_txn_request& req) {
    m::end_txn_response resp;
    if (req.transactional_id.empty()) {
        resp.error_code = wire(error_code::invalid_request);
        co_return resp;
    }
    auto op = ctx.b.txns().end_txn(req.transactional_id, req.producer_id, req.producer_epoch,
                                   req.committed);
    resp.error_code = wire(for_version(co_await std::move(op), ctx.api_version, 2));
    co_return resp;
}

task<m::txn_offset_commit_response> handle_txn_offset_commit(request_context& ctx,
                                                             m::txn_offset_commit_request& req) {
    const int16_t v = ctx.api_version;
    if (v < 3) {  // no member fields before v3 (KIP-447)
        req.generation_id = -1;
        req.member_id.clear();
        req.group_instance_id.reset();
    }
    if (v < 2)
        for (auto& t : req.topics)
            for (auto& p : t.partitions)
                p.committed_leader_epoch = -1;
    auto answer_all = [&](error_code e) {
        m::txn_offset_commit_response resp;
        for (const auto& t : req.topics) {
            auto& tout = resp.topics.emplace_back();
            tout.name = t.name;
            for (const auto& p : t.partitions) {
                auto& po = tout.partitions.emplace_back();
                po.partition_index = p.partition_index;
                po.error_code = wire(e);
            }
        }
        return resp;
    };
    // The producer must be in an open transaction that holds the group's offsets partition
    // (AddOffsetsToTxn first), at its current epoch.
    auto ensure = ctx.b.groups().ensure_offsets_topic(std::chrono::seconds(5));
    if (auto e = co_await std::move(ensure); e != error_code::none) co_return answer_all(e);
    auto snap = ctx.b.metadata().snapshot();
    const auto* offsets = snap->find_topic(coordinator::kOffsetsTopic);
    if (!offsets || offsets->partitions.empty())
        co_return answer_all(error_code::coordinator_not_available);
    const int32_t p = coordinator::partition_for_group(
        req.group_id, static_cast<int32_t>(offsets->partitions.size()));
    auto check =
        ctx.b.txns().check_member(req.transactional_id, req.producer_id, req.producer_epoch,
                                  txn::topic_partition{coordinator::kOffsetsTopic, p});
    error_code e = co_await std::move(check);
    if (e == error_code::producer_fenced) e = error_code::invalid_producer_epoch;
    if (e != error_code::none) co_return answer_all(e);
    auto op = ctx.b.groups().txn_offset_commit(std::move(req));
    co_return co_await std::move(op);
}

// The transactions this broker coordinates (kafka-transactions.sh describe / list).
task<m::describe_transactions_response> handle_describe_transactions(
    request_context& ctx, m::describe_transactions_request& req) {
    m::describe_transactions_response resp;
    for (const auto& id : req.transactional_ids) {
        auto& out = resp.transaction_states.emplace_back();
        out.transactional_id = id;
        out.producer_id = -1;
        out.producer_epoch = -1;
        out.transaction_start_time_ms = -1;
        auto op = ctx.b.txns().describe(id);
        auto [e, view] = co_await std::move(op);
        out.error_code = wire(e);
        if (e != error_code::none) continue;
        const auto& md = view.md;
        out.transaction_state = txn::state_name(md.state);
        out.transaction_timeout_ms = md.timeout_ms;
        out.transaction_start_time_ms = md.state == txn::txn_state::ongoing ? md.start_ms : -1;
        out.producer_id = md.producer_id;
        out.producer_epoch = md.producer_epoch;
        for (const auto& tp : md.partitions) {
            if (out.topics.empty() || out.topics.back().topic != tp.topic)
                out.topics.emplace_back().topic = tp.topic;
            out.topics.back().partitions.push_back(tp.partition);
        }
    }
    co_return resp;
}

task<m::list_transactions_response> handle_list_transactions(request_context& ctx,
                                                             m::list_transactions_request& req) {
    m::list_transactions_response resp;
    static const std::set<std::string> kStates = {
        "Empty",          "Ongoing",       "PrepareCommit", "PrepareAbort",
        "CompleteCommit", "CompleteAbort", "Dead",          "PrepareEpochFence"};
    std::set<std::string> states;
    for (const auto& s : req.state_filters) {
        if (kStates.count(s))
            states.insert(s);
        else
            resp.unknown_state_filters.push_back(s);
    }
    // Only unknown states asked for: nothing can match.
    if (!req.state_filters.empty() && states.empty()) co_return resp;
    const std::set<int64_t> pids(req.producer_id_filters.begin(), req.producer_id_filters.end());
    const int64_t duration = ctx.api_version >= 1 ? req.duration_filter : -1;
    const int64_t now = wall_clock_ms();
    auto op = ctx.b.txns().list();
    auto all = co_await std::move(op);
    resp.error_code = wire(all.error);
    for (const auto& v : all.txns) {
        const auto& md = v.md;
        const std::string state = txn::state_name(md.state);
        if (!states.empty() && !states.count(state)) continue;
        if (!pids.empty() && !pids.count(md.producer_id)) continue;
        // v1 (KIP-994): transactions running longer than the duration.
        if (duration >= 0 && (md.state != txn::txn_state::ongoing || md.start_ms < 0 ||
                              now - md.start_ms < duration))
            continue;
        auto& out = resp.transaction_states.emplace_back();
        out.transactional_id = md.transactional_id;
        out.producer_id = md.producer_id;
        out.transaction_state = state;
    }
    co_return resp;
}

}  // namespace rill::broker
