#include "broker/fetch_session_update.h"

namespace rill::broker {

namespace m = protocol::messages;
using protocol::error_code;

session_open open_fetch_session(fetch_session_cache& cache, const m::fetch_request& req,
                                int16_t version, int64_t now_ms, bool privileged) {
    session_open out;
    if (version < 7) return out;
    if (req.session_id == 0 && req.session_epoch > 0) {
        out.error = error_code::invalid_fetch_session_epoch;
        return out;
    }
    if (req.session_id != 0 && req.session_epoch <= 0) {
        cache.remove(req.session_id);  // final epoch closes it; epoch 0 replaces it
    } else if (req.session_id != 0) {
        auto leased = cache.acquire(req.session_id);
        if (!leased) {
            out.error = leased.error() == fetch_session_cache::acquire_error::not_found
                            ? error_code::fetch_session_id_not_found
                            : error_code::invalid_fetch_session_epoch;
            return out;
        }
        if (req.session_epoch != (*leased)->next_epoch) {
            out.error = error_code::invalid_fetch_session_epoch;
            return out;
        }
        out.session = std::move(*leased);
        out.incremental = true;
    }
    if (req.session_epoch == 0) {
        size_t named = 0;
        for (const auto& t : req.topics)
            named += t.partitions.size();
        out.session = cache.create(now_ms, named, privileged);  // empty: sessionless
    }
    return out;
}

session_update update_fetch_session(fetch_session_cache& cache, fetch_session& session,
                                    const m::fetch_request& req, const fetch_topic_lookup& lookup,
                                    int64_t now_ms) {
    session_update out;
    for (const auto& f : req.forgotten_topics_data) {
        const cluster::topic_info* t = lookup(f.topic, f.topic_id);
        const std::string& name = t ? t->name : f.topic;
        for (int32_t p : f.partitions)
            session.partitions.erase({name, p});
    }
    for (const auto& t : req.topics) {
        const cluster::topic_info* topic = lookup(t.topic, t.topic_id);
        for (const auto& fp : t.partitions) {
            if (!topic || fp.partition < 0 ||
                fp.partition >= static_cast<int32_t>(topic->partitions.size())) {
                out.once.push_back({&t, &fp, topic});
                continue;
            }
            auto& sp = session.partitions[{topic->name, fp.partition}];
            sp.topic_id = topic->id;
            sp.fetch_offset = fp.fetch_offset;
            sp.max_bytes = fp.partition_max_bytes;
            sp.current_leader_epoch = fp.current_leader_epoch;
            out.named.insert({topic->name, fp.partition});
        }
    }
    if (session.partitions.size() > cache.options().max_partitions) {
        cache.remove(session.id);
        out.removed = true;
        return out;
    }
    session.last_used_ms = now_ms;
    return out;
}

void finish_fetch_session(fetch_session& session, const m::fetch_request& req, bool incremental) {
    session.next_epoch = incremental ? next_session_epoch(req.session_epoch) : 1;
}

}  // namespace rill::broker
