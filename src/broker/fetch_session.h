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
// Thread-safety: the cache is shared by all shards (mutex); a session is used by one request
// at a time (its own mutex, held for the whole fetch; a second request meanwhile is refused).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

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
    std::mutex mu;
    // (topic name, partition) in the order the client added them.
    std::map<std::pair<std::string, int32_t>, session_partition> partitions;
};

class fetch_session_cache {
  public:
    explicit fetch_session_cache(size_t max_sessions = 1000, int64_t idle_ms = 120000)
        : max_(max_sessions), idle_ms_(idle_ms) {}

    // A new session, or nullptr when the cache is full of sessions used recently.
    std::shared_ptr<fetch_session> create(int64_t now_ms);
    std::shared_ptr<fetch_session> find(int32_t id);
    void remove(int32_t id);
    size_t size() const;

  private:
    mutable std::mutex mu_;
    std::map<int32_t, std::shared_ptr<fetch_session>> sessions_;
    int32_t next_id_ = 1;
    size_t max_;
    int64_t idle_ms_;
};

inline int32_t next_session_epoch(int32_t e) {
    return e == INT32_MAX ? 1 : e + 1;
}

}  // namespace rill::broker
