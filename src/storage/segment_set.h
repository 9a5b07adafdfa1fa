// The ordered segments of one partition log (base offsets strictly increasing; the last one
// is the active segment, the only one appended to).
//
// Single-writer: owned by a partition_log, used on its owner executor.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "storage/segment.h"

namespace rill::storage {

class segment_set {
  public:
    using ptr = std::shared_ptr<segment>;

    bool empty() const { return segs_.empty(); }
    size_t size() const { return segs_.size(); }
    const ptr& active() const { return segs_.back(); }
    const ptr& front() const { return segs_.front(); }
    const ptr& operator[](size_t i) const { return segs_[i]; }
    auto begin() const { return segs_.begin(); }
    auto end() const { return segs_.end(); }

    // REQUIRES: s->base_offset() > every base offset held.
    void push_back(ptr s) { segs_.push_back(std::move(s)); }
    void pop_front() { segs_.erase(segs_.begin()); }
    void pop_back() { segs_.pop_back(); }
    void clear() { segs_.clear(); }
    void erase(size_t i) { segs_.erase(segs_.begin() + static_cast<long>(i)); }
    void replace(size_t i, ptr s) { segs_[i] = std::move(s); }

    // Index of the segment that would hold `offset`: the last with base <= offset (0 when
    // offset is below every base).
    size_t index_for(int64_t offset) const {
        auto it = std::upper_bound(segs_.begin(), segs_.end(), offset,
                                   [](int64_t o, const ptr& s) { return o < s->base_offset(); });
        if (it == segs_.begin()) return 0;
        return static_cast<size_t>(it - segs_.begin()) - 1;
    }

    uint64_t total_bytes() const {
        uint64_t n = 0;
        for (const auto& s : segs_)
            n += s->size();
        return n;
    }

  private:
    std::vector<ptr> segs_;
};

}  // namespace rill::storage
