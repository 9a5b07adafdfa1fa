#include "coordinator/assignors.h"

#include <algorithm>

namespace rill::coordinator {

size_t partition_count(const assignment& a) {
    size_t n = 0;
    for (const auto& [t, ps] : a)
        n += ps.size();
    return n;
}

assignment minus(const assignment& a, const assignment& b) {
    assignment out;
    for (const auto& [t, ps] : a) {
        auto it = b.find(t);
        for (int32_t p : ps)
            if (it == b.end() || !it->second.count(p)) out[t].insert(p);
    }
    return out;
}

assignment intersect(const assignment& a, const assignment& b) {
    assignment out;
    for (const auto& [t, ps] : a) {
        auto it = b.find(t);
        if (it == b.end()) continue;
        for (int32_t p : ps)
            if (it->second.count(p)) out[t].insert(p);
    }
    return out;
}

bool contains_all(const assignment& outer, const assignment& inner) {
    return minus(inner, outer).empty();
}

namespace {

using tp = std::pair<protocol::uuid, int32_t>;

}  // namespace

std::map<std::string, assignment> assign_uniform(const assignor_input& in) {
    std::vector<const assignor_member*> members;
    for (const auto& m : in.members)
        members.push_back(&m);
    std::sort(members.begin(), members.end(),
              [](const auto* a, const auto* b) { return a->id < b->id; });
    std::map<std::string, std::set<tp>> owned;
    std::map<tp, std::string> owner;
    for (const auto* m : members)
        owned[m->id];
    auto eligible = [&](const assignor_member& m, const tp& p) { return m.topics.count(p.first); };
    // Rack awareness: 1 when the member's rack holds a replica of the partition.
    auto local = [&](const assignor_member& m, const tp& p) -> int {
        if (!m.rack) return 0;
        auto it = in.racks.find(p.first);
        if (it == in.racks.end() || p.second >= static_cast<int32_t>(it->second.size())) return 0;
        return it->second[static_cast<size_t>(p.second)].count(*m.rack) ? 1 : 0;
    };
    // 1. Stickiness: keep what each member had, while it still subscribes and the partition
    //    exists (the first member in id order wins a partition two members claim).
    for (const auto* m : members)
        for (const auto& [t, ps] : m->previous) {
            auto it = in.topics.find(t);
            if (it == in.topics.end() || !m->topics.count(t)) continue;
            for (int32_t p : ps)
                if (p >= 0 && p < it->second && !owner.count({t, p})) {
                    owner[{t, p}] = m->id;
                    owned[m->id].insert({t, p});
                }
        }
    // 2. Every unowned partition goes to the eligible member with the fewest partitions (a
    //    member in one of its replicas' racks among those).
    for (const auto& [t, n] : in.topics)
        for (int32_t p = 0; p < n; ++p) {
            if (owner.count({t, p})) continue;
            const assignor_member* best = nullptr;
            for (const auto* m : members)
                if (eligible(*m, {t, p}) &&
                    (!best || owned[m->id].size() < owned[best->id].size() ||
                     (owned[m->id].size() == owned[best->id].size() &&
                      local(*m, {t, p}) > local(*best, {t, p}))))
                    best = m;
            if (!best) continue;  // nobody subscribes to the topic
            owner[{t, p}] = best->id;
            owned[best->id].insert({t, p});
        }
    // 3. Balance: move a partition from a member to an eligible one holding at least two
    //    fewer, until no such move exists (each move lowers the sum of squared counts).
    for (bool moved = true; moved;) {
        moved = false;
        std::vector<const assignor_member*> by_count = members;
        std::stable_sort(by_count.begin(), by_count.end(), [&](const auto* a, const auto* b) {
            return owned[a->id].size() > owned[b->id].size();
        });
        for (const auto* from : by_count) {
            auto& mine = owned[from->id];
            // The move from `from` that helps rack locality most (a partition it holds away
            // from its rack, to a member in one of the partition's racks); else its highest
            // partition that can move, to the emptiest receiver.
            const assignor_member* to = nullptr;
            tp pick{};
            int best_gain = -2;
            for (auto it = mine.rbegin(); it != mine.rend(); ++it)
                for (const auto* m : members) {
                    if (m == from || !eligible(*m, *it) || owned[m->id].size() + 1 >= mine.size())
                        continue;
                    const int gain = local(*m, *it) - local(*from, *it);
                    if (!to || gain > best_gain ||
                        (gain == best_gain && pick == *it &&
                         owned[m->id].size() < owned[to->id].size())) {
                        to = m;
                        pick = *it;
                        best_gain = gain;
                    }
                }
            if (to) {
                mine.erase(pick);
                owned[to->id].insert(pick);
                owner[pick] = to->id;
                moved = true;
            }
            if (moved) break;
        }
    }
    // 4. Rack locality: swap a partition held away from its racks with one of a member in
    //    those racks that holds a partition away from its own (counts stay; each swap adds
    //    at least one local partition, so this ends).
    const bool rack_aware = !in.racks.empty() && std::any_of(members.begin(), members.end(),
                                                             [](const auto* m) { return m->rack; });
    for (bool swapped = rack_aware; swapped;) {
        swapped = false;
        for (const auto* a : members) {
            for (const tp& p : owned[a->id]) {
                if (local(*a, p)) continue;
                for (const auto* b : members) {
                    if (b == a || !eligible(*b, p) || !local(*b, p)) continue;
                    for (const tp& q : owned[b->id]) {
                        if (local(*b, q) || !eligible(*a, q)) continue;
                        const tp pp = p, qq = q;
                        owned[a->id].erase(pp);
                        owned[b->id].erase(qq);
                        owned[a->id].insert(qq);
                        owned[b->id].insert(pp);
                        owner[pp] = b->id;
                        owner[qq] = a->id;
                        swapped = true;
                        break;
                    }
                    if (swapped) break;
                }
                if (swapped) break;
            }
            if (swapped) break;
        }
    }
    std::map<std::string, assignment> out;
    for (const auto* m : members) {
        auto& a = out[m->id];
        for (const auto& [t, p] : owned[m->id])
            a[t].insert(p);
    }
    return out;
}

std::map<std::string, assignment> assign_range(const assignor_input& in) {
    std::map<std::string, assignment> out;
    for (const auto& m : in.members)
        out[m.id];
    for (const auto& [t, n] : in.topics) {
        std::vector<std::string> subs;
        for (const auto& m : in.members)
            if (m.topics.count(t)) subs.push_back(m.id);
        if (subs.empty()) continue;
        std::sort(subs.begin(), subs.end());
        const int32_t k = static_cast<int32_t>(subs.size());
        const int32_t base = n / k, extra = n % k;
        int32_t next = 0;
        for (int32_t i = 0; i < k; ++i) {
            const int32_t take = base + (i < extra ? 1 : 0);
            for (int32_t j = 0; j < take; ++j)
                out[subs[static_cast<size_t>(i)]][t].insert(next++);
        }
    }
    return out;
}

std::optional<std::string> assignor_name(const std::string& configured) {
    if (configured == "uniform" ||
        configured == "org.apache.kafka.coordinator.group.assignor.UniformAssignor" ||
        configured == "org.apache.kafka.coordinator.group.api.assignor.UniformAssignor")
        return "uniform";
    if (configured == "range" ||
        configured == "org.apache.kafka.coordinator.group.assignor.RangeAssignor" ||
        configured == "org.apache.kafka.coordinator.group.api.assignor.RangeAssignor")
        return "range";
    return std::nullopt;
}

std::map<std::string, assignment> run_assignor(const std::string& name, const assignor_input& in) {
    return name == "range" ? assign_range(in) : assign_uniform(in);
}

}  // namespace rill::coordinator
