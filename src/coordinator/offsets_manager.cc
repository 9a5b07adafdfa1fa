#include "coordinator/offsets_manager.h"

#include "coordinator/offsets_records.h"

namespace rill::coordinator {

namespace m = protocol::messages;

const committed_offset* offsets_manager::find(const std::string& group_id,
                                              const topic_partition& tp) const {
    auto g = offsets_.find(group_id);
    if (g == offsets_.end()) return nullptr;
    auto it = g->second.find(tp);
    return it == g->second.end() ? nullptr : &it->second;
}

const offsets_manager::group_offsets* offsets_manager::of(const std::string& group_id) const {
    auto g = offsets_.find(group_id);
    return g == offsets_.end() ? nullptr : &g->second;
}

bool offsets_manager::has_offsets(const std::string& group_id) const {
    return of(group_id) != nullptr;
}

size_t offsets_manager::count() const {
    size_t n = 0;
    for (const auto& [id, offs] : offsets_)
        n += offs.size();
    return n;
}

std::vector<std::string> offsets_manager::group_ids() const {
    std::vector<std::string> out;
    for (const auto& [id, offs] : offsets_)
        out.push_back(id);
    return out;
}

void offsets_manager::put(const std::string& group_id, const topic_partition& tp,
                          committed_offset co) {
    offsets_[group_id][tp] = std::move(co);
}

void offsets_manager::erase(const std::string& group_id, const topic_partition& tp) {
    auto g = offsets_.find(group_id);
    if (g == offsets_.end()) return;
    g->second.erase(tp);
    if (g->second.empty()) offsets_.erase(g);
}

void offsets_manager::erase_group(const std::string& group_id) {
    offsets_.erase(group_id);
}

protocol::record offsets_manager::commit_record(const std::string& group_id,
                                                const topic_partition& tp,
                                                const committed_offset& co) {
    m::offset_commit_value val;
    val.offset = co.offset;
    val.leader_epoch = co.leader_epoch;
    val.metadata = co.metadata;
    val.commit_timestamp = co.commit_timestamp;
    val.expire_timestamp = co.expire_timestamp;
    protocol::record rec;
    rec.key = encode_offset_key({group_id, tp.topic, tp.partition});
    rec.value = encode_offset_value(val);
    return rec;
}

protocol::record offsets_manager::tombstone(const std::string& group_id,
                                            const topic_partition& tp) {
    protocol::record rec;
    rec.key = encode_offset_key({group_id, tp.topic, tp.partition});
    return rec;
}

std::vector<topic_partition> offsets_manager::expired(const std::string& group_id, const group* g,
                                                      int64_t now, int64_t retention_ms) const {
    std::vector<topic_partition> out;
    const auto* offs = of(group_id);
    if (!offs) return out;
    auto past = [&](const committed_offset& co, int64_t base) {
        return co.expire_timestamp >= 0 ? now >= co.expire_timestamp : now - base >= retention_ms;
    };
    if (!g || g->is_empty()) {
        const int64_t group_base = g ? g->offsets_expiry_base() : -1;
        for (const auto& [tp, co] : *offs)
            if (past(co, group_base >= 0 ? group_base : co.commit_timestamp)) out.push_back(tp);
    } else if (g->expires_unsubscribed_offsets()) {
        for (const auto& [tp, co] : *offs)
            if (!g->subscribed_to(tp.topic) && past(co, co.commit_timestamp)) out.push_back(tp);
    }
    return out;
}

}  // namespace rill::coordinator
