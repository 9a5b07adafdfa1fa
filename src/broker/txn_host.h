// Connects the transaction coordinator to this broker (see txn::txn_host): the
// __transaction_state partitions through the group coordinator's host shape, and the
// transaction markers: one control batch (COMMIT or ABORT, the producer's id and epoch, the
// coordinator epoch) appended as leader to every partition of the transaction with acks=all
// rules, after which pending transactional offsets on __consumer_offsets partitions apply or
// go. Single node: every partition is local. Partitions of deleted topics are skipped.
#pragma once

#include "broker/broker.h"
#include "broker/partition_manager.h"
#include "cluster/metadata_store.h"
#include "common/config.h"
#include "coordinator/group_coordinator.h"
#include "txn/txn_coordinator.h"

namespace rill::broker {

txn::txn_host make_txn_host(partition_manager& pm, const broker_config& config,
                            cluster::metadata_store& metadata, broker& b,
                            coordinator::group_coordinator& groups);

}  // namespace rill::broker
