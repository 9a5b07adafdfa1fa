// Idempotent-producer state of one partition (KAFKA-COMPAT.md §2.9): per producer id, its
// epoch and the sequence ranges and offsets of its last 5 batches.
//
//   - non-idempotent batches (producer_id < 0) and control batches are not checked;
//   - unknown producer: any sequence is accepted (its state may have been removed by
//     retention or DeleteRecords);
//   - epoch < known epoch: invalid_producer_epoch;
//   - epoch > known epoch: the batch must start at sequence 0, else out_of_order_sequence;
//   - same epoch: a batch equal to one of the 5 cached ones is a duplicate (the caller answers
//     success with the original offsets); otherwise base_sequence must be last_sequence + 1
//     (wrapping at INT32_MAX), else out_of_order_sequence.
//
// Snapshot file `<20-digit offset>.snapshot` (state after every batch below `offset`):
//   "RPS1" | u32 count | count x producer | u32 CRC-32C of everything before it
//   producer = i64 id | i16 epoch | i64 last_timestamp | u8 n | n x batch
//   batch    = i32 first_seq | i32 last_seq | i64 first_offset | i64 last_offset | i64 ts
//
// Single-writer: owned by a partition_log, used on its owner executor.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/record_batch_header.h"
#include "storage/file_system.h"

namespace rill::storage {

constexpr size_t kProducerBatchesToRetain = 5;

struct producer_batch {
    int32_t first_seq = -1;
    int32_t last_seq = -1;
    int64_t first_offset = -1;
    int64_t last_offset = -1;
    int64_t timestamp = -1;
};

struct producer_entry {
    int16_t epoch = -1;
    int64_t last_timestamp = -1;
    std::deque<producer_batch> batches;  // oldest first, at most kProducerBatchesToRetain
};

class producer_state {
  public:
    // nullopt: append it. A producer_batch: it duplicates that cached batch. Or an error.
    result<std::optional<producer_batch>> check(const protocol::batch_header& h) const;
    // Records a batch that has been written (header with its final base offset).
    void update(const protocol::batch_header& h);
    // Forgets producers whose last batch ends below `log_start_offset`.
    void remove_below(int64_t log_start_offset);
    void clear() { producers_.clear(); }

    const producer_entry* find(int64_t producer_id) const;
    // Every known producer (DescribeProducers).
    const std::unordered_map<int64_t, producer_entry>& all() const { return producers_; }
    size_t size() const { return producers_.size(); }

    std::vector<uint8_t> serialize() const;
    static result<producer_state> deserialize(std::span<const uint8_t> data);

    // Writes `<offset>.snapshot` atomically in `dir` and keeps only the newest `keep`.
    status write_snapshot(file_system& fs, const std::string& dir, int64_t offset,
                          size_t keep = 2) const;
    // Loads the newest readable snapshot at or below `max_offset`, deleting newer ones.
    // Returns its offset, or nullopt when there is none (state is then empty).
    result<std::optional<int64_t>> load_snapshot(file_system& fs, const std::string& dir,
                                                 int64_t max_offset);

  private:
    std::unordered_map<int64_t, producer_entry> producers_;
};

// Snapshot offsets present in `dir`, ascending.
result<std::vector<int64_t>> list_snapshots(file_system& fs, const std::string& dir);

}  // namespace rill::storage
