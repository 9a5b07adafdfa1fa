// Incremental fetch sessions (KIP-227).
//
//   session_id  epoch   meaning
//   0           -1      sessionless full fetch (librdkafka, kafkajs)
//   0            0      full fetch that opens a session; the response carries its id
//   id          -1      closes session `id`; the request itself is a sessionless full fetch
//   id          n>0     incremental fetch: n must be the session's next epoch; the request
//                       lists only added/changed partitions and forgotten ones; the response
//                       lists only partitions with news (records, watermark changes, errors)
//
// Ids are random in [1, 2^31 - 1] (std::random_device), never 0 and never one a live session
// holds, so another connection cannot guess a session; like Kafka nothing else ties a session
// to its connection.
//
// Bounds (Kafka's FetchSessionCache): at most `max_sessions` sessions
// (max.incremental.fetch.session.cache.slots). A new session in a full cache evicts, in order,
// the least recently used session idle for longer than `eviction_ms`, else the least valuable
// one (a consumer's before a follower's, then the one with fewer partitions) if the new one is
// worth more; otherwise the fetch is answered without a session (id 0). A session holds at most
// `max_partitions` partitions: a full fetch naming more gets no session, an incremental fetch
// that would grow past it closes the session (FETCH_SESSION_ID_NOT_FOUND; the client then
// starts over with a full fetch).
//
// Thread-safety: the cache's mutex guards the map (and the taking of a session) and is never
// held across a suspension. A session is used by one request at a time through a lease
// (acquire/create mark it in use before anyone else can see it, the lease's destructor frees
// it); a concurrent request on a session in use is refused with INVALID_FETCH_SESSION_EPOCH, as
// Kafka answers a request whose epoch is no longer the next one. The lease holder alone reads
// and writes the session's fields.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "common/result.h"
#include "protocol/wire.h"

namespace rill::broker {

struct session_partition {
    protocol::uuid topic_id;
    int64_t fetch_offset = 0;
    int32_t max_bytes = 0;
    int32_t current_leader_epoch = -1;
    // What the client was last told; an incremental response includes the partition again
    // only when one of these changed, or it has records or an error.
    int64_t last_hwm = -1;
    int64_t last_lso = -1;
    int64_t last_log_start = -1;
};

struct fetch_session {
    int32_t id = 0;
    int32_t next_epoch = 1;
    int64_t last_used_ms = 0;
    bool privileged = false;  // opened by a follower (replica fetch)
    // (topic name, partition) in the order the client added them.
    std::map<std::pair<std::string, int32_t>, session_partition> partitions;

  private:
    friend class fetch_session_cache;
    // Set under the cache's mutex (create, acquire), cleared by the lease alone, so a lease
    // never touches the cache (it may outlive it at shutdown).
    std::atomic<bool> in_use_ = false;
};

struct fetch_session_options {
    size_t max_sessions = 1000;     // max.incremental.fetch.session.cache.slots
    int64_t eviction_ms = 120000;   // idle time after which any new session may evict one
    size_t max_partitions = 10000;  // per session
    // Tests and fuzzing only: where new ids come from instead of std::random_device, so that a
    // run can be replayed. The cache still skips ids that are live.
    std::function<int32_t()> id_source;
};

class fetch_session_cache {
  public:
    // Exclusive use of one session; frees it when destroyed.
    class lease {
      public:
        lease() = default;
        lease(lease&& o) noexcept = default;
        lease& operator=(lease&& o) noexcept;
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;
        ~lease() { release(); }

        explicit operator bool() const { return s_ != nullptr; }
        fetch_session* operator->() const { return s_.get(); }
        fetch_session& operator*() const { return *s_; }
        void release();

      private:
        friend class fetch_session_cache;
        explicit lease(std::shared_ptr<fetch_session> s) : s_(std::move(s)) {}
        std::shared_ptr<fetch_session> s_;
    };

    enum class acquire_error : uint8_t { not_found, in_use };

    explicit fetch_session_cache(fetch_session_options o = {}) : opt_(o) {}

    // A new session for a full fetch of `partitions` partitions, already leased; an empty lease
    // when it would exceed max_partitions or the cache is full of sessions it may not evict.
    lease create(int64_t now_ms, size_t partitions, bool privileged);
    // Leases session `id` (not_found, or in_use while another request holds it).
    result<lease, acquire_error> acquire(int32_t id);
    // Removes session `id` (a lease still held keeps its object alive, unreachable).
    void remove(int32_t id);
    size_t size() const;
    const fetch_session_options& options() const { return opt_; }

  private:
    bool evict_one(int64_t now_ms, size_t partitions, bool privileged);  // REQUIRES: mu_ held
    int32_t new_id();                                                    // REQUIRES: mu_ held

    mutable std::mutex mu_;
    std::map<int32_t, std::shared_ptr<fetch_session>> sessions_;
    fetch_session_options opt_;
};

inline int32_t next_session_epoch(int32_t e) {
    return e == INT32_MAX ? 1 : e + 1;
}

}  // namespace rill::broker
