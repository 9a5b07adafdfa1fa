// Transactional offset commits on one coordinator shard (TxnOffsetCommit, KIP-98/KIP-447):
// the offsets are written as a transactional batch of the producer and stay pending until
// the transaction coordinator's marker for that producer lands on this partition.
#include "common/logging.h"
#include "coordinator/coordinator_shard.h"
#include "coordinator/offsets_records.h"
#include "coordinator/wire.h"

namespace rill::coordinator {

namespace m = protocol::messages;
using protocol::error_code;

void coordinator_shard::txn_commit(const m::txn_offset_commit_request& req,
                                   std::function<void(m::txn_offset_commit_response)> cb) {
    m::txn_offset_commit_response resp;
    for (const auto& t : req.topics) {
        auto& tout = resp.topics.emplace_back();
        tout.name = t.name;
        for (const auto& p : t.partitions)
            tout.partitions.emplace_back().partition_index = p.partition_index;
    }
    auto all = [&](error_code e) {
        for (auto& t : resp.topics)
            for (auto& p : t.partitions)
                p.error_code = wire(e);
        cb(std::move(resp));
    };
    if (auto e = ready(); e != error_code::none) return all(e);
    if (req.group_id.empty()) return all(error_code::invalid_group_id);
    // KIP-447 (v3+): a member of a classic group commits at its generation.
    if (classic_group* g = find_classic(req.group_id);
        g && !g->is_dead() && req.generation_id >= 0) {
        if (g->fenced(req.member_id, req.group_instance_id))
            return all(error_code::fenced_instance_id);
        if (!g->find(req.member_id)) return all(error_code::unknown_member_id);
        if (req.generation_id != g->generation) return all(error_code::illegal_generation);
    }
    const int64_t now = host_->now_ms();
    const int64_t max_md = cfg("offset.metadata.max.bytes");
    std::vector<protocol::record> recs;
    txn_offsets todo;
    std::vector<std::pair<size_t, size_t>> written;
    for (size_t ti = 0; ti < req.topics.size(); ++ti) {
        const auto& t = req.topics[ti];
        const auto count = host_->partition_count(t.name);
        for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
            const auto& p = t.partitions[pi];
            auto& out = resp.topics[ti].partitions[pi];
            if (!count || p.partition_index < 0 || p.partition_index >= *count) {
                out.error_code = wire(error_code::unknown_topic_or_partition);
                continue;
            }
            std::string md = p.committed_metadata.value_or("");
            if (static_cast<int64_t>(md.size()) > max_md) {
                out.error_code = wire(error_code::offset_metadata_too_large);
                continue;
            }
            committed_offset co{p.committed_offset, p.committed_leader_epoch, std::move(md), now,
                                -1};
            topic_partition tp{t.name, p.partition_index};
            recs.push_back(offsets_manager::commit_record(req.group_id, tp, co));
            todo[{req.group_id, std::move(tp)}] = std::move(co);
            written.emplace_back(ti, pi);
        }
    }
    protocol::batch_spec spec;
    spec.producer_id = req.producer_id;
    spec.producer_epoch = req.producer_epoch;
    spec.transactional = true;
    const int64_t pid = req.producer_id;
    write_as(spec, std::move(recs),
             [this, pid, inc = incarnation_, todo = std::move(todo), written = std::move(written),
              resp = std::move(resp), cb = std::move(cb)](error_code e) mutable {
                 if (e == error_code::none && inc == incarnation_) {
                     auto& pend = pending_txn_[pid];
                     for (auto& [k, co] : todo)
                         pend[k] = std::move(co);
                 } else {
                     for (auto [ti, pi] : written)
                         resp.topics[ti].partitions[pi].error_code = wire(e);
                 }
                 cb(std::move(resp));
             });
}

void coordinator_shard::complete_txn(int64_t producer_id, bool commit) {
    auto it = pending_txn_.find(producer_id);
    if (it == pending_txn_.end()) return;
    if (commit)
        for (auto& [k, co] : it->second) {
            if (!find_group(k.first)) new_classic(k.first);  // an offsets-only group
            offsets_.put(k.first, k.second, std::move(co));
        }
    pending_txn_.erase(it);
}

std::set<topic_partition> coordinator_shard::pending_txn_partitions(
    const std::string& group_id) const {
    std::set<topic_partition> out;
    for (const auto& [pid, offs] : pending_txn_) {
        for (auto it = offs.lower_bound({group_id, topic_partition{}});
             it != offs.end() && it->first.first == group_id; ++it)
            out.insert(it->first.second);
    }
    return out;
}

void coordinator_shard::replay_txn(int64_t producer_id, const protocol::record_view& rec) {
    if (!rec.key) return;
    auto key = decode_key(*rec.key);
    if (!key) return;
    auto* ok = std::get_if<offset_key>(&*key);
    if (!ok || !rec.value) return;
    auto v = decode_offset_value(*rec.value);
    if (!v) {
        log_->warn("{}: skipping an unreadable transactional offset at offset {}", tp_.dir_name(),
                   rec.offset);
        return;
    }
    staged_txn_[producer_id][{ok->group, topic_partition{ok->topic, ok->partition}}] =
        committed_offset{v->offset, v->leader_epoch, v->metadata, v->commit_timestamp,
                         v->expire_timestamp};
}

}  // namespace rill::coordinator
