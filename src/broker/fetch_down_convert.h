// Fetch v0-v3 down-conversion (protocol/down_convert.h) inside the broker: which partitions are
// converted, where the work runs and what it may hold.
//
//   - topic `message.downconversion.enable` (falling back to the broker's
//     `log.message.downconversion.enable`) false: the partition is answered with
//     UNSUPPORTED_VERSION and no records, as Kafka does;
//   - otherwise its records (file regions from the log read) are read into memory and
//     converted on the broker's work pool, never on a shard (the reads are preads, the
//     conversion inflates and compresses); the connection's shard serves others meanwhile;
//   - each partition converts at most its partition_max_bytes and, in total, the response's
//     max_bytes (v3): the first partition with records always gets at least one message, a
//     later one gets nothing once the limit is reached (its next fetch asks again);
//   - memory: the read bytes plus the bound of the converted output are charged to the request
//     budget (net::connection_info::budget) while converting; when the budget has no room,
//     partitions after the first with records are answered without records, never waited for
//     (a request that holds its own reservation must not wait for more).
//   - a zstd batch gives UNSUPPORTED_COMPRESSION_TYPE, stored data that does not convert
//     CORRUPT_MESSAGE (kafka_error_code of the record_error).
//
// Threading: down_convert_fetch() is a coroutine on the connection's shard and resumes there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/asio.h"
#include "common/memory_budget.h"
#include "common/work_pool.h"
#include "protocol/wire.h"

namespace rill::broker {

struct down_convert_job {
    protocol::record_data* records;  // in: the log read's regions; out: the message set
    int16_t* error_code;
    int64_t fetch_offset = 0;
    size_t max_bytes = 0;  // partition_max_bytes
};

// Converts every job in order for a Fetch of `version` (0-3); `response_max_bytes` is the
// request's max_bytes (v3) or SIZE_MAX.
boost::asio::awaitable<void> down_convert_fetch(work_pool& pool, memory_budget* budget,
                                                int16_t version, size_t response_max_bytes,
                                                std::vector<down_convert_job>& jobs);

}  // namespace rill::broker
