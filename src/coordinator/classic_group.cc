#include "coordinator/classic_group.h"

#include <algorithm>

#include "protocol/generated/consumer_protocol_subscription.h"
#include "protocol/wire.h"

namespace rill::coordinator {

namespace m = protocol::messages;
using protocol::error_code;

const char* type_name(group_type t) {
    return t == group_type::consumer ? "consumer" : "classic";
}

const char* state_name(group_state s) {
    switch (s) {
        case group_state::empty:
            return "Empty";
        case group_state::preparing_rebalance:
            return "PreparingRebalance";
        case group_state::completing_rebalance:
            return "CompletingRebalance";
        case group_state::stable:
            return "Stable";
        case group_state::dead:
            return "Dead";
    }
    return "Dead";
}

bool valid_transition(group_state from, group_state to) {
    using s = group_state;
    switch (to) {
        case s::empty:
            return from == s::preparing_rebalance;
        case s::preparing_rebalance:
            return from == s::empty || from == s::completing_rebalance || from == s::stable;
        case s::completing_rebalance:
            return from == s::preparing_rebalance;
        case s::stable:
            return from == s::completing_rebalance;
        case s::dead:
            return true;
    }
    return false;
}

const protocol::bytes* member::metadata_for(const std::string& name) const {
    for (const auto& [n, md] : protocols)
        if (n == name) return &md;
    return nullptr;
}

classic_group::classic_group(std::string id, int64_t now_ms)
    : state_timestamp(now_ms), id_(std::move(id)) {}

bool classic_group::transition_to(group_state to, int64_t now_ms) {
    if (to == state_) return true;
    if (!valid_transition(state_, to)) return false;
    state_ = to;
    state_timestamp = now_ms;
    return true;
}

namespace {

std::optional<m::consumer_protocol_subscription> decode_subscription(protocol::bytes_view b) {
    protocol::reader r(b);
    int16_t v = r.read_int16();
    if (!r.ok() || v < 0) return std::nullopt;
    m::consumer_protocol_subscription s;
    s.decode(r, std::min<int16_t>(v, m::consumer_protocol_subscription::max_version));
    if (!r.ok()) return std::nullopt;
    return s;
}

}  // namespace

std::set<std::string> classic_group::subscribed_topics() const {
    std::set<std::string> out;
    if (protocol_type != "consumer" || !protocol) return out;
    for (const auto& [id, mem] : members)
        if (const auto* md = mem->metadata_for(*protocol))
            if (auto s = decode_subscription(*md)) out.insert(s->topics.begin(), s->topics.end());
    return out;
}

bool classic_group::subscribed_to(const std::string& topic) const {
    if (state_ == group_state::empty || state_ == group_state::dead) return false;
    return subscribed_topics().count(topic) > 0;
}

int64_t classic_group::offsets_expiry_base() const {
    // Offsets-only groups (no protocol type) count from each commit.
    return protocol_type.empty() ? -1 : state_timestamp;
}

bool classic_group::expires_unsubscribed_offsets() const {
    return state_ == group_state::stable && protocol_type == "consumer";
}

std::set<std::string> classic_group::candidate_protocols() const {
    std::set<std::string> out;
    bool first = true;
    for (const auto& [id, mem] : members) {
        std::set<std::string> mine;
        for (const auto& p : mem->protocols)
            mine.insert(p.first);
        if (first) {
            out = std::move(mine);
            first = false;
            continue;
        }
        std::set<std::string> both;
        std::set_intersection(out.begin(), out.end(), mine.begin(), mine.end(),
                              std::inserter(both, both.begin()));
        out = std::move(both);
    }
    return out;
}

std::optional<std::string> classic_group::select_protocol() const {
    auto cands = candidate_protocols();
    if (cands.empty()) return std::nullopt;
    std::map<std::string, int> votes;
    std::vector<std::string> order;
    for (const auto& [id, mem] : members)
        for (const auto& p : mem->protocols)
            if (cands.count(p.first)) {
                if (!votes.count(p.first)) order.push_back(p.first);
                ++votes[p.first];
                break;
            }
    std::string best;
    int best_votes = -1;
    for (const auto& name : order)
        if (votes[name] > best_votes) {
            best = name;
            best_votes = votes[name];
        }
    return best;
}

bool classic_group::supports(const m::join_group_request& req) const {
    if (members.empty()) return !req.protocol_type.empty() && !req.protocols.empty();
    if (protocol_type != req.protocol_type) return false;
    auto cands = candidate_protocols();
    for (const auto& p : req.protocols)
        if (cands.count(p.name)) return true;
    return false;
}

int32_t classic_group::max_rebalance_timeout() const {
    int32_t t = 0;
    for (const auto& [id, mem] : members)
        t = std::max(t, mem->rebalance_timeout_ms);
    return t;
}

bool classic_group::fenced(const std::string& member_id,
                           const std::optional<std::string>& instance_id) const {
    if (!instance_id) return false;
    auto it = static_members.find(*instance_id);
    return it != static_members.end() && it->second != member_id;
}

member* classic_group::find(const std::string& member_id) {
    auto it = members.find(member_id);
    return it == members.end() ? nullptr : it->second.get();
}

void classic_group::remove_member(const std::string& member_id, error_code e) {
    auto it = members.find(member_id);
    if (it == members.end()) return;
    auto& mem = *it->second;
    auto join = std::move(mem.awaiting_join);
    auto sync = std::move(mem.awaiting_sync);
    if (mem.instance_id) {
        auto s = static_members.find(*mem.instance_id);
        if (s != static_members.end() && s->second == member_id) static_members.erase(s);
    }
    pending_sync.erase(member_id);
    members.erase(it);
    if (leader && *leader == member_id) {
        if (members.empty())
            leader.reset();
        else
            leader = members.begin()->first;
    }
    if (join) join(join_error(e, member_id));
    if (sync) sync(sync_error(e));
}

void classic_group::fail_waiting(error_code e) {
    for (auto& [mid, mem] : members) {
        auto join = std::move(mem->awaiting_join);
        auto sync = std::move(mem->awaiting_sync);
        mem->awaiting_join = nullptr;
        mem->awaiting_sync = nullptr;
        if (join) join(join_error(e, mid));
        if (sync) sync(sync_error(e));
    }
}

m::group_metadata_value classic_group::to_record(
    const std::map<std::string, protocol::bytes>* assignments) const {
    m::group_metadata_value v;
    v.protocol_type = protocol_type;
    v.generation = generation;
    v.protocol = protocol;
    v.leader = leader;
    v.current_state_timestamp = state_timestamp;
    for (const auto& [id, mem] : members) {
        auto& mm = v.members.emplace_back();
        mm.member_id = id;
        mm.group_instance_id = mem->instance_id;
        mm.client_id = mem->client_id;
        mm.client_host = mem->client_host;
        mm.rebalance_timeout = mem->rebalance_timeout_ms;
        mm.session_timeout = mem->session_timeout_ms;
        if (protocol)
            if (const auto* md = mem->metadata_for(*protocol)) mm.subscription = *md;
        if (assignments) {
            auto a = assignments->find(id);
            if (a != assignments->end()) mm.assignment = a->second;
        } else {
            mm.assignment = mem->assignment;
        }
    }
    return v;
}

std::unique_ptr<classic_group> classic_group::from_record(const std::string& id,
                                                          const m::group_metadata_value& v,
                                                          int64_t now_ms) {
    auto g = std::make_unique<classic_group>(id, v.current_state_timestamp);
    g->protocol_type = v.protocol_type;
    g->generation = v.generation;
    g->protocol = v.protocol;
    g->leader = v.leader;
    for (const auto& mm : v.members) {
        auto mem = std::make_unique<member>();
        mem->id = mm.member_id;
        mem->instance_id = mm.group_instance_id;
        mem->client_id = mm.client_id;
        mem->client_host = mm.client_host;
        mem->rebalance_timeout_ms = mm.rebalance_timeout;
        mem->session_timeout_ms = mm.session_timeout;
        mem->protocol_type = v.protocol_type;
        if (v.protocol) mem->protocols.emplace_back(*v.protocol, mm.subscription);
        mem->assignment = mm.assignment;
        mem->last_heard_ms = now_ms;
        if (mem->instance_id) g->static_members[*mem->instance_id] = mem->id;
        g->members.emplace(mem->id, std::move(mem));
    }
    // A loaded group with members resumes in Stable (Kafka's loading does the same; the
    // members' sessions restart now). Loading is not a transition of the table.
    if (!g->members.empty()) g->state_ = group_state::stable;
    if (g->members.empty()) g->leader.reset();
    return g;
}

m::join_group_response join_error(error_code e, const std::string& member_id) {
    m::join_group_response r;
    r.error_code = static_cast<int16_t>(e);
    r.member_id = member_id;
    r.generation_id = -1;
    return r;
}

m::sync_group_response sync_error(error_code e) {
    m::sync_group_response r;
    r.error_code = static_cast<int16_t>(e);
    return r;
}

}  // namespace rill::coordinator
