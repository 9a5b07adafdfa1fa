// What a produced partition's records must satisfy before they are appended, and where that
// check runs.
//
// Per partition (prepare_records): legacy message sets (magic 0/1, Produce v0-v2 only) are
// converted into one magic-2 batch; then the batch is validated record by record
// (protocol/batch_validation.h: Kafka's LogValidator rules with the topic's timestamp bounds and
// compaction), max.message.bytes is enforced, zstd needs Produce v7+, and a max_timestamp the
// producer got wrong is corrected.
//
// Where (validate_produced): a shard must never be held for long by one request, so
//   - uncompressed batches up to 1 MiB, and compressed ones of up to 64 KiB whose decoder needs
//     at most 1 MiB and whose records inflate to at most 1 MiB, are validated inline;
//   - everything else (larger batches, legacy conversion, a compressed batch that turns out to
//     inflate beyond 1 MiB) goes to the broker's validation pool, one task per request that
//     handles that request's partitions in order; the connection's shard serves others
//     meanwhile.
// Bounds: the records of one request may inflate to rill.produce.max.inflated.bytes in total.
// Decoder state and legacy conversion output held while validating are charged to the request
// budget (net::connection_info::budget) when it has room; whether or not it has, the pool's
// thread count bounds how many such validations hold memory at once (a request that already
// holds its own reservation never waits for more, which could deadlock the budget).
//
// Threading: validate_produced() is a coroutine on the connection's shard; it resumes there.
// prepare_records() is pure and runs anywhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "broker/errors.h"
#include "cluster/metadata_store.h"
#include "common/asio.h"
#include "common/config.h"
#include "common/memory_budget.h"
#include "common/work_pool.h"
#include "protocol/batch_validation.h"
#include "protocol/wire.h"

namespace rill::broker {

// A topic's rules for produced records.
struct record_checks {
    protocol::record_rules rules;         // now_ms and limits are set per request
    int64_t max_message_bytes = 1048588;  // max.message.bytes
};
record_checks record_checks_for(const cluster::topic_info& topic, const broker_config& config);

// One partition's records and, after validation, their outcome.
struct produced_records {
    std::string partition;      // "topic-3", for messages
    protocol::bytes_view data;  // as sent; must outlive validation
    const record_checks* checks = nullptr;
    // Outcome: the batch to append, or an error with an optional message and record errors.
    std::optional<protocol::bytes> batch;
    error_code error = error_code::none;
    std::optional<std::string> message;
    std::vector<protocol::record_rejection> record_errors;
};

// Validates one partition synchronously. `inflate_left` (in/out) is what the request's records
// may still inflate to; `inline_limit` > 0 makes a compressed batch that would inflate beyond
// it fail with `needs_pool` set instead (the caller then retries off the shard).
struct prepare_options {
    int16_t produce_version = 9;
    int64_t now_ms = 0;
    size_t inline_limit = 0;
};
void prepare_records(produced_records& p, const prepare_options& o, size_t& inflate_left,
                     bool* needs_pool = nullptr);

// Validates every partition of a produce request (see the header comment for where).
boost::asio::awaitable<void> validate_produced(work_pool& pool, memory_budget* budget,
                                               std::vector<produced_records>& parts,
                                               int16_t produce_version, size_t max_inflated);

}  // namespace rill::broker
