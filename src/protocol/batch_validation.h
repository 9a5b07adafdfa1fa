// Validation of a batch a producer sends, record by record, with the rules of Kafka's
// LogValidator (for batches of magic 2; legacy message sets are converted to one first).
//
// Batch level (the whole batch is refused, no record errors):
//   - the header checks and CRC of validate_batch() in producer mode: magic 2, lengths, known
//     codec, record_count >= 1, last_offset_delta == record_count - 1, no control batch;
//   - a batch with a producer id carries a base sequence >= 0;
//   - the records parse exactly (record_scan.h), record_count of them and nothing after;
//   - compressed records inflate to at most rules.max_inflated bytes, with decoder state of at
//     most rules.max_memory.
// Record level (each failing record is reported with its index, KIP-467):
//   - offset delta == the record's index (0..n-1);
//   - compacted topics: a non-null key;
//   - CreateTime topics: a timestamp other than -1 lies within
//     [now - before_max_ms, now + after_max_ms]; a batch flagged LogAppendTime by its producer
//     is judged by its max_timestamp, as every reader sees it;
//   - LogAppendTime topics: the producer must not flag the batch LogAppendTime.
// Error codes: CORRUPT_MESSAGE for bytes that fail the CRC or do not decompress; INVALID_RECORD
// for structure and record-level failures; INVALID_TIMESTAMP when any record error is a
// timestamp error (Kafka's precedence); UNSUPPORTED_COMPRESSION_TYPE for unknown codecs.
//
// Thread-safety: pure; allocation-free per record (record errors aside).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "common/result.h"
#include "protocol/record_batch.h"
#include "protocol/record_scan.h"
#include "protocol/wire.h"

namespace rill::protocol {

struct record_rules {
    int64_t now_ms = 0;
    bool log_append_time = false;  // the topic's message.timestamp.type is LogAppendTime
    int64_t timestamp_before_max_ms = std::numeric_limits<int64_t>::max();
    int64_t timestamp_after_max_ms = std::numeric_limits<int64_t>::max();
    bool require_keys = false;  // cleanup.policy includes compact
    scan_limits limits;
    // Record errors kept for the response (the total is still counted in the message).
    size_t max_record_errors = 100;
};

// One rejected record (ProduceResponse v8+ RecordErrors).
struct record_rejection {
    int32_t batch_index = 0;
    std::string message;
};

struct batch_rejection {
    int16_t error_code = 0;  // Kafka error code for the partition
    std::string message;     // the partition's error_message
    std::vector<record_rejection> records;
    bool inflate_limit = false;  // refused because of rules.limits (inflated size or memory)
};

// What validation learned about a good batch.
struct batch_facts {
    batch_header header;
    // The largest record timestamp (CreateTime), -1 when no record has one; and the offset delta
    // of the first record carrying it.
    int64_t max_timestamp = -1;
    int32_t max_timestamp_delta = -1;
    size_t inflated = 0;  // bytes of the records section after decompression
};

// Validates `data`, which must be exactly one magic-2 batch. `partition` names the partition
// in messages (e.g. "orders-3").
result<batch_facts, batch_rejection> validate_produced_batch(bytes_view data,
                                                             const record_rules& rules,
                                                             std::string_view partition);

// Sets the batch's max_timestamp to `facts.max_timestamp` when the producer's header disagrees
// (Kafka rewrites it so that the time index and ListOffsets by timestamp are right), and
// recomputes the CRC then. No-op for batches flagged LogAppendTime or without timestamps.
// REQUIRES: `batch` is the validated batch.
void correct_max_timestamp(std::span<uint8_t> batch, const batch_facts& facts);

}  // namespace rill::protocol
