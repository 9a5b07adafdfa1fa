// Connects the group coordinator to this broker's partitions (see
// coordinator::coordinator_host): owner shards, log access, appends to __consumer_offsets with
// acks=all rules, the wait until a write is committed (ISR, fsync, offsets.commit.timeout.ms)
// and watermarks for lag; blocking file reads on the broker's validation pool and metadata
// store writes on its metadata thread (broker::store_write).
#pragma once

#include "broker/broker.h"
#include "broker/partition_manager.h"
#include "cluster/metadata_store.h"
#include "common/config.h"
#include "coordinator/group_coordinator.h"

namespace rill::broker {

// `topic`: the coordinator's topic (__consumer_offsets; the transaction coordinator uses the
// same shape for __transaction_state), whose min.insync.replicas applies to its appends.
coordinator::coordinator_host make_group_host(partition_manager& pm, const broker_config& config,
                                              cluster::metadata_store& metadata, broker& b,
                                              std::string topic = coordinator::kOffsetsTopic);

}  // namespace rill::broker
