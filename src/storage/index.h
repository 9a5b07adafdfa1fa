// Sparse offset and time indexes of one segment (layout in storage/format.h). Entries are kept
// in memory and appended to the index file as they are added; the file is only read on load.
//
// Single-writer: used only by the owning segment, on the partition's owner executor.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "storage/file_system.h"

namespace rill::storage {

struct offset_entry {
    uint32_t relative_offset = 0;
    uint32_t position = 0;
};

struct time_entry {
    int64_t timestamp = 0;
    uint32_t relative_offset = 0;
};

class offset_index {
  public:
    explicit offset_index(std::shared_ptr<file> f) : file_(std::move(f)) {}

    // Reads the file; returns false (and holds no entries) when it does not look sane:
    // a partial entry, non-increasing offsets/positions, or a position >= log_size.
    result<bool> load(uint64_t log_size);
    status append(offset_entry e);
    // Drops every entry and empties the file.
    status reset();
    // Drops entries at or after `position`.
    status truncate_to_position(uint64_t position);

    // The last entry with relative_offset <= rel, if any.
    std::optional<offset_entry> lookup(uint32_t rel) const;
    size_t entries() const { return entries_.size(); }
    const std::vector<offset_entry>& all() const { return entries_; }
    const std::shared_ptr<file>& file_handle() const { return file_; }

  private:
    std::shared_ptr<file> file_;
    std::vector<offset_entry> entries_;
};

class time_index {
  public:
    explicit time_index(std::shared_ptr<file> f) : file_(std::move(f)) {}

    result<bool> load(uint32_t max_relative_offset);
    status append(time_entry e);
    status reset();
    // Drops entries whose relative offset >= rel.
    status truncate_to_offset(uint32_t rel);

    // The last entry with timestamp < t (the scan for "first ts >= t" starts there).
    std::optional<time_entry> last_before(int64_t t) const;
    std::optional<time_entry> last() const {
        if (entries_.empty()) return std::nullopt;
        return entries_.back();
    }
    size_t entries() const { return entries_.size(); }
    const std::shared_ptr<file>& file_handle() const { return file_; }

  private:
    std::shared_ptr<file> file_;
    std::vector<time_entry> entries_;
};

}  // namespace rill::storage
