// One segment of a partition log: `<20-digit base offset>.log` plus its offset and time
// indexes (layouts in storage/format.h).
//
//   .log:  | batch | batch | batch | ...        batches exactly as appended (61-byte header
//                                               + records); offsets contiguous: batch i+1
//                                               starts at batch i's last offset + 1 (the
//                                               cleaner keeps emptied batches to preserve it)
//
// Single-writer: a segment belongs to one partition_log and is used only on that log's owner
// executor. The log file handle (`log_file()`) may be shared with the flusher thread (which
// only syncs it) and with in-flight sends (which only read through the fd).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "protocol/record_batch_header.h"
#include "storage/file_system.h"
#include "storage/index.h"

namespace rill::storage {

struct segment_config {
    uint32_t index_interval_bytes = 4096;
    size_t max_index_entries = (10u << 20) / 8;  // segment.index.bytes / entry size
};

// What partition_log tells a segment about each batch it appends.
struct batch_meta {
    int64_t base_offset = 0;
    int64_t last_offset = 0;
    int64_t max_timestamp = -1;
    uint32_t size = 0;
};

struct batch_location {
    uint64_t position = 0;
    protocol::batch_header header;
};

// A time lookup split in two, so that ListOffsets by timestamp reads no file on a shard:
// segment::plan_timestamp_scan() runs on the owner (in-memory indexes only),
// segment::scan_for_timestamp() anywhere (blocking preads of [start, end) through the shared
// file handle, which keeps the file open). Appends only write beyond `end`; a concurrent
// truncation makes the scan see a short tail (not found) or an invalid one (a corrupt error).
struct timestamp_scan {
    std::shared_ptr<file> log;
    uint64_t start = 0;
    uint64_t end = 0;
    std::string path;  // for error messages
};

// A contiguous run of whole batches inside a segment.
struct segment_slice {
    uint64_t position = 0;
    uint64_t length = 0;
    int64_t last_offset = -1;  // of the last batch in the slice
    size_t batches = 0;
};

class segment {
  public:
    // A new, empty segment (files created or emptied). On failure none of its files remain.
    static result<std::shared_ptr<segment>> create(file_system& fs, const std::string& dir,
                                                   int64_t base_offset, segment_config cfg);
    enum class index_mode {
        trust,    // load the index files, sanity-check them, rebuild when they look wrong
        rebuild,  // rebuild them from the batch headers
        none,     // leave them alone: the caller runs recover() next
    };
    // An existing segment. The tail after the last index entry is scanned to learn the next
    // offset. Does not validate CRCs: see recover().
    static result<std::shared_ptr<segment>> open(file_system& fs, const std::string& dir,
                                                 int64_t base_offset, segment_config cfg,
                                                 index_mode mode);

    struct recovery_result {
        uint64_t valid_bytes = 0;
        uint64_t truncated_bytes = 0;  // removed from the end of the file
        std::string reason;            // why the first invalid byte was invalid; empty if none
    };
    // Re-validates every batch (length, magic 2, CRC-32C, offsets contiguous: the first batch
    // starts at the base offset and each next one right after its predecessor's last offset),
    // rebuilds both indexes and truncates the file at the first invalid byte.
    result<recovery_result> recover();

    // Appends `data` (the concatenation of `batches`, already stamped) at the end.
    // On failure the file is truncated back to its previous size when possible; when even
    // that fails, `broken()` becomes true and the caller must stop writing.
    status append(std::span<const uint8_t> data, std::span<const batch_meta> batches,
                  int64_t now_ms);

    // Cuts the segment at `position`, the start of the batch whose base offset is `offset`
    // (or size()/next_offset() for no-op): truncates the log file, drops the index entries at
    // or after the cut and recomputes next offset / max timestamp from what remains (rebuilding
    // the indexes if they disagree). Does not sync. On a failed file truncate nothing changed
    // in memory.
    status truncate_to(uint64_t position, int64_t offset);

    // The first batch whose last offset >= offset, if the segment holds one; corrupt when an
    // invalid batch comes first.
    result<std::optional<batch_location>> find(int64_t offset) const;
    // Whole batches from `from` (a batch start): while last offset < upper_bound and the
    // total stays <= max_bytes (the first batch is taken regardless when min_one). Stops before
    // an invalid batch; corrupt when the first one is invalid.
    result<segment_slice> slice(uint64_t from, uint64_t max_bytes, int64_t upper_bound,
                                bool min_one) const;
    // The first batch whose max timestamp >= ts, if any (blocking: plan + scan below).
    result<std::optional<batch_location>> find_timestamp(int64_t ts) const;
    // Where that batch can be (nullopt when the segment holds no timestamp >= ts).
    std::optional<timestamp_scan> plan_timestamp_scan(int64_t ts) const;
    static result<std::optional<batch_location>> scan_for_timestamp(const timestamp_scan& s,
                                                                    int64_t ts);

    // Adds a final time-index entry; called when the segment stops being the active one.
    status seal();
    // fdatasync of the log and both indexes.
    status sync();
    // Renames the three files to *.deleted; the returned paths are for async removal.
    result<std::vector<std::string>> rename_to_deleted(file_system& fs);

    int64_t base_offset() const { return base_offset_; }
    // Offset after the last batch (base_offset() when empty).
    int64_t next_offset() const { return next_offset_; }
    uint64_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    int64_t max_timestamp() const { return max_timestamp_; }
    // segment.ms is measured from here: first append time, or on load the first batch's max
    // timestamp. -1 while empty.
    int64_t roll_base_ms() const { return roll_base_ms_; }
    bool index_full() const { return offsets_.entries() >= cfg_.max_index_entries; }
    bool broken() const { return broken_; }
    const std::shared_ptr<file>& log_file() const { return log_; }
    const std::shared_ptr<file>& offset_index_file() const { return offsets_.file_handle(); }
    const std::shared_ptr<file>& time_index_file() const { return times_.file_handle(); }
    const std::string& dir() const { return dir_; }
    std::string log_path() const;

    segment(std::string dir, int64_t base_offset, segment_config cfg, std::shared_ptr<file> log,
            std::shared_ptr<file> index, std::shared_ptr<file> timeindex);

  private:
    // Rebuilds both indexes from batch headers over [0, size_). Stops (and shrinks size_) at
    // the first invalid header, reporting it.
    status rebuild_indexes(bool validate, recovery_result* rr);
    status index_batch(uint64_t position, const batch_meta& m);
    status scan_tail();

    std::string dir_;
    int64_t base_offset_;
    segment_config cfg_;
    std::shared_ptr<file> log_;
    offset_index offsets_;
    time_index times_;
    uint64_t size_ = 0;
    int64_t next_offset_;
    int64_t max_timestamp_ = -1;
    int64_t offset_of_max_timestamp_ = -1;
    int64_t roll_base_ms_ = -1;
    uint64_t bytes_since_index_ = 0;
    bool broken_ = false;
};

}  // namespace rill::storage
