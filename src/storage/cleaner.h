// Log compaction (cleanup.policy=compact / compact,delete).
//
// One pass over the closed, cleanable segments of a log (those whose largest timestamp is at
// least min.compaction.lag.ms old and that lie below the high watermark), started only when
// the dirty part (offsets >= the cleaner checkpoint) is at least min.cleanable.dirty.ratio of
// them:
//   1. map every key to the offset of its latest record;
//   2. rewrite each segment into `<base>.log.cleaned`, keeping a record only when it is the
//      latest for its key; a latest record that is a tombstone (null value) is dropped once
//      its timestamp is older than delete.retention.ms. Batches keep their base offset,
//      base/max timestamps and last_offset_delta (offsets never move and lastOffsetDelta never
//      shrinks); records keep their offset deltas; record_count, batch_length and the CRC are
//      recomputed. A batch left without records is kept empty (record_count 0): the offsets
//      of a segment stay contiguous (which recovery checks) and producer state survives.
//      Control batches are kept as is.
//   3. install: `.cleaned` -> `.log.swap` (the commit point), old files -> `.deleted`,
//      `.swap` -> `.log`. Recovery finishes a `.swap` and discards a `.cleaned`.
//
// Transactions: only segments below the last stable offset are cleanable (an open
// transaction's outcome is unknown), and the records of aborted transactions (the producer
// state's aborted list) count for no key and are removed; their batches stay, emptied, and
// control batches stay, so the aborted transaction index keeps its meaning.
//
// Records without a key are kept. Uncompressed batches are filtered in place (kept records
// copied byte for byte); compressed ones are decompressed with protocol/record_batch.h's
// record_reader and rebuilt with its batch_builder, same codec, same last_offset_delta.
//
// Tombstone horizon: Kafka measures delete.retention.ms from when the cleaner first saw the
// tombstone (delete-horizon bit); Rill measures it from the tombstone's own timestamp.
//
// Threading: partition_log::prepare_compaction() and install_compaction() run on the log's
// owner executor; compaction_job::run() runs on any one background thread. The job only reads
// closed segments (immutable) through its own handles and writes new files.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "storage/file_system.h"
#include "storage/log_config.h"
#include "storage/producer_state.h"
#include "storage/segment.h"

namespace rill::storage {

class partition_log;

struct compaction_stats {
    size_t segments = 0;
    uint64_t bytes_before = 0;
    uint64_t bytes_after = 0;
    uint64_t records_removed = 0;
    uint64_t tombstones_removed = 0;
};

class compaction_job {
  public:
    // Blocking; on a background thread.
    status run();
    const compaction_stats& stats() const { return stats_; }

  private:
    friend class partition_log;

    struct output {
        std::shared_ptr<segment> source;
        std::string cleaned_path;
        bool changed = false;
    };

    std::shared_ptr<file_system> fs_;
    std::string dir_;
    log_config config_;
    int64_t now_ms_ = 0;
    int64_t end_offset_ = 0;  // the cleaner checkpoint after this pass
    // partition_log::truncations_ when prepared: a truncation meanwhile voids the job.
    uint64_t truncations_ = 0;
    std::vector<output> outputs_;
    std::vector<aborted_txn> aborted_;  // aborted transactions overlapping the cleaned range
    status result_;
    bool ran_ = false;
    compaction_stats stats_;
};

}  // namespace rill::storage
