// Follower replication: one fetcher per leader broker pulls every partition this broker
// follows from that leader with the Fetch API (replica_id = this broker), and appends the
// batches verbatim. Before fetching a partition after a leadership change, the follower asks
// the leader where its own latest leader epoch ends (OffsetForLeaderEpoch) and truncates a
// divergent tail there, never by high watermark alone.
//
// Threading: follow()/unfollow()/stop() from any thread. Each fetcher is a coroutine on one
// shard (the leader id picks it); logs are touched only on their owner shards.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>

#include "broker/partition_manager.h"
#include "cluster/metadata_store.h"
#include "common/config.h"

namespace rill::broker {

class replica_fetchers {
  public:
    replica_fetchers(partition_manager& pm, cluster::metadata_store& metadata,
                     broker_config& config);
    ~replica_fetchers();

    // `p` now follows `leader` at `leader_epoch`: it is (re)synchronised with the leader, then
    // fetched. Replaces any previous fetcher of the partition.
    void follow(std::shared_ptr<partition> p, int32_t leader, int32_t leader_epoch);
    void unfollow(const topic_partition& tp);
    // Stops every fetcher (their coroutines end at the next wake-up). Idempotent.
    void stop();

    struct fetcher;

  private:
    partition_manager& pm_;
    cluster::metadata_store& metadata_;
    broker_config& config_;
    std::mutex mu_;
    std::map<int32_t, std::shared_ptr<fetcher>> fetchers_;  // by leader id
    bool stopped_ = false;
};

}  // namespace rill::broker
