#include "storage/segment.h"

#include <spdlog/spdlog.h>

#include <limits>

#include "storage/batch_scanner.h"
#include "storage/format.h"
#include "storage/logger.h"

namespace rill::storage {

namespace {
std::string stem_path(const std::string& dir, int64_t base) {
    return join_path(dir, offset_file_stem(base));
}

uint32_t rel(int64_t offset, int64_t base) {
    int64_t r = offset - base;
    if (r < 0) return 0;
    if (r > std::numeric_limits<uint32_t>::max()) return std::numeric_limits<uint32_t>::max();
    return static_cast<uint32_t>(r);
}
}  // namespace

segment::segment(std::string dir, int64_t base_offset, segment_config cfg,
                 std::shared_ptr<file> log, std::shared_ptr<file> index,
                 std::shared_ptr<file> timeindex)
    : dir_(std::move(dir)),
      base_offset_(base_offset),
      cfg_(cfg),
      log_(std::move(log)),
      offsets_(std::move(index)),
      times_(std::move(timeindex)),
      next_offset_(base_offset) {}

std::string segment::log_path() const {
    return stem_path(dir_, base_offset_) + kLogSuffix;
}

result<std::shared_ptr<segment>> segment::create(file_system& fs, const std::string& dir,
                                                 int64_t base_offset, segment_config cfg) {
    std::string stem = stem_path(dir, base_offset);
    std::shared_ptr<file> files[3];
    const char* suffixes[3] = {kLogSuffix, kIndexSuffix, kTimeIndexSuffix};
    for (size_t i = 0; i < 3; ++i) {
        auto f = fs.open(stem + suffixes[i], open_mode::create_truncate);
        if (!f) {
            // No partial segment stays behind (EMFILE, ENOSPC, ...): the files are new and
            // empty, a later roll creates them again.
            for (size_t j = 0; j < i; ++j) {
                files[j].reset();
                if (auto u = fs.unlink(stem + suffixes[j]); !u)
                    logger()->warn("could not remove {}: {}", stem + suffixes[j],
                                   u.error().message);
            }
            return unexpected{f.error()};
        }
        files[i] = std::move(*f);
    }
    return std::make_shared<segment>(dir, base_offset, cfg, files[0], files[1], files[2]);
}

result<std::shared_ptr<segment>> segment::open(file_system& fs, const std::string& dir,
                                               int64_t base_offset, segment_config cfg,
                                               index_mode mode) {
    std::string stem = stem_path(dir, base_offset);
    auto log = fs.open(stem + kLogSuffix, open_mode::read_write);
    if (!log) return unexpected{log.error()};
    auto idx = fs.open(stem + kIndexSuffix, open_mode::create);
    if (!idx) return unexpected{idx.error()};
    auto tidx = fs.open(stem + kTimeIndexSuffix, open_mode::create);
    if (!tidx) return unexpected{tidx.error()};
    auto seg = std::make_shared<segment>(dir, base_offset, cfg, *log, *idx, *tidx);
    auto sz = seg->log_->size();
    if (!sz) return unexpected{sz.error()};
    seg->size_ = *sz;
    if (seg->size_ > std::numeric_limits<uint32_t>::max())
        return unexpected{error(errc::corrupt, "segment larger than 4 GiB: " + seg->log_path())};

    if (mode == index_mode::none) return seg;
    bool ok = false;
    if (mode == index_mode::trust) {
        auto a = seg->offsets_.load(seg->size_);
        if (!a) return unexpected{a.error()};
        auto b = seg->times_.load(std::numeric_limits<uint32_t>::max());
        if (!b) return unexpected{b.error()};
        ok = *a && *b;
        if (ok) {
            auto s = seg->scan_tail();
            if (!s) {
                if (s.error().code != errc::corrupt) return unexpected{s.error()};
                ok = false;
            }
        }
        if (!ok) logger()->warn("rebuilding indexes of {}", seg->log_path());
    }
    if (!ok) {
        if (auto s = seg->rebuild_indexes(false, nullptr); !s) return unexpected{s.error()};
    }
    return seg;
}

// Scans from the last offset-index entry to the end to find next offset and max timestamp.
status segment::scan_tail() {
    uint64_t start = 0;
    if (!offsets_.all().empty()) {
        start = offsets_.all().back().position;
        next_offset_ = base_offset_ + offsets_.all().back().relative_offset;
    }
    if (auto t = times_.last()) {
        max_timestamp_ = t->timestamp;
        offset_of_max_timestamp_ = base_offset_ + t->relative_offset;
    }
    // The first batch gives the roll base.
    if (size_ > 0) {
        batch_scanner first(*log_, 0, size_, false);
        auto b = first.next();
        if (b.status == scan_status::io_error) return unexpected{error(errc::io_error, b.reason)};
        if (b.status != scan_status::ok) return unexpected{error(errc::corrupt, b.reason)};
        roll_base_ms_ = b.header.max_timestamp;
    }
    batch_scanner sc(*log_, start, size_, false);
    uint64_t since = 0;
    for (;;) {
        auto b = sc.next();
        if (b.status == scan_status::end) break;
        if (b.status == scan_status::io_error) return unexpected{error(errc::io_error, b.reason)};
        if (b.status == scan_status::invalid) return unexpected{error(errc::corrupt, b.reason)};
        if (b.header.base_offset != next_offset_)
            return unexpected{error(errc::corrupt, "offsets not contiguous")};
        next_offset_ = b.header.last_offset() + 1;
        if (b.header.max_timestamp > max_timestamp_) {
            max_timestamp_ = b.header.max_timestamp;
            offset_of_max_timestamp_ = b.header.base_offset;
        }
        since += b.header.total_size();
    }
    bytes_since_index_ = since;
    return {};
}

status segment::index_batch(uint64_t position, const batch_meta& m) {
    if (m.max_timestamp > max_timestamp_) {
        max_timestamp_ = m.max_timestamp;
        offset_of_max_timestamp_ = m.base_offset;
    }
    if (position > 0 && bytes_since_index_ >= cfg_.index_interval_bytes) {
        if (auto s = offsets_.append(
                {rel(m.base_offset, base_offset_), static_cast<uint32_t>(position)});
            !s)
            return s;
        bytes_since_index_ = 0;
        auto last = times_.last();
        if (max_timestamp_ >= 0 && (!last || max_timestamp_ > last->timestamp)) {
            if (auto s =
                    times_.append({max_timestamp_, rel(offset_of_max_timestamp_, base_offset_)});
                !s)
                return s;
        }
    }
    bytes_since_index_ += m.size;
    next_offset_ = m.last_offset + 1;
    return {};
}

status segment::rebuild_indexes(bool validate, recovery_result* rr) {
    if (auto s = offsets_.reset(); !s) return s;
    if (auto s = times_.reset(); !s) return s;
    next_offset_ = base_offset_;
    max_timestamp_ = -1;
    offset_of_max_timestamp_ = -1;
    roll_base_ms_ = -1;
    bytes_since_index_ = 0;
    batch_scanner sc(*log_, 0, size_, validate);
    for (;;) {
        auto b = sc.next();
        if (b.status == scan_status::end) break;
        if (b.status == scan_status::io_error) return unexpected{error(errc::io_error, b.reason)};
        std::string reason = b.reason;
        if (b.status == scan_status::ok && b.header.base_offset != next_offset_)
            reason = "offsets not contiguous";
        if (!reason.empty()) {
            if (rr) {
                rr->reason = reason;
                rr->truncated_bytes = size_ - b.position;
            } else {
                logger()->error(
                    "segment {} is corrupt at position {} ({}); serving the {} valid bytes before "
                    "it",
                    log_path(), b.position, reason, b.position);
            }
            size_ = b.position;
            break;
        }
        if (roll_base_ms_ < 0) roll_base_ms_ = b.header.max_timestamp;
        batch_meta m{b.header.base_offset, b.header.last_offset(), b.header.max_timestamp,
                     static_cast<uint32_t>(b.header.total_size())};
        if (auto s = index_batch(b.position, m); !s) return s;
    }
    if (rr) rr->valid_bytes = size_;
    return {};
}

result<segment::recovery_result> segment::recover() {
    recovery_result rr;
    auto sz = log_->size();
    if (!sz) return unexpected{sz.error()};
    size_ = *sz;
    if (auto s = rebuild_indexes(true, &rr); !s) return unexpected{s.error()};
    if (rr.truncated_bytes > 0) {
        if (auto s = log_->truncate(size_); !s) return unexpected{s.error()};
    }
    return rr;
}

status segment::append(std::span<const uint8_t> data, std::span<const batch_meta> batches,
                       int64_t now_ms) {
    if (broken_) return unexpected{error(errc::log_offline, "segment is broken: " + log_path())};
    uint64_t start = size_;
    if (auto s = log_->pwrite(start, data); !s) {
        if (!log_->truncate(start)) broken_ = true;
        return s;
    }
    if (roll_base_ms_ < 0) roll_base_ms_ = now_ms;
    size_ += data.size();
    uint64_t pos = start;
    for (const auto& m : batches) {
        if (auto s = index_batch(pos, m); !s) {
            // The log bytes are fine; a broken index is rebuilt on the next load.
            logger()->warn("index append failed for {}: {}", log_path(), s.error().message);
            next_offset_ = m.last_offset + 1;
        }
        pos += m.size;
    }
    return {};
}

status segment::truncate_to(uint64_t position, int64_t offset) {
    if (position > size_ || offset < base_offset_ || offset > next_offset_)
        return unexpected{error(errc::invalid_argument, "bad truncation point for " + log_path())};
    if (auto s = log_->truncate(position); !s) return s;
    size_ = position;
    bool ok = true;
    if (!offsets_.truncate_to_position(position)) ok = false;
    if (!times_.truncate_to_offset(rel(offset, base_offset_))) ok = false;
    next_offset_ = base_offset_;
    max_timestamp_ = -1;
    offset_of_max_timestamp_ = -1;
    roll_base_ms_ = -1;
    bytes_since_index_ = 0;
    if (ok) {
        auto s = scan_tail();
        if (!s && s.error().code == errc::io_error) return s;
        ok = s && next_offset_ == offset;
    }
    if (!ok) {
        logger()->warn("rebuilding indexes of {} after truncation", log_path());
        if (auto s = rebuild_indexes(false, nullptr); !s) return s;
        if (next_offset_ != offset)
            return unexpected{error(errc::corrupt, "segment " + log_path() + " ends at offset " +
                                                       std::to_string(next_offset_) +
                                                       " after truncation to " +
                                                       std::to_string(offset))};
    }
    return {};
}

result<std::optional<batch_location>> segment::find(int64_t offset) const {
    if (offset >= next_offset_ || size_ == 0) return std::optional<batch_location>{};
    uint64_t start = 0;
    if (auto e = offsets_.lookup(rel(offset, base_offset_))) start = e->position;
    batch_scanner sc(*log_, start, size_, false);
    for (;;) {
        auto b = sc.next();
        if (b.status == scan_status::end) return std::optional<batch_location>{};
        if (b.status == scan_status::io_error) return unexpected{error(errc::io_error, b.reason)};
        if (b.status == scan_status::invalid) {
            logger()->error("corrupt batch in {} at position {}: {}", log_path(), b.position,
                            b.reason);
            return unexpected{
                error(errc::corrupt, "corrupt batch in " + log_path() + " at position " +
                                         std::to_string(b.position) + ": " + b.reason)};
        }
        if (b.header.last_offset() >= offset)
            return std::optional<batch_location>(batch_location{b.position, b.header});
    }
}

result<segment_slice> segment::slice(uint64_t from, uint64_t max_bytes, int64_t upper_bound,
                                     bool min_one) const {
    segment_slice out;
    out.position = from;
    batch_scanner sc(*log_, from, size_, false);
    for (;;) {
        auto b = sc.next();
        if (b.status == scan_status::end) break;
        if (b.status == scan_status::io_error) {
            if (out.batches > 0) break;
            return unexpected{error(errc::io_error, b.reason)};
        }
        if (b.status == scan_status::invalid) {
            logger()->error("corrupt batch in {} at position {}: {}", log_path(), b.position,
                            b.reason);
            // What precedes it is served; the read starting at it fails.
            if (out.batches > 0) break;
            return unexpected{
                error(errc::corrupt, "corrupt batch in " + log_path() + " at position " +
                                         std::to_string(b.position) + ": " + b.reason)};
        }
        if (b.header.last_offset() >= upper_bound) break;
        uint64_t sz = b.header.total_size();
        if (out.length + sz > max_bytes && !(min_one && out.batches == 0)) break;
        out.length += sz;
        out.last_offset = b.header.last_offset();
        ++out.batches;
    }
    return out;
}

result<std::optional<batch_location>> segment::find_timestamp(int64_t ts) const {
    auto plan = plan_timestamp_scan(ts);
    if (!plan) return std::optional<batch_location>{};
    return scan_for_timestamp(*plan, ts);
}

std::optional<timestamp_scan> segment::plan_timestamp_scan(int64_t ts) const {
    if (size_ == 0 || max_timestamp_ < ts) return std::nullopt;
    uint64_t start = 0;
    if (auto t = times_.last_before(ts)) {
        if (auto e = offsets_.lookup(t->relative_offset)) start = e->position;
    }
    return timestamp_scan{log_, start, size_, log_path()};
}

result<std::optional<batch_location>> segment::scan_for_timestamp(const timestamp_scan& s,
                                                                  int64_t ts) {
    batch_scanner sc(*s.log, s.start, s.end, false);
    for (;;) {
        auto b = sc.next();
        if (b.status == scan_status::end) return std::optional<batch_location>{};
        if (b.status == scan_status::io_error) return unexpected{error(errc::io_error, b.reason)};
        if (b.status == scan_status::invalid)
            return unexpected{error(errc::corrupt, "corrupt batch in " + s.path + " at position " +
                                                       std::to_string(b.position) + ": " +
                                                       b.reason)};
        if (b.header.max_timestamp >= ts)
            return std::optional<batch_location>(batch_location{b.position, b.header});
    }
}

status segment::seal() {
    auto last = times_.last();
    if (max_timestamp_ >= 0 && (!last || max_timestamp_ > last->timestamp))
        return times_.append({max_timestamp_, rel(offset_of_max_timestamp_, base_offset_)});
    return {};
}

status segment::sync() {
    if (auto s = log_->sync(); !s) return s;
    if (auto s = offsets_.file_handle()->sync(); !s) return s;
    return times_.file_handle()->sync();
}

result<std::vector<std::string>> segment::rename_to_deleted(file_system& fs) {
    std::string stem = stem_path(dir_, base_offset_);
    std::vector<std::string> out;
    for (const char* suffix : {kLogSuffix, kIndexSuffix, kTimeIndexSuffix}) {
        std::string from = stem + suffix;
        std::string to = from + kDeletedSuffix;
        if (auto s = fs.rename(from, to); !s) {
            if (s.error().code == errc::not_found) continue;
            return unexpected{s.error()};
        }
        out.push_back(to);
    }
    return out;
}

}  // namespace rill::storage
