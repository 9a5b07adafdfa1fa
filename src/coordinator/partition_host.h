// A coordinator shard's view of its __consumer_offsets partition on this broker: the
// shard_host (coordinator_shard.h) over the broker's coordinator_host (group_coordinator.h).
// Loading reads the segment files on the host's blocking pool (never on the shard) and hands
// the bytes back to the owner shard, where the coordinator shard replays them.
#pragma once

#include <cstddef>
#include <memory>

#include "cluster/metadata_store.h"
#include "coordinator/coordinator_shard.h"
#include "coordinator/group_coordinator.h"

namespace rill::coordinator {

std::unique_ptr<shard_host> make_partition_host(const coordinator_host& host,
                                                cluster::metadata_store& metadata,
                                                topic_partition tp, size_t shard);

}  // namespace rill::coordinator
