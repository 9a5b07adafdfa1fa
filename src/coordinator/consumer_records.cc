// The ConsumerGroup* records of __consumer_offsets (consumer_group.h): writing a group's
// changes and rebuilding groups from the records while a partition loads. Key types, in
// Kafka's numbering (the key's int16 version): 3 ConsumerGroupMetadata (group epoch),
// 4 ConsumerGroupPartitionMetadata (subscribed topics), 5 ConsumerGroupMemberMetadata,
// 6 ConsumerGroupTargetAssignmentMetadata (assignment epoch), 7 ConsumerGroupTargetAssignment-
// Member, 8 ConsumerGroupCurrentMemberAssignment. Values are version 0; null is a tombstone.
#include "coordinator/consumer_group.h"

#include "protocol/generated/consumer_group_current_member_assignment_key.h"
#include "protocol/generated/consumer_group_current_member_assignment_value.h"
#include "protocol/generated/consumer_group_member_metadata_key.h"
#include "protocol/generated/consumer_group_member_metadata_value.h"
#include "protocol/generated/consumer_group_metadata_key.h"
#include "protocol/generated/consumer_group_metadata_value.h"
#include "protocol/generated/consumer_group_partition_metadata_key.h"
#include "protocol/generated/consumer_group_partition_metadata_value.h"
#include "protocol/generated/consumer_group_target_assignment_member_key.h"
#include "protocol/generated/consumer_group_target_assignment_member_value.h"
#include "protocol/generated/consumer_group_target_assignment_metadata_key.h"
#include "protocol/generated/consumer_group_target_assignment_metadata_value.h"

namespace rill::coordinator {

namespace m = protocol::messages;

namespace {

constexpr int16_t kGroupMetadata = 3, kPartitionMetadata = 4, kMemberMetadata = 5,
                  kTargetMetadata = 6, kTargetMember = 7, kCurrentAssignment = 8;

template <typename Key>
protocol::bytes key_bytes(int16_t type, const Key& k) {
    protocol::writer w;
    w.write_int16(type);
    k.encode(w, type);
    return w.take();
}

template <typename Value>
protocol::bytes value_bytes(const Value& v) {
    protocol::writer w;
    w.write_int16(0);
    v.encode(w, 0);
    return w.take();
}

template <typename Key>
Key group_key_of(const std::string& group) {
    Key k;
    k.group_id = group;
    return k;
}

template <typename Key>
Key member_key_of(const std::string& group, const std::string& member) {
    Key k;
    k.group_id = group;
    k.member_id = member;
    return k;
}

protocol::record rec(protocol::bytes key, std::optional<protocol::bytes> value) {
    protocol::record r;
    r.key = std::move(key);
    r.value = std::move(value);
    return r;
}

template <typename Out>
std::vector<Out> to_wire(const assignment& a) {
    std::vector<Out> out;
    for (const auto& [t, ps] : a) {
        auto& o = out.emplace_back();
        o.topic_id = t;
        o.partitions.assign(ps.begin(), ps.end());
    }
    return out;
}

template <typename In>
assignment from_wire(const std::vector<In>& in) {
    assignment a;
    for (const auto& t : in)
        for (int32_t p : t.partitions)
            a[t.topic_id].insert(p);
    return a;
}

protocol::bytes member_metadata_value(const consumer_member& mem) {
    m::consumer_group_member_metadata_value v;
    v.instance_id = mem.instance_id;
    v.rack_id = mem.rack_id;
    v.client_id = mem.client_id;
    v.client_host = mem.client_host;
    v.subscribed_topic_names = mem.subscribed_topics;
    v.subscribed_topic_regex = mem.subscribed_regex;
    v.rebalance_timeout_ms = mem.rebalance_timeout_ms;
    v.server_assignor = mem.server_assignor;
    return value_bytes(v);
}

protocol::bytes current_value(const consumer_member& mem) {
    m::consumer_group_current_member_assignment_value v;
    v.member_epoch = mem.member_epoch;
    v.previous_member_epoch = mem.previous_member_epoch;
    v.state = static_cast<int8_t>(mem.state);
    v.assigned_partitions =
        to_wire<m::consumer_group_current_member_assignment_value::topic_partitions>(mem.assigned);
    v.partitions_pending_revocation =
        to_wire<m::consumer_group_current_member_assignment_value::topic_partitions>(
            mem.pending_revocation);
    return value_bytes(v);
}

protocol::bytes target_value(const assignment& a) {
    m::consumer_group_target_assignment_member_value v;
    v.topic_partitions =
        to_wire<m::consumer_group_target_assignment_member_value::topic_partition>(a);
    return value_bytes(v);
}

protocol::bytes partition_metadata_value(const std::map<std::string, topic_meta>& topics) {
    m::consumer_group_partition_metadata_value v;
    for (const auto& [name, t] : topics) {
        auto& o = v.topics.emplace_back();
        o.topic_id = t.id;
        o.topic_name = name;
        o.num_partitions = t.partitions;
    }
    return value_bytes(v);
}

}  // namespace

std::vector<protocol::record> records_between(const consumer_group* before,
                                              const consumer_group& after) {
    const std::string& g = after.id();
    std::vector<protocol::record> out;
    using mmk = m::consumer_group_member_metadata_key;
    using tmk = m::consumer_group_target_assignment_member_key;
    using cak = m::consumer_group_current_member_assignment_key;
    // Members that left: their records go, newest kind first.
    if (before)
        for (const auto& [id, mem] : before->members)
            if (!after.find(id)) {
                out.push_back(rec(key_bytes(kCurrentAssignment, member_key_of<cak>(g, id)), {}));
                out.push_back(rec(key_bytes(kTargetMember, member_key_of<tmk>(g, id)), {}));
                out.push_back(rec(key_bytes(kMemberMetadata, member_key_of<mmk>(g, id)), {}));
            }
    for (const auto& [id, mem] : after.members) {
        const consumer_member* old = before ? before->find(id) : nullptr;
        if (!old || !old->same_metadata(mem))
            out.push_back(rec(key_bytes(kMemberMetadata, member_key_of<mmk>(g, id)),
                              member_metadata_value(mem)));
    }
    if (!before || before->topics != after.topics)
        out.push_back(rec(key_bytes(kPartitionMetadata,
                                    group_key_of<m::consumer_group_partition_metadata_key>(g)),
                          partition_metadata_value(after.topics)));
    if (!before || before->group_epoch != after.group_epoch) {
        m::consumer_group_metadata_value v;
        v.epoch = after.group_epoch;
        out.push_back(
            rec(key_bytes(kGroupMetadata, group_key_of<m::consumer_group_metadata_key>(g)),
                value_bytes(v)));
    }
    for (const auto& [id, a] : after.target) {
        const assignment* old = nullptr;
        if (before) {
            auto it = before->target.find(id);
            if (it != before->target.end()) old = &it->second;
        }
        if (!old || *old != a)
            out.push_back(
                rec(key_bytes(kTargetMember, member_key_of<tmk>(g, id)), target_value(a)));
    }
    if (!before || before->assignment_epoch != after.assignment_epoch) {
        m::consumer_group_target_assignment_metadata_value v;
        v.assignment_epoch = after.assignment_epoch;
        out.push_back(
            rec(key_bytes(kTargetMetadata,
                          group_key_of<m::consumer_group_target_assignment_metadata_key>(g)),
                value_bytes(v)));
    }
    for (const auto& [id, mem] : after.members) {
        const consumer_member* old = before ? before->find(id) : nullptr;
        if (!old || !old->same_current(mem))
            out.push_back(
                rec(key_bytes(kCurrentAssignment, member_key_of<cak>(g, id)), current_value(mem)));
    }
    return out;
}

std::vector<protocol::record> group_tombstones(const consumer_group& grp) {
    const std::string& g = grp.id();
    std::vector<protocol::record> out;
    for (const auto& [id, mem] : grp.members) {
        out.push_back(
            rec(key_bytes(kCurrentAssignment,
                          member_key_of<m::consumer_group_current_member_assignment_key>(g, id)),
                {}));
        out.push_back(
            rec(key_bytes(kTargetMember,
                          member_key_of<m::consumer_group_target_assignment_member_key>(g, id)),
                {}));
        out.push_back(rec(
            key_bytes(kMemberMetadata, member_key_of<m::consumer_group_member_metadata_key>(g, id)),
            {}));
    }
    out.push_back(rec(key_bytes(kTargetMetadata,
                                group_key_of<m::consumer_group_target_assignment_metadata_key>(g)),
                      {}));
    out.push_back(rec(
        key_bytes(kPartitionMetadata, group_key_of<m::consumer_group_partition_metadata_key>(g)),
        {}));
    out.push_back(
        rec(key_bytes(kGroupMetadata, group_key_of<m::consumer_group_metadata_key>(g)), {}));
    return out;
}

// ---- loading ----

namespace {

template <typename T>
bool decode_as(protocol::bytes_view b, int16_t version, T& out) {
    protocol::reader r(b);
    if (r.read_int16() != version || !r.ok()) return false;
    out.decode(r, version);
    return r.ok();
}

}  // namespace

bool consumer_group_loader::has(const std::string& group_id) const {
    auto it = staged_.find(group_id);
    return it != staged_.end() && it->second.epoch.has_value();
}

void consumer_group_loader::forget(const std::string& group_id) {
    staged_.erase(group_id);
}

bool consumer_group_loader::replay(int16_t type, protocol::bytes_view key,
                                   const std::optional<protocol::bytes_view>& value) {
    auto member_key = [&](auto k, std::string& group, std::string& member) {
        if (!decode_as(key, type, k)) return false;
        group = std::move(k.group_id);
        member = std::move(k.member_id);
        return true;
    };
    auto group_key = [&](auto k, std::string& group) {
        if (!decode_as(key, type, k)) return false;
        group = std::move(k.group_id);
        return true;
    };
    std::string g, mid;
    switch (type) {
        case kGroupMetadata: {
            if (!group_key(m::consumer_group_metadata_key{}, g)) return false;
            if (!value) {
                staged_.erase(g);  // the group is deleted (its other records went before)
                return true;
            }
            m::consumer_group_metadata_value v;
            if (!decode_as(*value, 0, v)) return false;
            staged_[g].epoch = v.epoch;
            return true;
        }
        case kPartitionMetadata: {
            if (!group_key(m::consumer_group_partition_metadata_key{}, g)) return false;
            auto& s = staged_[g];
            s.topics.clear();
            if (!value) return true;
            m::consumer_group_partition_metadata_value v;
            if (!decode_as(*value, 0, v)) return false;
            for (const auto& t : v.topics)
                s.topics[t.topic_name] = topic_meta{t.topic_id, t.num_partitions};
            return true;
        }
        case kMemberMetadata: {
            if (!member_key(m::consumer_group_member_metadata_key{}, g, mid)) return false;
            auto& s = staged_[g];
            if (!value) {
                s.metadata.erase(mid);
                return true;
            }
            m::consumer_group_member_metadata_value v;
            if (!decode_as(*value, 0, v)) return false;
            auto& mem = s.metadata[mid];
            mem.id = mid;
            mem.instance_id = v.instance_id;
            mem.rack_id = v.rack_id;
            mem.client_id = v.client_id;
            mem.client_host = v.client_host;
            mem.subscribed_topics = v.subscribed_topic_names;
            mem.subscribed_regex = v.subscribed_topic_regex;
            mem.rebalance_timeout_ms = v.rebalance_timeout_ms;
            mem.server_assignor = v.server_assignor;
            return true;
        }
        case kTargetMetadata: {
            if (!group_key(m::consumer_group_target_assignment_metadata_key{}, g)) return false;
            auto& s = staged_[g];
            if (!value) {
                s.assignment_epoch = 0;
                return true;
            }
            m::consumer_group_target_assignment_metadata_value v;
            if (!decode_as(*value, 0, v)) return false;
            s.assignment_epoch = v.assignment_epoch;
            return true;
        }
        case kTargetMember: {
            if (!member_key(m::consumer_group_target_assignment_member_key{}, g, mid)) return false;
            auto& s = staged_[g];
            if (!value) {
                s.target.erase(mid);
                return true;
            }
            m::consumer_group_target_assignment_member_value v;
            if (!decode_as(*value, 0, v)) return false;
            s.target[mid] = from_wire(v.topic_partitions);
            return true;
        }
        case kCurrentAssignment: {
            if (!member_key(m::consumer_group_current_member_assignment_key{}, g, mid))
                return false;
            auto& s = staged_[g];
            if (!value) {
                s.current.erase(mid);
                return true;
            }
            m::consumer_group_current_member_assignment_value v;
            if (!decode_as(*value, 0, v)) return false;
            auto& mem = s.current[mid];
            mem.member_epoch = v.member_epoch;
            mem.previous_member_epoch = v.previous_member_epoch;
            mem.state = static_cast<member_state>(v.state);
            if (mem.state != member_state::unrevoked && mem.state != member_state::unreleased)
                mem.state = member_state::stable;  // stable, or a state this version does not know
            mem.assigned = from_wire(v.assigned_partitions);
            mem.pending_revocation = from_wire(v.partitions_pending_revocation);
            return true;
        }
        default:
            return false;
    }
}

std::map<std::string, consumer_group> consumer_group_loader::build(int64_t now) {
    std::map<std::string, consumer_group> out;
    for (auto& [id, s] : staged_) {
        if (!s.epoch) continue;
        consumer_group g(id);
        g.group_epoch = *s.epoch;
        g.assignment_epoch = s.assignment_epoch;
        g.topics = std::move(s.topics);
        for (auto& [mid, md] : s.metadata) {
            consumer_member mem = std::move(md);
            auto cur = s.current.find(mid);
            if (cur != s.current.end()) {
                mem.member_epoch = cur->second.member_epoch;
                mem.previous_member_epoch = cur->second.previous_member_epoch;
                mem.state = cur->second.state;
                mem.assigned = std::move(cur->second.assigned);
                mem.pending_revocation = std::move(cur->second.pending_revocation);
            }
            mem.last_heard_ms = now;
            if (mem.state == member_state::unrevoked)
                mem.revoke_deadline_ms =
                    now + (mem.rebalance_timeout_ms > 0 ? mem.rebalance_timeout_ms : 300'000);
            auto tgt = s.target.find(mid);
            if (tgt != s.target.end()) g.target[mid] = std::move(tgt->second);
            g.members.emplace(mid, std::move(mem));
        }
        out.emplace(id, std::move(g));
    }
    staged_.clear();
    return out;
}

}  // namespace rill::coordinator
