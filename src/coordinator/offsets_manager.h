// The committed offsets of the groups of one __consumer_offsets partition (Kafka's
// OffsetMetadataManager): what OffsetFetch reads, what OffsetCommit / OffsetDelete /
// DeleteGroups / expiry change, and the OffsetCommit records that carry those changes.
//
// Only committed state lives here: the coordinator shard calls put()/erase() once the
// records of a change are committed to the partition (replicated to the ISR), never before,
// so OffsetFetch cannot return a commit that a coordinator failover could lose.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "coordinator/group.h"
#include "protocol/record_batch.h"
#include "storage/log_manager.h"

namespace rill::coordinator {

using topic_partition = storage::topic_partition;

struct committed_offset {
    int64_t offset = -1;
    int32_t leader_epoch = -1;
    std::string metadata;
    int64_t commit_timestamp = 0;
    int64_t expire_timestamp = -1;  // explicit (OffsetCommit v2-v4 retention), else -1
    friend bool operator==(const committed_offset&, const committed_offset&) = default;
};

class offsets_manager {
  public:
    using group_offsets = std::map<topic_partition, committed_offset>;

    // nullptr when nothing is committed for (group, tp) / for the group.
    const committed_offset* find(const std::string& group_id, const topic_partition& tp) const;
    const group_offsets* of(const std::string& group_id) const;
    bool has_offsets(const std::string& group_id) const;
    size_t count() const;
    std::vector<std::string> group_ids() const;

    // Applies committed changes.
    void put(const std::string& group_id, const topic_partition& tp, committed_offset co);
    void erase(const std::string& group_id, const topic_partition& tp);
    void erase_group(const std::string& group_id);
    void clear() { offsets_.clear(); }

    // The record of a commit, and the tombstone of one committed offset.
    static protocol::record commit_record(const std::string& group_id, const topic_partition& tp,
                                          const committed_offset& co);
    static protocol::record tombstone(const std::string& group_id, const topic_partition& tp);

    // The offsets of `group_id` that have expired at `now` (offsets.retention.ms =
    // `retention_ms`): for an empty group (or none: offsets only) every offset past retention,
    // counted from when the group became empty (KIP-211) or from its commit; for a stable
    // consumer group the offsets of topics it no longer subscribes to. An explicit expire
    // timestamp (OffsetCommit v2-v4) wins.
    std::vector<topic_partition> expired(const std::string& group_id, const group* g, int64_t now,
                                         int64_t retention_ms) const;

  private:
    std::map<std::string, group_offsets> offsets_;
};

}  // namespace rill::coordinator
