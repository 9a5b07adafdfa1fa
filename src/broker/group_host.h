// Connects the group coordinator to this broker's partitions (see
// coordinator::coordinator_host): owner shards, log access, appends to __consumer_offsets and
// watermarks for lag.
#pragma once

#include "broker/partition_manager.h"
#include "coordinator/group_coordinator.h"

namespace rill::broker {

coordinator::coordinator_host make_group_host(partition_manager& pm);

}  // namespace rill::broker
