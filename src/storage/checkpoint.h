// Small checkpoint files of a partition directory, always written atomically
// (write_file_atomic: temp file, fdatasync, rename, fsync of the directory).
//
// partition.checkpoint (text; the last line is a CRC-32C of the lines before it):
//   rill-partition 1
//   recovery_point <offset>    every batch below it was synced before the checkpoint
//   log_start <offset>
//   high_watermark <offset>
//   cleaner <offset>           first offset the cleaner has not compacted yet
//   crc <decimal crc32c>
//
// leader-epoch.checkpoint (text, same CRC line):
//   rill-leader-epoch 1
//   <count>
//   <epoch> <start offset>     one line per entry, both increasing
//   crc <decimal crc32c>
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "storage/file_system.h"

namespace rill::storage {

struct partition_checkpoint {
    int64_t recovery_point = 0;
    int64_t log_start = 0;
    int64_t high_watermark = 0;
    int64_t cleaner_offset = 0;

    std::string serialize() const;
    static std::optional<partition_checkpoint> parse(const std::string& text);
};

// OffsetForLeaderEpoch answer; {-1, -1} is Kafka's UNDEFINED_EPOCH / UNDEFINED_EPOCH_OFFSET.
struct epoch_end_offset {
    int32_t leader_epoch = -1;
    int64_t end_offset = -1;
    bool undefined() const { return leader_epoch < 0 && end_offset < 0; }
};

// Maps leader epochs to the first offset written in them (OffsetForLeaderEpoch).
// Single-writer: owned by a partition_log.
class leader_epoch_cache {
  public:
    struct entry {
        int32_t epoch = 0;
        int64_t start_offset = 0;
    };

    // Records that `epoch` starts at `offset`; ignored unless epoch > latest. True if added.
    bool assign(int32_t epoch, int64_t offset);
    // Drops entries starting at or after `offset` (after truncating the log there).
    void truncate_from(int64_t offset);
    // The end offset of `epoch` (start of the next greater epoch, or `leo` for the latest)
    // and the largest epoch <= `epoch`; nullopt when no epoch <= `epoch` is known.
    // NOTE: differs from Kafka in two corner cases: `epoch` below every known epoch gives
    // nullopt (Kafka: {epoch, start offset of the first known epoch}) and `epoch` above the
    // latest gives {latest, leo} (Kafka: undefined). See offset_for_leader_epoch().
    std::optional<std::pair<int32_t, int64_t>> end_offset_for(int32_t epoch, int64_t leo) const;
    // Kafka's LeaderEpochFileCache.endOffsetFor (KIP-101/KIP-279), exactly:
    //   epoch < 0 or cache empty          -> undefined {-1, -1}
    //   epoch == latest                   -> {epoch, leo}
    //   epoch > latest                    -> undefined {-1, -1}
    //   epoch < first known epoch         -> {epoch, start offset of the first known epoch}
    //   otherwise                         -> {largest known epoch <= epoch,
    //                                         start offset of the first known epoch > epoch}
    epoch_end_offset offset_for_leader_epoch(int32_t epoch, int64_t leo) const;
    void clear() { entries_.clear(); }
    std::optional<int32_t> latest_epoch() const;
    const std::vector<entry>& entries() const { return entries_; }

    std::string serialize() const;
    static std::optional<leader_epoch_cache> parse(const std::string& text);

  private:
    std::vector<entry> entries_;
};

// The files one checkpoint write puts in a partition directory (each part optional), written
// in this order, each one atomically (write_file_atomic): partition.checkpoint,
// leader-epoch.checkpoint, then the clean-shutdown marker. The only writer of these files.
struct checkpoint_files {
    std::optional<std::string> partition;      // partition_checkpoint::serialize()
    std::optional<std::string> leader_epochs;  // leader_epoch_cache::serialize()
    bool clean_shutdown = false;               // also write the clean-shutdown marker
};
// Blocking (fsyncs); stops at the first failure.
status write_checkpoint_files(file_system& fs, const std::string& dir, const checkpoint_files& c);

// Serialized text plus its CRC line, and the check on read.
std::string with_crc_line(const std::string& body);
std::optional<std::string> strip_crc_line(const std::string& text);

}  // namespace rill::storage
