// The offset APIs on one coordinator shard: OffsetCommit, OffsetFetch, OffsetDelete,
// DeleteGroups and offset expiry. Every change is written first; the offsets manager (what
// OffsetFetch reads) changes only once the records are committed.
#include <set>

#include "common/logging.h"
#include "coordinator/coordinator_shard.h"
#include "coordinator/offsets_records.h"
#include "coordinator/wire.h"

namespace rill::coordinator {

namespace m = protocol::messages;
using protocol::error_code;

void coordinator_shard::commit(const m::offset_commit_request& req,
                               std::function<void(m::offset_commit_response)> cb,
                               commit_options opts) {
    m::offset_commit_response resp;
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
    const int32_t gen = req.generation_id_or_member_epoch;
    const int64_t now = host_->now_ms();
    if (group* any = find_group(req.group_id)) {
        if (any->is_dead()) return all(error_code::coordinator_not_available);
        if (any->type() == group_type::consumer) {
            // KIP-848: a member commits with its member epoch; an empty group also takes
            // commits of admin clients and simple consumers (epoch -1).
            auto& cg = static_cast<consumer_group&>(*any);
            if (!(gen < 0 && cg.members.empty())) {
                consumer_member* mem = cg.find(req.member_id);
                if (!mem) return all(error_code::unknown_member_id);
                if (!opts.consumer_protocol) return all(error_code::unsupported_version);
                if (gen > mem->member_epoch) return all(error_code::fenced_member_epoch);
                if (gen < mem->member_epoch) return all(error_code::stale_member_epoch);
            }
        } else if (auto& g = static_cast<classic_group&>(*any);
                   !(gen < 0 && g.state() == group_state::empty)) {
            if (g.fenced(req.member_id, req.group_instance_id))
                return all(error_code::fenced_instance_id);
            member* mem = g.find(req.member_id);
            if (!mem) return all(error_code::unknown_member_id);
            if (gen != g.generation) return all(error_code::illegal_generation);
            if (g.state() == group_state::completing_rebalance)
                return all(error_code::rebalance_in_progress);
            mem->last_heard_ms = now;
        }
    } else if (gen >= 0) {
        return all(error_code::illegal_generation);
    }

    const int64_t max_md = cfg("offset.metadata.max.bytes");
    const int64_t expire = req.retention_time_ms >= 0 ? now + req.retention_time_ms : -1;
    std::vector<protocol::record> recs;
    struct pending {
        size_t topic, partition;
        topic_partition tp;
        committed_offset co;
    };
    std::vector<pending> todo;
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
                                expire};
            topic_partition tp{t.name, p.partition_index};
            recs.push_back(offsets_manager::commit_record(req.group_id, tp, co));
            todo.push_back({ti, pi, std::move(tp), std::move(co)});
        }
    }
    write(std::move(recs), [this, group_id = req.group_id, todo = std::move(todo),
                            resp = std::move(resp), cb = std::move(cb)](error_code e) mutable {
        if (e == error_code::none) {
            if (!todo.empty() && !find_group(group_id))
                new_classic(group_id);  // an offsets-only group
            for (auto& p : todo)
                offsets_.put(group_id, p.tp, std::move(p.co));
        } else {
            for (auto& p : todo)
                resp.topics[p.topic].partitions[p.partition].error_code = wire(e);
        }
        cb(std::move(resp));
    });
}

m::offset_fetch_response::offset_fetch_response_group coordinator_shard::fetch(
    const std::string& group_id,
    const std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>& topics,
    const std::optional<std::string>& member_id, int32_t member_epoch) {
    m::offset_fetch_response::offset_fetch_response_group out;
    out.group_id = group_id;
    if (auto e = ready(); e != error_code::none) {
        out.error_code = wire(e);
        return out;
    }
    if (consumer_group* cg = find_consumer(group_id);
        cg && !cg->is_dead() && (member_id || member_epoch >= 0)) {
        // KIP-848: a member fetching as a member must be one, at its current epoch.
        const consumer_member* mem = cg->find(member_id.value_or(""));
        if (!mem) {
            out.error_code = wire(error_code::unknown_member_id);
            return out;
        }
        if (member_epoch != mem->member_epoch) {
            out.error_code = wire(error_code::stale_member_epoch);
            return out;
        }
    }
    auto add = [&](const std::string& topic, int32_t p, const committed_offset* co) {
        if (out.topics.empty() || out.topics.back().name != topic)
            out.topics.emplace_back().name = topic;
        auto& po = out.topics.back().partitions.emplace_back();
        po.partition_index = p;
        po.committed_offset = co ? co->offset : -1;
        po.committed_leader_epoch = co ? co->leader_epoch : -1;
        po.metadata = co ? co->metadata : "";
    };
    if (!topics) {
        if (const auto* offs = offsets_.of(group_id))
            for (const auto& [tp, co] : *offs)
                add(tp.topic, tp.partition, &co);
        return out;
    }
    for (const auto& [name, parts] : *topics)
        for (int32_t p : parts)
            add(name, p, offsets_.find(group_id, topic_partition{name, p}));
    return out;
}

void coordinator_shard::delete_offsets(const std::string& group_id,
                                       std::vector<topic_partition> tps, bool whole_group,
                                       std::function<void(error_code)> done) {
    std::vector<protocol::record> recs;
    std::erase_if(tps, [&](const topic_partition& tp) { return !offsets_.find(group_id, tp); });
    for (const auto& tp : tps)
        recs.push_back(offsets_manager::tombstone(group_id, tp));
    if (whole_group) {
        if (const consumer_group* cg = find_consumer(group_id)) {
            for (auto& r : group_tombstones(*cg))
                recs.push_back(std::move(r));
        } else {
            recs.emplace_back().key = encode_group_key(group_id);
        }
    }
    write(std::move(recs), [this, group_id, tps = std::move(tps), whole_group,
                            done = std::move(done)](error_code e) {
        if (e == error_code::none) {
            for (const auto& tp : tps)
                offsets_.erase(group_id, tp);
            if (whole_group) {
                offsets_.erase_group(group_id);
                if (classic_group* g = find_classic(group_id)) {
                    g->fail_waiting(error_code::unknown_member_id);
                    g->transition_to(group_state::dead, host_->now_ms());
                }
                if (consumer_group* g = find_consumer(group_id)) g->dead = true;
                groups_.erase(group_id);
            }
        }
        done(e);
    });
}

void coordinator_shard::delete_group(const std::string& group_id,
                                     std::function<void(error_code)> cb) {
    if (auto e = ready(); e != error_code::none) return cb(e);
    group* g = find_group(group_id);
    if (!g || g->is_dead()) return cb(error_code::group_id_not_found);
    if (!g->is_empty()) return cb(error_code::non_empty_group);
    std::vector<topic_partition> tps;
    if (const auto* offs = offsets_.of(group_id))
        for (const auto& [tp, co] : *offs)
            tps.push_back(tp);
    delete_offsets(group_id, std::move(tps), true,
                   [this, group_id, cb = std::move(cb)](error_code e) {
                       if (e == error_code::none) log_->info("group {} deleted", group_id);
                       cb(e);
                   });
}

void coordinator_shard::offset_delete(const m::offset_delete_request& req,
                                      std::function<void(m::offset_delete_response)> cb) {
    m::offset_delete_response resp;
    if (auto e = ready(); e != error_code::none) {
        resp.error_code = wire(e);
        return cb(std::move(resp));
    }
    group* g = find_group(req.group_id);
    if (!g || g->is_dead()) {
        resp.error_code = wire(error_code::group_id_not_found);
        return cb(std::move(resp));
    }
    if (!g->is_empty() && g->type() == group_type::classic &&
        static_cast<classic_group*>(g)->protocol_type != "consumer") {
        resp.error_code = wire(error_code::non_empty_group);
        return cb(std::move(resp));
    }
    std::vector<topic_partition> tps;
    std::vector<std::pair<size_t, size_t>> ok_slots;
    for (size_t ti = 0; ti < req.topics.size(); ++ti) {
        const auto& t = req.topics[ti];
        auto& tout = resp.topics.emplace_back();
        tout.name = t.name;
        const bool exists = host_->partition_count(t.name).has_value();
        for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
            auto& po = tout.partitions.emplace_back();
            po.partition_index = t.partitions[pi].partition_index;
            if (g->subscribed_to(t.name)) {
                po.error_code = wire(error_code::group_subscribed_to_topic);
                continue;
            }
            if (!exists) {
                po.error_code = wire(error_code::unknown_topic_or_partition);
                continue;
            }
            tps.push_back({t.name, po.partition_index});
            ok_slots.emplace_back(ti, pi);
        }
    }
    delete_offsets(req.group_id, std::move(tps), false,
                   [resp = std::move(resp), ok_slots = std::move(ok_slots),
                    cb = std::move(cb)](error_code e) mutable {
                       if (e != error_code::none)
                           for (auto [ti, pi] : ok_slots)
                               resp.topics[ti].partitions[pi].error_code = wire(e);
                       cb(std::move(resp));
                   });
}

void coordinator_shard::expire_offsets(int64_t now) {
    const int64_t retention = cfg("offsets.retention.minutes") * 60'000;
    std::set<std::string> ids;
    for (const auto& [id, g] : groups_)
        ids.insert(id);
    for (auto& id : offsets_.group_ids())
        ids.insert(id);
    for (const auto& id : ids) {
        const group* g = find_group(id);
        if (g && g->is_dead()) continue;
        if (const classic_group* cg = find_classic(id); cg && !cg->pending_members.empty())
            continue;  // a member is joining
        auto expired = offsets_.expired(id, g, now, retention);
        const auto* offs = offsets_.of(id);
        const size_t have = offs ? offs->size() : 0;
        const bool drop = (!g || g->is_empty()) && have == expired.size();
        if (expired.empty() && !drop) continue;
        const size_t n = expired.size();
        delete_offsets(id, std::move(expired), drop, [this, id, n, drop](error_code e) {
            if (e != error_code::none) return;
            if (n > 0) log_->info("group {}: expired {} committed offset(s)", id, n);
            if (drop) log_->info("group {}: empty with no offsets; removed", id);
        });
    }
}

}  // namespace rill::coordinator
