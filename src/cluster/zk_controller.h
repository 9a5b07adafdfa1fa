// The controller's decisions for one partition (ZooKeeper mode), as a pure function of the
// partition's current state and the cluster's liveness, so they can be tested without a
// ZooKeeper server. The store's controller (zk_controller.cc) applies them with writes
// conditional on the controller epoch and the state znode's version. Thread-safe (no state).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "cluster/metadata_store.h"

namespace rill::cluster {

// What the partition's state should become.
struct controller_decision {
    int32_t leader = -1;  // -1: offline
    int32_t leader_epoch = 0;
    std::vector<int32_t> isr;
    bool unclean = false;              // the leader was elected from outside the ISR
    bool finish_reassignment = false;  // write `final_replicas` as the replica set
    std::vector<int32_t> final_replicas;
};

// What the controller knows about the brokers.
struct controller_view {
    const std::map<int32_t, broker_info>& live;  // registered brokers
    const std::set<int32_t>& shutting_down;      // asked for a controlled shutdown
    // Brokers whose replica of this partition is offline (a failed log dir): treated as not
    // live for it (never leader, dropped from the ISR). Nullable.
    const std::set<int32_t>* offline = nullptr;
};

// The decision for `p` (nullopt: nothing to change), Kafka's ZooKeeper-era rules:
// - a replica that is offline on its broker (view.offline) counts as gone;
// - a leader that is gone, shutting down or no longer a replica is replaced by the first
//   replica that is up and in the ISR (keeping a shutting-down leader when no other in-sync
//   replica is up; with `unclean_allowed`, the first replica that is up, the ISR becoming
//   just it; otherwise the partition goes offline); every change of leader bumps the epoch;
// - with `rebalance`, the preferred (first) replica takes over when it is up and in the ISR;
// - the ISR keeps the leader and the replicas that are up;
// - a reassignment completes once every target replica is in the ISR: leadership moves into
//   the target if needed, the ISR and the replica set shrink to it.
// A partition without a state (partition_epoch < 0) or without replicas gives nullopt.
std::optional<controller_decision> decide_partition(const partition_info& p,
                                                    const controller_view& view,
                                                    bool unclean_allowed, bool rebalance);

}  // namespace rill::cluster
