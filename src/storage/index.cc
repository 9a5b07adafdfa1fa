#include "storage/index.h"

#include <algorithm>

#include "storage/format.h"

namespace rill::storage {

result<bool> offset_index::load(uint64_t log_size) {
    entries_.clear();
    auto sz = file_->size();
    if (!sz) return unexpected{sz.error()};
    if (*sz % kOffsetIndexEntrySize != 0) return false;
    std::vector<uint8_t> buf(*sz);
    auto n = file_->pread(0, buf);
    if (!n) return unexpected{n.error()};
    if (*n != buf.size()) return false;
    entries_.reserve(buf.size() / kOffsetIndexEntrySize);
    for (size_t i = 0; i < buf.size(); i += kOffsetIndexEntrySize) {
        offset_entry e{get_be32(&buf[i]), get_be32(&buf[i + 4])};
        if (e.position >= log_size ||
            (!entries_.empty() && (e.relative_offset <= entries_.back().relative_offset ||
                                   e.position <= entries_.back().position))) {
            entries_.clear();
            return false;
        }
        entries_.push_back(e);
    }
    return true;
}

status offset_index::append(offset_entry e) {
    uint8_t b[kOffsetIndexEntrySize];
    put_be32(b, e.relative_offset);
    put_be32(b + 4, e.position);
    if (auto s = file_->pwrite(entries_.size() * kOffsetIndexEntrySize, b); !s) return s;
    entries_.push_back(e);
    return {};
}

status offset_index::reset() {
    entries_.clear();
    return file_->truncate(0);
}

status offset_index::truncate_to_position(uint64_t position) {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), position,
                               [](const offset_entry& e, uint64_t p) { return e.position < p; });
    entries_.erase(it, entries_.end());
    return file_->truncate(entries_.size() * kOffsetIndexEntrySize);
}

std::optional<offset_entry> offset_index::lookup(uint32_t rel) const {
    auto it =
        std::upper_bound(entries_.begin(), entries_.end(), rel,
                         [](uint32_t r, const offset_entry& e) { return r < e.relative_offset; });
    if (it == entries_.begin()) return std::nullopt;
    return *std::prev(it);
}

result<bool> time_index::load(uint32_t max_relative_offset) {
    entries_.clear();
    auto sz = file_->size();
    if (!sz) return unexpected{sz.error()};
    if (*sz % kTimeIndexEntrySize != 0) return false;
    std::vector<uint8_t> buf(*sz);
    auto n = file_->pread(0, buf);
    if (!n) return unexpected{n.error()};
    if (*n != buf.size()) return false;
    for (size_t i = 0; i < buf.size(); i += kTimeIndexEntrySize) {
        time_entry e{static_cast<int64_t>(get_be64(&buf[i])), get_be32(&buf[i + 8])};
        if (e.relative_offset > max_relative_offset ||
            (!entries_.empty() && (e.timestamp <= entries_.back().timestamp ||
                                   e.relative_offset <= entries_.back().relative_offset))) {
            entries_.clear();
            return false;
        }
        entries_.push_back(e);
    }
    return true;
}

status time_index::append(time_entry e) {
    uint8_t b[kTimeIndexEntrySize];
    put_be64(b, static_cast<uint64_t>(e.timestamp));
    put_be32(b + 8, e.relative_offset);
    if (auto s = file_->pwrite(entries_.size() * kTimeIndexEntrySize, b); !s) return s;
    entries_.push_back(e);
    return {};
}

status time_index::reset() {
    entries_.clear();
    return file_->truncate(0);
}

status time_index::truncate_to_offset(uint32_t rel) {
    auto it =
        std::lower_bound(entries_.begin(), entries_.end(), rel,
                         [](const time_entry& e, uint32_t r) { return e.relative_offset < r; });
    entries_.erase(it, entries_.end());
    return file_->truncate(entries_.size() * kTimeIndexEntrySize);
}

std::optional<time_entry> time_index::last_before(int64_t t) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), t,
                               [](const time_entry& e, int64_t ts) { return e.timestamp < ts; });
    if (it == entries_.begin()) return std::nullopt;
    return *std::prev(it);
}

}  // namespace rill::storage
