// The append path shared by the Kafka Produce handler and the admin endpoint's HTTP produce:
// topic-level batch rules, then one append per partition on its owner shard (all shards in
// parallel), the high watermark and long-poll wake-up, and optionally the wait for fsync.
//
// Threading: append_batches() is a coroutine callable from any executor (a Kafka shard or the
// admin thread); it resumes on the caller's executor. Items must outlive the call.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "broker/errors.h"
#include "broker/partition_manager.h"
#include "cluster/metadata_store.h"
#include "common/asio.h"
#include "common/config.h"
#include "protocol/wire.h"

namespace rill::broker {

// What a topic's configuration demands of produced batches.
struct topic_produce_rules {
    int64_t max_message_bytes = 1048588;  // max.message.bytes
    bool compacted = false;               // cleanup.policy contains compact: keys required
    int32_t min_insync = 1;               // min.insync.replicas (acks=all)
};
topic_produce_rules produce_rules(const cluster::topic_info& topic, const broker_config& config);

// True when every record of the (validated) batch has a non-null key.
bool all_records_keyed(const protocol::bytes& batch);

// One partition's batch and, after append_batches(), its outcome.
struct append_item {
    std::shared_ptr<partition> part;  // REQUIRES: non-null
    protocol::bytes batch;            // one validated magic-2 batch; stamped in place
    int32_t min_insync = 1;           // acks=all: the ISR must have this many replicas
    error_code error = error_code::none;
    std::optional<std::string> error_message;
    int64_t base_offset = -1;
    int64_t log_append_time = -1;
    int64_t log_start_offset = -1;
};

// How long append_batches() waits, and for what.
struct append_wait {
    bool replicated = false;  // acks=all: the high watermark passes the batch (the whole ISR
                              // has it); NOT_ENOUGH_REPLICAS below min.insync.replicas
    bool durable = false;     // acks=all with rill.acks.all.fsync: the batch is fsynced
    std::chrono::milliseconds timeout{30000};
};

// Appends every item on its partition's owner shard (NOT_LEADER_OR_FOLLOWER unless this
// broker leads it). Then waits as `wait` says: items not replicated / durable by the timeout
// get REQUEST_TIMED_OUT, failed flushes KAFKA_STORAGE_ERROR, a leadership change
// NOT_LEADER_OR_FOLLOWER, an ISR that shrank below min.insync.replicas meanwhile
// NOT_ENOUGH_REPLICAS_AFTER_APPEND. Records the BrokerTopicMetrics produce counters.
boost::asio::awaitable<void> append_batches(partition_manager& pm, std::vector<append_item>& items,
                                            append_wait wait);

}  // namespace rill::broker
