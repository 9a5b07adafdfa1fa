// The fetch-session part of a Fetch request (KIP-227), apart from reading the partitions:
// which session the request uses (or opens, or closes) and what it changes in that session.
// handlers/fetch.cc calls both steps; tests/fuzz/fetch_update_fuzz.cc drives them with decoded
// requests.
//
// Rules (Kafka's FetchManager.newContext and FetchSession.update), for v7+ only (older fetches
// are sessionless):
//   - id 0, epoch > 0: INVALID_FETCH_SESSION_EPOCH;
//   - id != 0, epoch -1 (final): the session is closed, the fetch is sessionless; epoch 0 with
//     any id: a full fetch that opens a new session (an existing one with that id is closed);
//   - id != 0, epoch > 0: the session must exist (FETCH_SESSION_ID_NOT_FOUND), be free and
//     carry exactly its next epoch (INVALID_FETCH_SESSION_EPOCH: a session another request is
//     using is refused alike, without waiting);
//   - a new session is refused, and the fetch is sessionless, when it names more partitions than
//     max.partitions per session or the cache is full of sessions it may not evict.
// Updating a session: forgotten partitions first, then the named ones are added or changed;
// unknown topics and partitions the topic does not have are answered once, never kept; a
// session that grows over the partition limit is removed (FETCH_SESSION_ID_NOT_FOUND).
//
// Thread-safety: as fetch_session_cache; a lease gives its holder the session alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "broker/fetch_session.h"
#include "cluster/metadata_store.h"
#include "protocol/generated/error_code.h"
#include "protocol/generated/fetch.h"

namespace rill::broker {

struct session_open {
    protocol::error_code error = protocol::error_code::none;  // when set: answer only this
    fetch_session_cache::lease session;                       // empty: sessionless
    bool incremental = false;                                 // an existing session is used
};

// `privileged`: the fetch comes from a follower (its new session may evict a consumer's).
session_open open_fetch_session(fetch_session_cache& cache,
                                const protocol::messages::fetch_request& req, int16_t version,
                                int64_t now_ms, bool privileged);

// The topic a request names (by name before v13, by id from v13), or nullptr when unknown.
using fetch_topic_lookup =
    std::function<const cluster::topic_info*(const std::string& name, const protocol::uuid& id)>;

// A partition named in the request that the session does not keep (answered once).
struct unsessioned_partition {
    const protocol::messages::fetch_request::fetch_topic* topic;
    const protocol::messages::fetch_request::fetch_topic::fetch_partition* partition;
    const cluster::topic_info* info;  // nullptr: unknown topic
};

struct session_update {
    bool removed = false;  // over the partition limit: answer FETCH_SESSION_ID_NOT_FOUND
    std::vector<unsessioned_partition> once;          // in request order
    std::set<std::pair<std::string, int32_t>> named;  // session partitions this request names
};

// Applies the request's forgotten and named partitions to the leased session.
session_update update_fetch_session(fetch_session_cache& cache, fetch_session& session,
                                    const protocol::messages::fetch_request& req,
                                    const fetch_topic_lookup& lookup, int64_t now_ms);

// After the response is built: the epoch the session's next request must carry (the request's
// successor for an incremental fetch, 1 after the full fetch that opened it).
void finish_fetch_session(fetch_session& session, const protocol::messages::fetch_request& req,
                          bool incremental);

}  // namespace rill::broker
