// The consumer group protocol (KIP-848) on one coordinator shard: ConsumerGroupHeartbeat,
// ConsumerGroupDescribe and member expiry. Each request of a group runs after the previous
// one's records are committed (serialized()), computes the next group state on a copy, writes
// the difference as ConsumerGroup* records and swaps the copy in once they are committed; the
// answer goes out then.
#include <algorithm>

#include <re2/re2.h>

#include "common/logging.h"
#include "coordinator/coordinator_shard.h"
#include "coordinator/wire.h"

namespace rill::coordinator {

namespace m = protocol::messages;
using protocol::error_code;

namespace {

constexpr int32_t kLeaveEpoch = -1;
constexpr int32_t kLeaveStaticEpoch = -2;

using heartbeat_response = m::consumer_group_heartbeat_response;

std::optional<assignment> owned_of(const m::consumer_group_heartbeat_request& req) {
    if (!req.topic_partitions) return std::nullopt;
    assignment a;
    for (const auto& t : *req.topic_partitions)
        for (int32_t p : t.partitions)
            a[t.topic_id].insert(p);
    return a;
}

heartbeat_response::assignment_type assignment_out(const assignment& a) {
    heartbeat_response::assignment_type out;
    for (const auto& [t, ps] : a) {
        auto& tp = out.topic_partitions.emplace_back();
        tp.topic_id = t;
        tp.partitions.assign(ps.begin(), ps.end());
    }
    return out;
}

}  // namespace

std::vector<std::string> coordinator_shard::configured_assignors() const {
    std::vector<std::string> out;
    for (const auto& name : config_.get_list("group.consumer.assignors"))
        if (auto n = assignor_name(name)) out.push_back(*n);
    if (out.empty()) out.push_back("uniform");
    return out;
}

// ---- one op at a time per group ----

void coordinator_shard::serialized(const std::string& group_id, group_op op) {
    auto& q = group_ops_[group_id];
    q.push_back(std::move(op));
    if (q.size() == 1) run_next_op(group_id);
}

void coordinator_shard::run_next_op(const std::string& group_id) {
    auto it = group_ops_.find(group_id);
    if (it == group_ops_.end() || it->second.empty()) return;
    // The front entry stays (emptied) while it runs: it marks the group busy.
    auto op = std::move(it->second.front());
    it->second.front() = nullptr;
    op([w = weak_from_this(), group_id] {
        auto self = w.lock();
        if (!self) return;
        auto it = self->group_ops_.find(group_id);
        if (it == self->group_ops_.end()) return;
        it->second.pop_front();
        if (it->second.empty()) {
            self->group_ops_.erase(it);
            return;
        }
        self->run_next_op(group_id);
    });
}

void coordinator_shard::commit_group(consumer_group next, std::function<void(error_code)> done) {
    const consumer_group* before = find_consumer(next.id());
    auto recs = records_between(before, next);
    auto shared = std::make_shared<consumer_group>(std::move(next));
    write(std::move(recs), [this, shared, done = std::move(done)](error_code e) {
        if (e == error_code::none) {
            const std::string id = shared->id();
            groups_[id] = std::make_unique<consumer_group>(std::move(*shared));
        }
        done(e);
    });
}

namespace {

// Kafka compiles subscription regexes with RE2/J; this is RE2, the same syntax.
std::unique_ptr<RE2> compile_regex(const std::string& rx) {
    RE2::Options o;
    o.set_log_errors(false);
    return std::make_unique<RE2>(rx, o);
}

}  // namespace

void coordinator_shard::resolve_regexes(consumer_group& g) {
    std::set<std::string> wanted;
    for (const auto& [id, m] : g.members)
        if (m.subscribed_regex) wanted.insert(*m.subscribed_regex);
    if (wanted.empty()) {
        g.resolved_regexes.clear();
        g.resolved_against.reset();
        return;
    }
    auto names = host_->topic_names();
    const bool same_list = g.resolved_against == names;
    std::map<std::string, std::set<std::string>> out;
    for (const auto& rx : wanted) {
        if (same_list)
            if (auto it = g.resolved_regexes.find(rx); it != g.resolved_regexes.end()) {
                out[rx] = std::move(it->second);
                continue;
            }
        auto re = compile_regex(rx);
        auto& matched = out[rx];
        if (!re->ok()) continue;  // refused at the heartbeat; a loaded one matches nothing
        for (const auto& name : *names)
            if (RE2::FullMatch(name, *re)) matched.insert(name);
    }
    g.resolved_regexes = std::move(out);
    g.resolved_against = std::move(names);
}

void coordinator_shard::refresh_target(consumer_group& g, bool membership_changed) {
    resolve_regexes(g);
    std::map<std::string, topic_meta> fresh;
    for (const auto& name : g.subscribed_topic_names())
        if (auto t = host_->topic(name)) fresh[name] = *t;
    const bool metadata_changed = fresh != g.topics;
    if (metadata_changed) g.topics = std::move(fresh);
    if (!membership_changed && !metadata_changed && g.assignment_epoch == g.group_epoch) return;
    if (membership_changed || metadata_changed) ++g.group_epoch;
    // Rack-aware assignment needs the replicas' racks, looked up only when a member has a rack.
    std::map<protocol::uuid, std::vector<std::set<std::string>>> racks;
    if (std::any_of(g.members.begin(), g.members.end(),
                    [](const auto& kv) { return kv.second.rack_id.has_value(); }))
        for (const auto& [name, t] : g.topics)
            if (auto r = host_->partition_racks(name); !r.empty()) racks[t.id] = std::move(r);
    g.compute_target(g.chosen_assignor(configured_assignors()), std::move(racks));
}

// ---- ConsumerGroupHeartbeat ----

void coordinator_shard::consumer_heartbeat(m::consumer_group_heartbeat_request req, client_info ci,
                                           std::function<void(heartbeat_response)> cb) {
    const std::string gid = req.group_id;
    serialized(gid, [this, req = std::move(req), ci = std::move(ci),
                     cb = std::move(cb)](std::function<void()> release) mutable {
        heartbeat_now(req, ci, [cb = std::move(cb), release](heartbeat_response r) {
            cb(std::move(r));
            release();
        });
    });
}

void coordinator_shard::heartbeat_now(const m::consumer_group_heartbeat_request& req,
                                      const client_info& ci,
                                      std::function<void(heartbeat_response)> cb) {
    auto fail = [&](error_code e, std::string message = {}) {
        heartbeat_response r;
        r.error_code = wire(e);
        if (!message.empty()) {
            log_->debug("group {}: heartbeat of member {} refused: {}", req.group_id, req.member_id,
                        message);
            r.error_message = std::move(message);
        }
        cb(std::move(r));
    };
    if (auto e = ready(); e != error_code::none) return fail(e);
    // Kafka's request checks.
    if (req.group_id.empty()) return fail(error_code::invalid_request, "GroupId can't be empty.");
    if (req.member_id.empty()) return fail(error_code::invalid_request, "MemberId can't be empty.");
    if (req.instance_id && req.instance_id->empty())
        return fail(error_code::invalid_request, "InstanceId can't be empty.");
    if (req.rack_id && req.rack_id->empty())
        return fail(error_code::invalid_request, "RackId can't be empty.");
    if (req.member_epoch < kLeaveStaticEpoch)
        return fail(error_code::invalid_request, "MemberEpoch is invalid.");
    if (req.member_epoch == 0) {
        if (req.rebalance_timeout_ms == -1)
            return fail(error_code::invalid_request,
                        "RebalanceTimeoutMs must be provided in first request.");
        // Kafka also refuses a null list here; librdkafka 2.15 sends null when it owns
        // nothing, so null counts as empty.
        if (req.topic_partitions && !req.topic_partitions->empty())
            return fail(error_code::invalid_request,
                        "TopicPartitions must be empty when (re-)joining.");
        if (!req.subscribed_topic_names &&
            (!req.subscribed_topic_regex || req.subscribed_topic_regex->empty()))
            return fail(error_code::invalid_request,
                        "SubscribedTopicNames or SubscribedTopicRegex must be set in first "
                        "request.");
    }
    // An empty regex means none (librdkafka sends "" with topic names).
    if (req.subscribed_topic_regex && !req.subscribed_topic_regex->empty()) {
        auto re = compile_regex(*req.subscribed_topic_regex);
        if (!re->ok())
            return fail(error_code::invalid_regular_expression,
                        "SubscribedTopicRegex `" + *req.subscribed_topic_regex +
                            "` is not a valid regular expression: " + re->error() + ".");
    }
    const auto assignors = configured_assignors();
    if (req.server_assignor &&
        std::find(assignors.begin(), assignors.end(), *req.server_assignor) == assignors.end())
        return fail(error_code::unsupported_assignor,
                    "ServerAssignor " + *req.server_assignor + " is not supported.");

    const consumer_group* cur = nullptr;
    if (group* any = find_group(req.group_id); any && !any->is_dead()) {
        if (any->type() == group_type::classic) {
            // An empty classic group (offsets only, or every member gone) becomes a consumer
            // group; one with members stays classic (online conversion is not supported).
            if (!any->is_empty())
                return fail(error_code::group_id_not_found,
                            "Group " + req.group_id + " is not a consumer group.");
        } else {
            cur = static_cast<const consumer_group*>(any);
        }
    }
    consumer_group next = cur ? *cur : consumer_group(req.group_id);
    const int64_t now = host_->now_ms();
    heartbeat_response resp;
    resp.member_id = req.member_id;
    resp.heartbeat_interval_ms =
        static_cast<int32_t>(group_cfg(req.group_id, "group.consumer.heartbeat.interval.ms"));

    auto finish = [this, cb](consumer_group g, heartbeat_response r) {
        commit_group(std::move(g), [cb, r = std::move(r)](error_code e) mutable {
            if (e != error_code::none) {
                heartbeat_response err;
                err.error_code = wire(e);
                return cb(std::move(err));
            }
            cb(std::move(r));
        });
    };

    // Static membership (KIP-345 for the consumer protocol): an instance id names at most one
    // member. Any request but a join must come from the member that holds it.
    consumer_member* holder = req.instance_id ? next.find_instance(*req.instance_id) : nullptr;
    if (req.instance_id && req.member_epoch != 0) {
        if (!holder)
            return fail(error_code::unknown_member_id,
                        "Instance id " + *req.instance_id + " is unknown.");
        if (holder->id != req.member_id)
            return fail(error_code::fenced_instance_id,
                        "Static member " + req.member_id + " with instance id " + *req.instance_id +
                            " was fenced by member " + holder->id + ".");
    }

    if (req.member_epoch == kLeaveStaticEpoch && req.instance_id) {
        // A static member leaves for now: it keeps its assignment (nobody else gets those
        // partitions) until a member with its instance id replaces it or its session times
        // out. The group epoch does not change.
        holder->member_epoch = kLeaveStaticEpoch;
        holder->pending_revocation.clear();
        holder->revoke_deadline_ms = 0;
        holder->last_heard_ms = now;
        resp.member_epoch = kLeaveStaticEpoch;
        log_->info("group {}: static member {} (instance {}) left temporarily", req.group_id,
                   req.member_id, *req.instance_id);
        return finish(std::move(next), std::move(resp));
    }

    if (req.member_epoch == kLeaveEpoch || req.member_epoch == kLeaveStaticEpoch) {
        if (!next.find(req.member_id))
            return fail(error_code::unknown_member_id,
                        "Member " + req.member_id + " is not a member of the group.");
        next.remove(req.member_id);
        refresh_target(next, true);
        resp.member_epoch = req.member_epoch;
        log_->info("group {}: member {} left (group epoch {})", req.group_id, req.member_id,
                   next.group_epoch);
        return finish(std::move(next), std::move(resp));
    }

    bool membership_changed = false;
    consumer_member* mem = next.find(req.member_id);
    if (req.member_epoch == 0 && holder && holder->id != req.member_id) {
        if (holder->member_epoch != kLeaveStaticEpoch)
            return fail(error_code::unreleased_instance_id,
                        "Static member " + req.member_id + " with instance id " + *req.instance_id +
                            " cannot join the group because the instance id is owned by " +
                            holder->id + " member.");
        // The instance comes back under a new member id: the new member replaces the one that
        // left, with its subscription and target assignment (no new group epoch unless the
        // subscription differs). The old member's records are deleted, so its partitions are
        // free and the new member receives them at once; the old id is fenced.
        consumer_member replaced = *holder;
        auto old_target = next.target.find(replaced.id);
        assignment target =
            old_target == next.target.end() ? assignment{} : std::move(old_target->second);
        next.remove(replaced.id);
        if (mem) next.remove(req.member_id);  // a dynamic member of that id: superseded
        mem = &next.members[req.member_id];
        mem->id = req.member_id;
        mem->instance_id = replaced.instance_id;
        mem->rack_id = replaced.rack_id;
        mem->subscribed_topics = replaced.subscribed_topics;
        mem->subscribed_regex = replaced.subscribed_regex;
        mem->rebalance_timeout_ms = replaced.rebalance_timeout_ms;
        mem->server_assignor = replaced.server_assignor;
        next.target[req.member_id] = std::move(target);
        log_->info("group {}: static member {} (instance {}) replaces member {}", req.group_id,
                   req.member_id, *req.instance_id, replaced.id);
    } else if (req.member_epoch == 0) {
        if (!mem) {
            if (static_cast<int64_t>(next.members.size()) >= cfg("group.consumer.max.size"))
                return fail(error_code::group_max_size_reached,
                            "The consumer group has reached its maximum capacity of " +
                                std::to_string(cfg("group.consumer.max.size")) + " members.");
            mem = &next.members[req.member_id];
            mem->id = req.member_id;
            membership_changed = true;
        } else {
            // The member rejoins (after being fenced): it owns nothing any more.
            mem->assigned.clear();
            mem->pending_revocation.clear();
            mem->member_epoch = 0;
            mem->previous_member_epoch = 0;
            mem->state = member_state::stable;
        }
    } else {
        if (!mem)
            return fail(error_code::unknown_member_id,
                        "Member " + req.member_id + " is not a member of the group.");
        if (req.member_epoch > mem->member_epoch)
            return fail(error_code::fenced_member_epoch,
                        "The consumer group member has a greater member epoch (" +
                            std::to_string(req.member_epoch) +
                            ") than the one known by the "
                            "group coordinator (" +
                            std::to_string(mem->member_epoch) + ").");
        if (req.member_epoch < mem->member_epoch) {
            // The previous epoch is fine while the member owns only what it still has (the
            // answer to its last heartbeat was lost).
            auto owned = owned_of(req);
            if (req.member_epoch != mem->previous_member_epoch || !owned ||
                !contains_all(mem->assigned, *owned))
                return fail(error_code::fenced_member_epoch,
                            "The consumer group member has a smaller member epoch (" +
                                std::to_string(req.member_epoch) +
                                ") than the one known by the "
                                "group coordinator (" +
                                std::to_string(mem->member_epoch) + ").");
        }
    }
    // What the request changes (null / -1 fields: unchanged).
    if (req.instance_id) mem->instance_id = req.instance_id;
    if (req.rack_id) mem->rack_id = req.rack_id;
    if (req.rebalance_timeout_ms != -1) mem->rebalance_timeout_ms = req.rebalance_timeout_ms;
    mem->client_id = ci.client_id;
    mem->client_host = ci.host;
    if (req.subscribed_topic_names) {
        auto topics = *req.subscribed_topic_names;
        std::sort(topics.begin(), topics.end());
        topics.erase(std::unique(topics.begin(), topics.end()), topics.end());
        if (topics != mem->subscribed_topics) {
            mem->subscribed_topics = std::move(topics);
            membership_changed = true;
        }
    }
    if (req.subscribed_topic_regex) {
        std::optional<std::string> rx;
        if (!req.subscribed_topic_regex->empty()) rx = *req.subscribed_topic_regex;
        if (rx != mem->subscribed_regex) {
            mem->subscribed_regex = std::move(rx);
            membership_changed = true;
        }
    }
    if (req.server_assignor && req.server_assignor != mem->server_assignor) {
        mem->server_assignor = req.server_assignor;
        membership_changed = true;
    }
    mem->last_heard_ms = now;
    const std::string mid = mem->id;
    refresh_target(next, membership_changed);
    mem = next.find(mid);
    const assignment before = mem->assigned;
    auto owned = owned_of(req);
    next.reconcile(*mem, owned, now);
    resp.member_epoch = mem->member_epoch;
    if (req.member_epoch == 0 || mem->assigned != before || (owned && *owned != mem->assigned))
        resp.assignment = assignment_out(mem->assigned);
    if (membership_changed)
        log_->info("group {}: member {} joined or changed its subscription (group epoch {})",
                   req.group_id, mid, next.group_epoch);
    finish(std::move(next), std::move(resp));
}

// ---- member expiry ----

void coordinator_shard::expire_consumer_members(int64_t now) {
    for (const auto& [id, g] : groups_) {
        if (g->type() != group_type::consumer || expiring_.count(id)) continue;
        const int64_t session = group_cfg(id, "group.consumer.session.timeout.ms");
        auto& cg = static_cast<consumer_group&>(*g);
        auto late = [now, session](const consumer_member& mem) {
            return now - mem.last_heard_ms >= session ||
                   (mem.state == member_state::unrevoked && mem.revoke_deadline_ms > 0 &&
                    now >= mem.revoke_deadline_ms);
        };
        if (std::none_of(cg.members.begin(), cg.members.end(),
                         [&](const auto& kv) { return late(kv.second); }))
            continue;
        expiring_.insert(id);
        serialized(id, [this, id, late, session](std::function<void()> release) {
            expiring_.erase(id);
            consumer_group* cur = find_consumer(id);
            if (!cur || cur->is_dead()) return release();
            consumer_group next = *cur;
            std::vector<std::string> gone;
            for (const auto& [mid, mem] : next.members)
                if (late(mem)) gone.push_back(mid);
            if (gone.empty()) return release();
            for (const auto& mid : gone) {
                const auto* mem = next.find(mid);
                log_->info("group {}: member {} {}; removed", id, mid,
                           mem->state == member_state::unrevoked &&
                                   host_->now_ms() - mem->last_heard_ms < session
                               ? "did not revoke its partitions within its rebalance timeout"
                               : "session timed out");
                next.remove(mid);
            }
            refresh_target(next, true);
            commit_group(std::move(next), [release](error_code) { release(); });
        });
    }
}

// ---- ConsumerGroupDescribe ----

m::consumer_group_describe_response::described_group coordinator_shard::consumer_describe(
    const std::string& group_id) {
    using out_t = m::consumer_group_describe_response::described_group;
    out_t d;
    d.group_id = group_id;
    if (auto e = ready(); e != error_code::none) {
        d.error_code = wire(e);
        return d;
    }
    group* any = find_group(group_id);
    if (!any || any->is_dead()) {
        d.error_code = wire(error_code::group_id_not_found);
        d.error_message = "Group " + group_id + " not found.";
        return d;
    }
    if (any->type() != group_type::consumer) {
        d.error_code = wire(error_code::group_id_not_found);
        d.error_message = "Group " + group_id + " is not a consumer group.";
        return d;
    }
    const auto& g = static_cast<const consumer_group&>(*any);
    d.group_state = g.state_name();
    d.group_epoch = g.group_epoch;
    d.assignment_epoch = g.assignment_epoch;
    d.assignor_name = g.chosen_assignor(configured_assignors());
    std::map<protocol::uuid, std::string> names;
    for (const auto& [name, t] : g.topics)
        names[t.id] = name;
    auto shape = [&](const assignment& a) {
        m::consumer_group_describe_response::assignment_type out;
        for (const auto& [t, ps] : a) {
            auto& tp = out.topic_partitions.emplace_back();
            tp.topic_id = t;
            auto it = names.find(t);
            tp.topic_name = it == names.end() ? std::string() : it->second;
            tp.partitions.assign(ps.begin(), ps.end());
        }
        return out;
    };
    for (const auto& [mid, mem] : g.members) {
        auto& dm = d.members.emplace_back();
        dm.member_id = mid;
        dm.instance_id = mem.instance_id;
        dm.rack_id = mem.rack_id;
        dm.member_epoch = mem.member_epoch;
        dm.client_id = mem.client_id;
        dm.client_host = mem.client_host;
        dm.subscribed_topic_names = mem.subscribed_topics;
        dm.subscribed_topic_regex = mem.subscribed_regex;
        dm.assignment = shape(mem.assigned);
        auto t = g.target.find(mid);
        if (t != g.target.end()) dm.target_assignment = shape(t->second);
    }
    return d;
}

}  // namespace rill::coordinator
