// The classic group protocol on one coordinator shard: JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup and the member deadlines, as Kafka's ClassicGroup rebalance protocol runs them.
// Membership lives in memory (as in Kafka); what is persisted (the group record with the
// leader's assignment, a static member's new id, an emptied group) is applied and answered
// only once its record is committed.
#include <random>

#include "common/logging.h"
#include "coordinator/coordinator_shard.h"
#include "coordinator/offsets_records.h"
#include "coordinator/wire.h"

namespace rill::coordinator {

namespace m = protocol::messages;
using protocol::error_code;

namespace {

std::string random_suffix() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    uint64_t a = rng(), b = rng();
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(a >> 32),
                  static_cast<uint32_t>((a >> 16) & 0xffff), static_cast<uint32_t>(a & 0xffff),
                  static_cast<uint32_t>(b >> 48),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
}

void set_protocols(member& mem, const m::join_group_request& req) {
    mem.protocol_type = req.protocol_type;
    mem.protocols.clear();
    for (const auto& p : req.protocols)
        mem.protocols.emplace_back(p.name, p.metadata);
    mem.session_timeout_ms = req.session_timeout_ms;
    mem.rebalance_timeout_ms = req.rebalance_timeout_ms;
}

bool same_protocols(const member& mem, const m::join_group_request& req) {
    if (mem.protocols.size() != req.protocols.size()) return false;
    for (size_t i = 0; i < req.protocols.size(); ++i)
        if (mem.protocols[i].first != req.protocols[i].name ||
            mem.protocols[i].second != req.protocols[i].metadata)
            return false;
    return true;
}

// The join answer for `mem` in the current generation (the leader gets the members).
m::join_group_response join_result(const classic_group& g, const member& mem, bool with_skip) {
    m::join_group_response r;
    r.generation_id = g.generation;
    r.protocol_type = g.protocol_type;
    r.protocol_name = g.protocol;
    r.leader = g.leader.value_or("");
    r.member_id = mem.id;
    bool leader = g.leader && *g.leader == mem.id;
    if (leader && g.protocol) {
        for (const auto& [id, other] : g.members) {
            auto& out = r.members.emplace_back();
            out.member_id = id;
            out.group_instance_id = other->instance_id;
            if (const auto* md = other->metadata_for(*g.protocol)) out.metadata = *md;
        }
    }
    r.skip_assignment = with_skip && leader;
    return r;
}

m::sync_group_response sync_ok(const classic_group& g, const member& mem) {
    m::sync_group_response r;
    r.protocol_type = g.protocol_type;
    r.protocol_name = g.protocol;
    r.assignment = mem.assignment;
    return r;
}

void await_join(member& mem, join_callback cb) {
    if (mem.awaiting_join) mem.awaiting_join(join_error(error_code::rebalance_in_progress));
    mem.awaiting_join = std::move(cb);
}

protocol::record group_record(const classic_group& g,
                              const std::map<std::string, protocol::bytes>* assignments = nullptr) {
    protocol::record rec;
    rec.key = encode_group_key(g.id());
    rec.value = encode_group_value(g.to_record(assignments));
    return rec;
}

}  // namespace

classic_group& coordinator_shard::new_classic(const std::string& id) {
    auto g = std::make_unique<classic_group>(id, host_->now_ms());
    auto& ref = *g;
    groups_[id] = std::move(g);
    return ref;
}

void coordinator_shard::set_state(classic_group& g, group_state s) {
    const group_state from = g.state();
    if (!g.transition_to(s, host_->now_ms())) {
        // A bug, not a client error: keep the state and say so loudly.
        log_->error("group {}: refusing the transition {} -> {}", g.id(), state_name(from),
                    state_name(s));
        return;
    }
    if (from != s)
        log_->info("group {} generation {}: {} -> {}", g.id(), g.generation, state_name(from),
                   state_name(s));
}

void coordinator_shard::join(m::join_group_request req, join_options opts, client_info ci,
                             join_callback cb) {
    if (auto e = ready(); e != error_code::none) return cb(join_error(e, req.member_id));
    if (req.group_id.empty()) return cb(join_error(error_code::invalid_group_id));
    if (req.session_timeout_ms < cfg("group.min.session.timeout.ms") ||
        req.session_timeout_ms > cfg("group.max.session.timeout.ms"))
        return cb(join_error(error_code::invalid_session_timeout, req.member_id));
    if (req.protocol_type.empty() || req.protocols.empty())
        return cb(join_error(error_code::inconsistent_group_protocol, req.member_id));
    group* any = find_group(req.group_id);
    if (any && any->type() != group_type::classic)
        return cb(join_error(error_code::inconsistent_group_protocol, req.member_id));
    classic_group* g = static_cast<classic_group*>(any);
    if (!g) {
        if (!req.member_id.empty())
            return cb(join_error(error_code::unknown_member_id, req.member_id));
        g = &new_classic(req.group_id);
    }
    if (g->is_dead()) return cb(join_error(error_code::coordinator_not_available, req.member_id));
    if (!g->supports(req))
        return cb(join_error(error_code::inconsistent_group_protocol, req.member_id));

    const int64_t now = host_->now_ms();
    if (req.member_id.empty()) {
        if (static_cast<int64_t>(g->members.size() + g->pending_members.size()) >=
            cfg("group.max.size"))
            return cb(join_error(error_code::group_max_size_reached));
        std::string prefix = req.group_instance_id ? *req.group_instance_id : ci.client_id;
        std::string new_id = prefix + "-" + random_suffix();
        if (req.group_instance_id) {
            auto it = g->static_members.find(*req.group_instance_id);
            if (it != g->static_members.end() && g->find(it->second))
                return replace_static_member(*g, it->second, new_id, req, opts, std::move(cb));
            return add_member(*g, new_id, req, ci, std::move(cb));
        }
        if (opts.require_known_member_id) {
            // KIP-394: hand out the id; the member joins again with it.
            g->pending_members[new_id] = now + req.session_timeout_ms;
            return cb(join_error(error_code::member_id_required, new_id));
        }
        return add_member(*g, new_id, req, ci, std::move(cb));
    }

    if (g->pending_members.erase(req.member_id))
        return add_member(*g, req.member_id, req, ci, std::move(cb));
    member* mem = g->find(req.member_id);
    if (!mem) return cb(join_error(error_code::unknown_member_id, req.member_id));
    if (g->fenced(req.member_id, req.group_instance_id))
        return cb(join_error(error_code::fenced_instance_id, req.member_id));
    mem->last_heard_ms = now;
    switch (g->state()) {
        case group_state::preparing_rebalance:
            set_protocols(*mem, req);
            await_join(*mem, std::move(cb));
            try_complete_join(*g);
            return;
        case group_state::completing_rebalance:
            if (same_protocols(*mem, req)) return cb(join_result(*g, *mem, false));
            set_protocols(*mem, req);
            await_join(*mem, std::move(cb));
            prepare_rebalance(*g, "member " + mem->id + " changed its subscription");
            return;
        case group_state::stable: {
            const bool is_leader = g->leader && *g->leader == mem->id;
            if (is_leader || !same_protocols(*mem, req)) {
                set_protocols(*mem, req);
                await_join(*mem, std::move(cb));
                prepare_rebalance(*g, is_leader
                                          ? "the leader rejoined"
                                          : "member " + mem->id + " changed its subscription");
                return;
            }
            return cb(join_result(*g, *mem, false));
        }
        case group_state::empty:
        case group_state::dead:
            return cb(join_error(error_code::unknown_member_id, req.member_id));
    }
}

void coordinator_shard::add_member(classic_group& g, const std::string& id,
                                   const m::join_group_request& req, const client_info& ci,
                                   join_callback cb) {
    auto mem = std::make_unique<member>();
    mem->id = id;
    mem->instance_id = req.group_instance_id;
    mem->client_id = ci.client_id;
    mem->client_host = ci.host;
    set_protocols(*mem, req);
    mem->awaiting_join = std::move(cb);
    mem->last_heard_ms = host_->now_ms();
    if (g.members.empty()) g.protocol_type = req.protocol_type;
    if (mem->instance_id) g.static_members[*mem->instance_id] = id;
    if (!g.leader || !g.find(*g.leader)) g.leader = id;
    g.members.emplace(id, std::move(mem));
    log_->info("group {}: member {} joined{}", g.id(), id,
               req.group_instance_id ? " (static " + *req.group_instance_id + ")" : "");
    if (g.state() == group_state::preparing_rebalance) {
        // The initial delay grows with each new member, up to the rebalance timeout.
        if (g.initial_delay_cap > 0)
            g.rebalance_deadline = std::min(
                host_->now_ms() + cfg("group.initial.rebalance.delay.ms"), g.initial_delay_cap);
        try_complete_join(g);
    } else {
        prepare_rebalance(g, "member " + id + " joined");
    }
}

void coordinator_shard::replace_static_member(classic_group& g, std::string old_id,
                                              const std::string& new_id,
                                              const m::join_group_request& req, join_options opts,
                                              join_callback cb) {
    auto node = g.members.extract(old_id);
    auto& mem = *node.mapped();
    auto old_join = std::move(mem.awaiting_join);
    auto old_sync = std::move(mem.awaiting_sync);
    mem.awaiting_join = nullptr;
    mem.awaiting_sync = nullptr;
    if (old_join) old_join(join_error(error_code::fenced_instance_id, old_id));
    if (old_sync) old_sync(sync_error(error_code::fenced_instance_id));
    mem.id = new_id;
    mem.last_heard_ms = host_->now_ms();
    node.key() = new_id;
    g.members.insert(std::move(node));
    member& m2 = *g.members[new_id];
    g.static_members[*req.group_instance_id] = new_id;
    if (g.leader && *g.leader == old_id) g.leader = new_id;
    if (g.pending_sync.erase(old_id)) g.pending_sync.insert(new_id);
    log_->info("group {}: static member {} rejoined as {} (was {})", g.id(), *req.group_instance_id,
               new_id, old_id);
    switch (g.state()) {
        case group_state::stable:
            if (same_protocols(m2, req)) {
                // KIP-345: the same member came back; no rebalance. The new member id is
                // answered once the group record naming it is committed.
                std::vector<protocol::record> recs{group_record(g)};
                const int32_t gen = g.generation;
                write(std::move(recs),
                      [this, id = g.id(), instance = *req.group_instance_id, old_id, new_id, gen,
                       opts, inc = incarnation_, cb = std::move(cb)](error_code e) {
                          if (e != error_code::none) {
                              // Kafka: the new id was not persisted, so the old one is the member's
                              // again (unless the state was reloaded from the log meanwhile).
                              classic_group* now = incarnation_ == inc ? find_classic(id) : nullptr;
                              if (now) restore_static_member(*now, instance, new_id, old_id);
                              return cb(join_error(e));
                          }
                          classic_group* now = find_classic(id);
                          member* mm = now ? now->find(new_id) : nullptr;
                          if (!mm || now->generation != gen)
                              return cb(join_error(error_code::rebalance_in_progress, new_id));
                          cb(join_result(*now, *mm, opts.skip_assignment));
                      });
                return;
            }
            set_protocols(m2, req);
            m2.awaiting_join = std::move(cb);
            prepare_rebalance(
                g, "static member " + *req.group_instance_id + " changed its subscription");
            return;
        case group_state::completing_rebalance:
            set_protocols(m2, req);
            m2.awaiting_join = std::move(cb);
            prepare_rebalance(g, "static member rejoined during the rebalance");
            return;
        default:
            set_protocols(m2, req);
            m2.awaiting_join = std::move(cb);
            try_complete_join(g);
            return;
    }
}

void coordinator_shard::restore_static_member(classic_group& g, const std::string& instance_id,
                                              const std::string& new_id,
                                              const std::string& old_id) {
    auto it = g.static_members.find(instance_id);
    // Replaced again, or gone, meanwhile: nothing to restore.
    if (it == g.static_members.end() || it->second != new_id || !g.find(new_id)) return;
    auto node = g.members.extract(new_id);
    node.mapped()->id = old_id;
    node.mapped()->last_heard_ms = host_->now_ms();
    node.key() = old_id;
    g.members.insert(std::move(node));
    it->second = old_id;
    if (g.leader && *g.leader == new_id) g.leader = old_id;
    if (g.pending_sync.erase(new_id)) g.pending_sync.insert(old_id);
    log_->warn("group {}: static member {} keeps member id {}: its new id {} was not persisted",
               g.id(), instance_id, old_id, new_id);
}

void coordinator_shard::prepare_rebalance(classic_group& g, const std::string& reason) {
    if (g.state() == group_state::completing_rebalance) {
        for (auto& [id, mem] : g.members) {
            mem->assignment.clear();
            if (mem->awaiting_sync) {
                auto cb = std::move(mem->awaiting_sync);
                mem->awaiting_sync = nullptr;
                cb(sync_error(error_code::rebalance_in_progress));
            }
        }
        g.pending_sync.clear();
    }
    g.assignment_pending = false;
    const bool initial = g.state() == group_state::empty;
    log_->info("group {}: preparing to rebalance ({})", g.id(), reason);
    set_state(g, group_state::preparing_rebalance);
    const int64_t now = host_->now_ms();
    const int64_t rt = g.max_rebalance_timeout();
    if (initial) {
        int64_t delay = cfg("group.initial.rebalance.delay.ms");
        g.initial_delay_cap = now + std::max(rt, delay);
        g.rebalance_deadline = std::min(now + delay, g.initial_delay_cap);
    } else {
        g.initial_delay_cap = 0;
        g.rebalance_deadline = now + rt;
    }
    try_complete_join(g);
}

void coordinator_shard::try_complete_join(classic_group& g) {
    if (g.state() != group_state::preparing_rebalance) return;
    if (g.initial_delay_cap > 0 && host_->now_ms() < g.rebalance_deadline) return;
    bool all = g.pending_members.empty();
    for (const auto& [id, mem] : g.members)
        if (!mem->awaiting_join) all = false;
    if (all) complete_join(g);
}

void coordinator_shard::complete_join(classic_group& g) {
    // Members that did not rejoin in time are out.
    std::vector<std::string> gone;
    for (const auto& [id, mem] : g.members)
        if (!mem->awaiting_join) gone.push_back(id);
    for (const auto& id : gone) {
        log_->info("group {}: member {} did not rejoin in time; removing it", g.id(), id);
        g.remove_member(id, error_code::unknown_member_id);
    }
    g.pending_members.clear();
    g.initial_delay_cap = 0;
    g.assignment_pending = false;
    ++g.generation;
    if (g.members.empty()) {
        g.protocol.reset();
        g.leader.reset();
        set_state(g, group_state::empty);
        write({group_record(g)}, [this, id = g.id()](error_code e) {
            if (e != error_code::none)
                log_->warn("group {}: could not store the empty group: error {}", id,
                           static_cast<int>(e));
        });
        return;
    }
    if (!g.leader || !g.find(*g.leader)) g.leader = g.members.begin()->first;
    g.protocol = g.select_protocol();
    set_state(g, group_state::completing_rebalance);
    log_->info("group {}: generation {} with {} member(s), protocol {}, leader {}", g.id(),
               g.generation, g.members.size(), g.protocol.value_or("-"), *g.leader);
    const int64_t now = host_->now_ms();
    g.sync_deadline = now + g.max_rebalance_timeout();
    g.pending_sync.clear();
    for (auto& [id, mem] : g.members) {
        g.pending_sync.insert(id);
        mem->last_heard_ms = now;
        auto cb = std::move(mem->awaiting_join);
        mem->awaiting_join = nullptr;
        if (cb) cb(join_result(g, *mem, false));
    }
}

void coordinator_shard::members_changed(classic_group& g, const std::string& reason) {
    if (g.state() == group_state::stable || g.state() == group_state::completing_rebalance)
        prepare_rebalance(g, reason);
    else if (g.state() == group_state::preparing_rebalance)
        try_complete_join(g);
}

void coordinator_shard::sync(m::sync_group_request req, sync_callback cb) {
    if (auto e = ready(); e != error_code::none) return cb(sync_error(e));
    group* any = find_group(req.group_id);
    if (any && any->type() != group_type::classic)
        return cb(sync_error(error_code::inconsistent_group_protocol));
    classic_group* g = static_cast<classic_group*>(any);
    if (!g) return cb(sync_error(error_code::unknown_member_id));
    if (g->is_dead()) return cb(sync_error(error_code::coordinator_not_available));
    member* mem = g->find(req.member_id);
    if (!mem) return cb(sync_error(error_code::unknown_member_id));
    if (g->fenced(req.member_id, req.group_instance_id))
        return cb(sync_error(error_code::fenced_instance_id));
    if (req.generation_id != g->generation) return cb(sync_error(error_code::illegal_generation));
    if ((req.protocol_type && *req.protocol_type != g->protocol_type) ||
        (req.protocol_name && *req.protocol_name != g->protocol.value_or("")))
        return cb(sync_error(error_code::inconsistent_group_protocol));
    mem->last_heard_ms = host_->now_ms();
    switch (g->state()) {
        case group_state::empty:
        case group_state::dead:
            return cb(sync_error(error_code::unknown_member_id));
        case group_state::preparing_rebalance:
            return cb(sync_error(error_code::rebalance_in_progress));
        case group_state::stable:
            return cb(sync_ok(*g, *mem));
        case group_state::completing_rebalance:
            break;
    }
    if (mem->awaiting_sync) mem->awaiting_sync(sync_error(error_code::rebalance_in_progress));
    mem->awaiting_sync = std::move(cb);
    g->pending_sync.erase(mem->id);
    if (!g->leader || *g->leader != mem->id) return;  // followers wait for the leader
    if (g->assignment_pending) return;  // the leader's first assignment is being written
    store_assignment(*g, std::move(req.assignments));
}

void coordinator_shard::store_assignment(
    classic_group& g, std::vector<m::sync_group_request::sync_group_request_assignment> in) {
    std::map<std::string, protocol::bytes> next;
    for (auto& a : in)
        if (g.find(a.member_id)) next[a.member_id] = std::move(a.assignment);
    g.assignment_pending = true;
    const int32_t gen = g.generation;
    // The assignment takes effect (Stable, members answered) once its record is committed,
    // as Kafka's coordinator does; a rebalance that started meanwhile supersedes it.
    write({group_record(g, &next)}, [this, id = g.id(), gen, next](error_code e) mutable {
        classic_group* g = find_classic(id);
        if (!g || g->generation != gen || g->state() != group_state::completing_rebalance ||
            !g->assignment_pending)
            return;
        g->assignment_pending = false;
        if (e != error_code::none) {
            for (auto& [mid, other] : g->members) {
                other->assignment.clear();
                if (other->awaiting_sync) {
                    auto c = std::move(other->awaiting_sync);
                    other->awaiting_sync = nullptr;
                    c(sync_error(e));
                }
            }
            prepare_rebalance(*g, "storing the assignment failed");
            return;
        }
        for (auto& [mid, other] : g->members) {
            auto a = next.find(mid);
            other->assignment = a == next.end() ? protocol::bytes{} : std::move(a->second);
        }
        set_state(*g, group_state::stable);
        for (auto& [mid, other] : g->members) {
            if (!other->awaiting_sync) continue;
            auto c = std::move(other->awaiting_sync);
            other->awaiting_sync = nullptr;
            c(sync_ok(*g, *other));
        }
    });
}

error_code coordinator_shard::heartbeat(const m::heartbeat_request& req) {
    if (auto e = ready(); e != error_code::none) return e;
    group* any = find_group(req.group_id);
    if (any && any->type() != group_type::classic) return error_code::inconsistent_group_protocol;
    classic_group* g = static_cast<classic_group*>(any);
    if (!g) return error_code::unknown_member_id;
    if (g->is_dead()) return error_code::coordinator_not_available;
    member* mem = g->find(req.member_id);
    if (!mem) return error_code::unknown_member_id;
    if (g->fenced(req.member_id, req.group_instance_id)) return error_code::fenced_instance_id;
    if (req.generation_id != g->generation) return error_code::illegal_generation;
    mem->last_heard_ms = host_->now_ms();
    if (g->state() == group_state::preparing_rebalance) return error_code::rebalance_in_progress;
    return error_code::none;
}

m::leave_group_response coordinator_shard::leave(const m::leave_group_request& req) {
    m::leave_group_response resp;
    if (auto e = ready(); e != error_code::none) {
        resp.error_code = wire(e);
        return resp;
    }
    classic_group* g = find_classic(req.group_id);
    bool removed = false;
    for (const auto& w : req.members) {
        auto& out = resp.members.emplace_back();
        out.member_id = w.member_id;
        out.group_instance_id = w.group_instance_id;
        if (!g || g->is_dead()) {
            out.error_code = wire(error_code::unknown_member_id);
            continue;
        }
        std::string id = w.member_id;
        if (w.group_instance_id) {
            auto it = g->static_members.find(*w.group_instance_id);
            if (it == g->static_members.end()) {
                out.error_code = wire(error_code::unknown_member_id);
                continue;
            }
            if (!id.empty() && id != it->second) {
                out.error_code = wire(error_code::fenced_instance_id);
                continue;
            }
            id = it->second;
        }
        if (g->pending_members.erase(id)) continue;
        if (!g->find(id)) {
            out.error_code = wire(error_code::unknown_member_id);
            continue;
        }
        log_->info("group {}: member {} left{}", g->id(), id,
                   w.reason ? " (" + *w.reason + ")" : "");
        g->remove_member(id, error_code::unknown_member_id);
        removed = true;
    }
    if (g && removed)
        members_changed(*g, "a member left");
    else if (g && g->state() == group_state::preparing_rebalance)
        try_complete_join(*g);
    return resp;
}

void coordinator_shard::expire_members(classic_group& g, int64_t now) {
    // Session expiry (members waiting in a join or sync are not expired).
    std::vector<std::string> expired;
    for (const auto& [mid, mem] : g.members)
        if (!mem->awaiting_join && !mem->awaiting_sync &&
            now > mem->last_heard_ms + mem->session_timeout_ms)
            expired.push_back(mid);
    for (const auto& mid : expired) {
        log_->info("group {}: member {} session timed out; removing it", g.id(), mid);
        g.remove_member(mid, error_code::unknown_member_id);
    }
    std::erase_if(g.pending_members, [now](const auto& kv) { return now > kv.second; });
    if (!expired.empty()) members_changed(g, "a member's session timed out");
    if (g.state() == group_state::preparing_rebalance) {
        if (now >= g.rebalance_deadline)
            complete_join(g);
        else
            try_complete_join(g);
    } else if (g.state() == group_state::completing_rebalance && now >= g.sync_deadline &&
               !g.pending_sync.empty()) {
        auto late = g.pending_sync;
        for (const auto& mid : late) {
            log_->info("group {}: member {} did not sync in time; removing it", g.id(), mid);
            g.remove_member(mid, error_code::unknown_member_id);
        }
        prepare_rebalance(g, "members did not sync in time");
    }
}

}  // namespace rill::coordinator
