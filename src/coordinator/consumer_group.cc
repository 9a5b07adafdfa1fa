// The consumer group state (consumer_group.h): derived states, the target assignment and the
// reconciliation of each member's current assignment.
#include "coordinator/consumer_group.h"

#include <algorithm>

namespace rill::coordinator {

const char* state_name(consumer_group_state s) {
    switch (s) {
        case consumer_group_state::empty:
            return "Empty";
        case consumer_group_state::assigning:
            return "Assigning";
        case consumer_group_state::reconciling:
            return "Reconciling";
        case consumer_group_state::stable:
            return "Stable";
        case consumer_group_state::dead:
            return "Dead";
    }
    return "Unknown";
}

const char* state_name(member_state s) {
    switch (s) {
        case member_state::stable:
            return "stable";
        case member_state::unrevoked:
            return "unrevoked_partitions";
        case member_state::unreleased:
            return "unreleased_partitions";
        case member_state::unknown:
            break;
    }
    return "unknown";
}

bool consumer_member::same_metadata(const consumer_member& o) const {
    return instance_id == o.instance_id && rack_id == o.rack_id && client_id == o.client_id &&
           client_host == o.client_host && subscribed_topics == o.subscribed_topics &&
           subscribed_regex == o.subscribed_regex &&
           rebalance_timeout_ms == o.rebalance_timeout_ms && server_assignor == o.server_assignor;
}

bool consumer_member::same_current(const consumer_member& o) const {
    return member_epoch == o.member_epoch && previous_member_epoch == o.previous_member_epoch &&
           state == o.state && assigned == o.assigned && pending_revocation == o.pending_revocation;
}

bool consumer_group::subscribed_to(const std::string& topic) const {
    for (const auto& [id, m] : members)
        if (topics_of(m).count(topic)) return true;
    return false;
}

std::set<std::string> consumer_group::topics_of(const consumer_member& m) const {
    std::set<std::string> out(m.subscribed_topics.begin(), m.subscribed_topics.end());
    if (m.subscribed_regex) {
        auto it = resolved_regexes.find(*m.subscribed_regex);
        if (it != resolved_regexes.end()) out.insert(it->second.begin(), it->second.end());
    }
    return out;
}

consumer_group_state consumer_group::state() const {
    if (dead) return consumer_group_state::dead;
    if (members.empty()) return consumer_group_state::empty;
    if (assignment_epoch < group_epoch) return consumer_group_state::assigning;
    for (const auto& [id, m] : members)
        if (m.member_epoch != assignment_epoch || m.state != member_state::stable)
            return consumer_group_state::reconciling;
    return consumer_group_state::stable;
}

consumer_member* consumer_group::find(const std::string& member_id) {
    auto it = members.find(member_id);
    return it == members.end() ? nullptr : &it->second;
}

const consumer_member* consumer_group::find(const std::string& member_id) const {
    auto it = members.find(member_id);
    return it == members.end() ? nullptr : &it->second;
}

consumer_member* consumer_group::find_instance(const std::string& instance_id) {
    for (auto& [id, m] : members)
        if (m.instance_id == instance_id) return &m;
    return nullptr;
}

std::set<std::string> consumer_group::subscribed_topic_names() const {
    std::set<std::string> out;
    for (const auto& [id, m] : members) {
        auto mine = topics_of(m);
        out.insert(mine.begin(), mine.end());
    }
    return out;
}

std::string consumer_group::chosen_assignor(const std::vector<std::string>& configured) const {
    std::map<std::string, int> votes;
    for (const auto& [id, m] : members)
        if (m.server_assignor) ++votes[*m.server_assignor];
    std::string best = configured.empty() ? std::string("uniform") : configured.front();
    int most = 0;
    for (const auto& name : configured) {  // ties go to the earlier configured one
        auto it = votes.find(name);
        if (it != votes.end() && it->second > most) {
            most = it->second;
            best = name;
        }
    }
    return best;
}

void consumer_group::compute_target(
    const std::string& assignor,
    std::map<protocol::uuid, std::vector<std::set<std::string>>> racks) {
    assignor_input in;
    in.racks = std::move(racks);
    for (const auto& [name, t] : topics)
        in.topics[t.id] = t.partitions;
    for (const auto& [id, m] : members) {
        auto& am = in.members.emplace_back();
        am.id = id;
        am.rack = m.rack_id;
        for (const auto& name : topics_of(m)) {
            auto it = topics.find(name);
            if (it != topics.end()) am.topics.insert(it->second.id);
        }
        auto prev = target.find(id);
        if (prev != target.end()) am.previous = prev->second;
    }
    target = run_assignor(assignor, in);
    assignment_epoch = group_epoch;
}

assignment consumer_group::held_by_others(const assignment& a, const std::string& except) const {
    assignment out;
    for (const auto& [id, m] : members) {
        if (id == except) continue;
        for (const auto& held : {&m.assigned, &m.pending_revocation}) {
            auto both = intersect(a, *held);
            for (auto& [t, ps] : both)
                out[t].insert(ps.begin(), ps.end());
        }
    }
    return out;
}

bool consumer_group::reconcile(consumer_member& m, const std::optional<assignment>& owned,
                               int64_t now) {
    const consumer_member before = m;
    if (m.state == member_state::unrevoked) {
        // The member keeps its epoch until it reports that it gave the partitions up.
        if (!owned || !intersect(*owned, m.pending_revocation).empty()) return false;
        m.pending_revocation.clear();
        m.state = member_state::stable;
        m.revoke_deadline_ms = 0;
    }
    const bool behind = m.member_epoch != assignment_epoch;
    if (!behind && m.state == member_state::stable) return !m.same_current(before);
    static const assignment kNone;
    auto it = target.find(m.id);
    const assignment& tgt = it == target.end() ? kNone : it->second;
    auto kept = intersect(m.assigned, tgt);
    auto revoke = minus(m.assigned, tgt);
    if (!revoke.empty()) {
        // Revoke first: the epoch stays until the member confirms.
        m.assigned = std::move(kept);
        m.pending_revocation = std::move(revoke);
        m.state = member_state::unrevoked;
        m.revoke_deadline_ms =
            now + (m.rebalance_timeout_ms > 0 ? m.rebalance_timeout_ms : int64_t{300'000});
        return true;
    }
    auto wanted = minus(tgt, kept);
    auto busy = held_by_others(wanted, m.id);
    auto free = minus(wanted, busy);
    for (auto& [t, ps] : free)
        kept[t].insert(ps.begin(), ps.end());
    m.assigned = std::move(kept);
    if (behind) {
        m.previous_member_epoch = m.member_epoch;
        m.member_epoch = assignment_epoch;
    }
    m.state = busy.empty() ? member_state::stable : member_state::unreleased;
    return !m.same_current(before);
}

void consumer_group::remove(const std::string& member_id) {
    members.erase(member_id);
    target.erase(member_id);
}

}  // namespace rill::coordinator
