// Per-log configuration. The broker maps topic configs (segment.bytes, flush.messages, ...)
// and broker defaults (log.segment.bytes, log.flush.interval.messages, ...) onto one of these
// per partition log; the names below give the Kafka config each field comes from.
#pragma once

#include <cstdint>
#include <limits>

namespace rill::storage {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

struct log_config {
    int64_t segment_bytes = 1LL << 30;              // segment.bytes (capped at 2^31-1)
    int64_t segment_ms = 7LL * 24 * 3600 * 1000;    // segment.ms
    uint32_t index_interval_bytes = 4096;           // index.interval.bytes
    int64_t segment_index_bytes = 10LL << 20;       // segment.index.bytes
    int64_t retention_ms = 7LL * 24 * 3600 * 1000;  // retention.ms, -1 = unlimited
    int64_t retention_bytes = -1;                   // retention.bytes, -1 = unlimited
    int64_t flush_messages = kNever;                // flush.messages / log.flush.interval.messages
    int64_t flush_ms = kNever;                      // flush.ms / log.flush.interval.ms
    bool log_append_time = false;                   // message.timestamp.type=LogAppendTime
    bool cleanup_delete = true;                     // cleanup.policy contains "delete"
    bool cleanup_compact = false;                   // cleanup.policy contains "compact"
    int64_t delete_retention_ms = 24LL * 3600 * 1000;  // delete.retention.ms
    double min_cleanable_dirty_ratio = 0.5;            // min.cleanable.dirty.ratio
    int64_t min_compaction_lag_ms = 0;                 // min.compaction.lag.ms
};

}  // namespace rill::storage
