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
// Transactions (KIP-98): a transactional batch of a producer with no open transaction on this
// partition opens one at its base offset; the producer's next control batch (COMMIT or ABORT
// marker, written by the transaction coordinator) closes it. An aborted transaction is kept as
// {producer id, first offset, marker offset} until the log start passes its marker: that list
// is the partition's aborted transaction index (read_committed fetches return the entries in
// their range). The last stable offset is the first offset of the oldest open transaction.
//
// Snapshot file `<20-digit offset>.snapshot` (state after every batch below `offset`):
//   "RPS2" | u32 count | count x producer | u32 n | n x aborted | u32 CRC-32C of all before
//   producer = i64 id | i16 epoch | i64 last_timestamp | i64 txn_first_offset | u8 n | n x batch
//   batch    = i32 first_seq | i32 last_seq | i64 first_offset | i64 last_offset | i64 ts
//   aborted  = i64 producer id | i64 first_offset | i64 last_offset
// "RPS1" snapshots (no transactions: no txn_first_offset, no aborted list) are still read.
//
// Single-writer: owned by a partition_log, used on its owner executor.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
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
    int64_t txn_first_offset = -1;       // first offset of its open transaction; -1: none
    std::deque<producer_batch> batches;  // oldest first, at most kProducerBatchesToRetain
};

// One aborted transaction of a partition: its producer, its first offset and the offset of its
// ABORT marker.
struct aborted_txn {
    int64_t producer_id = -1;
    int64_t first_offset = -1;
    int64_t last_offset = -1;
    friend bool operator==(const aborted_txn&, const aborted_txn&) = default;
};

// Control record types (the key of a control batch's record: i16 version, i16 type).
constexpr int16_t kControlAbort = 0;
constexpr int16_t kControlCommit = 1;
// The type of the control record in `batch` (a whole uncompressed control batch), or -1.
int16_t control_type_of(std::span<const uint8_t> batch);

class producer_state {
  public:
    // nullopt: append it. A producer_batch: it duplicates that cached batch. Or an error.
    result<std::optional<producer_batch>> check(const protocol::batch_header& h) const;
    // Records a batch that has been written (header with its final base offset).
    // `control_type` is the control record's type for a control batch (control_type_of).
    void update(const protocol::batch_header& h, int16_t control_type = -1);
    // Forgets producers whose last batch ends below `log_start_offset` (unless a transaction
    // of theirs is open) and aborted transactions whose marker is below it.
    void remove_below(int64_t log_start_offset);
    void clear() {
        producers_.clear();
        ongoing_.clear();
        aborted_.clear();
    }

    // The first offset of the oldest open transaction, nullopt when none is open.
    std::optional<int64_t> first_unstable_offset() const {
        if (ongoing_.empty()) return std::nullopt;
        return ongoing_.begin()->first;
    }
    // Open transactions: first offset -> producer id.
    const std::map<int64_t, int64_t>& ongoing() const { return ongoing_; }
    // Aborted transactions that overlap [from, upper): marker at or after `from`, first offset
    // below `upper`; sorted by first offset.
    std::vector<aborted_txn> aborted_between(int64_t from, int64_t upper) const;
    const std::vector<aborted_txn>& aborted() const { return aborted_; }

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
    std::map<int64_t, int64_t> ongoing_;  // first offset -> producer id
    std::vector<aborted_txn> aborted_;    // in marker order
};

// Snapshot offsets present in `dir`, ascending.
result<std::vector<int64_t>> list_snapshots(file_system& fs, const std::string& dir);

}  // namespace rill::storage
