#include "storage/partition_log.h"

#include <unistd.h>

#include <algorithm>
#include <future>
#include <limits>

#include "protocol/record_batch.h"
#include "storage/batch_scanner.h"
#include "storage/format.h"
#include "storage/logger.h"
#include "storage/records.h"

namespace rill::storage {

using protocol::kBatchHeaderSize;

namespace {

constexpr int32_t kMinBatchLength =
    static_cast<int32_t>(kBatchHeaderSize - protocol::kBatchLogOverhead);

}  // namespace

partition_log::partition_log(options opts) : opts_(std::move(opts)) {}

partition_log::~partition_log() = default;

segment_config partition_log::seg_config() const {
    segment_config c;
    c.index_interval_bytes = opts_.config.index_interval_bytes;
    c.max_index_entries = static_cast<size_t>(
        std::max<int64_t>(1, opts_.config.segment_index_bytes / int64_t(kOffsetIndexEntrySize)));
    return c;
}

void partition_log::run_here(const std::function<void()>& task,
                             const std::function<void()>& if_retired) {
    std::unique_lock lock(incarnation_->mu);
    // Nothing more is written into a failed log dir (no partial state).
    if (!incarnation_->retired && !(opts_.log_dir && opts_.log_dir->failed())) {
        task();
        return;
    }
    lock.unlock();
    if (if_retired) if_retired();
}

void partition_log::run(std::function<void()> task, std::function<void()> if_retired) {
    auto guarded = [inc = incarnation_, dir = opts_.log_dir, task = std::move(task),
                    if_retired = std::move(if_retired)] {
        std::unique_lock lock(inc->mu);
        // Nothing more is written into a failed log dir (no partial state).
        if (!inc->retired && !(dir && dir->failed())) {
            task();
            return;
        }
        lock.unlock();
        if (if_retired) if_retired();
    };
    if (opts_.background)
        opts_.background(std::move(guarded));
    else
        guarded();
}

void partition_log::retire() {
    std::lock_guard lock(incarnation_->mu);
    incarnation_->retired = true;
}

void partition_log::go_offline(const error& e) {
    if (offline_) return;
    // The log dir logs its own failure once; its logs follow it quietly.
    if (opts_.log_dir && opts_.log_dir->report(e)) {
        logger()->debug("log {} goes offline with its log dir: {}", opts_.dir, e.message);
        offline_ = opts_.log_dir->offline_error();
        return;
    }
    logger()->error("log {} goes offline: {} ({})", opts_.dir, e.message, errc_name(e.code));
    offline_ = error(errc::log_offline, e.message);
}

bool partition_log::check_offline() {
    if (!offline_) {
        if (auto f = flush_->failure()) go_offline(*f);
    }
    if (!offline_ && log_dir_failed()) offline_ = opts_.log_dir->offline_error();
    return offline_.has_value();
}

void partition_log::remove_files(std::vector<std::string> paths) {
    auto fs = opts_.fs;
    run([fs, dir = opts_.log_dir, paths = std::move(paths)] {
        for (const auto& p : paths) {
            if (auto s = fs->unlink(p); !s && s.error().code != errc::not_found) {
                logger()->warn("could not remove {}: {}", p, s.error().message);
                if (dir && dir->report(s.error())) return;
            }
        }
    });
}

partition_checkpoint partition_log::make_checkpoint() const {
    partition_checkpoint c;
    c.recovery_point = std::min(flush_->durable(), leo_);
    c.log_start = log_start_;
    c.high_watermark = hwm_;
    c.cleaner_offset = cleaner_offset_;
    return c;
}

checkpoint_files partition_log::checkpoint_contents() const {
    checkpoint_files c;
    c.partition = make_checkpoint().serialize();
    c.leader_epochs = epochs_.serialize();
    return c;
}

void partition_log::checkpoint() {
    run([fs = opts_.fs, dir = opts_.dir, ld = opts_.log_dir, c = checkpoint_contents()] {
        if (auto s = write_checkpoint_files(*fs, dir, c); !s) {
            logger()->warn("checkpoint of {} failed: {}", dir, s.error().message);
            if (ld) ld->report(s.error());
        }
    });
}

result<std::unique_ptr<partition_log>> partition_log::open(options opts, int64_t now_ms) {
    if (!opts.fs) opts.fs = posix_file_system();
    opts.config.segment_bytes =
        std::clamp<int64_t>(opts.config.segment_bytes, 1, std::numeric_limits<int32_t>::max());
    std::unique_ptr<partition_log> log(new partition_log(std::move(opts)));
    if (auto s = log->load(now_ms); !s) return unexpected{s.error()};
    return log;
}

status partition_log::rebuild_producer_state(int64_t from_offset) {
    for (const auto& seg : segments_) {
        if (seg->next_offset() <= from_offset || seg->empty()) continue;
        uint64_t start = 0;
        if (seg->base_offset() < from_offset) {
            auto loc = seg->find(from_offset);
            if (!loc && loc.error().code == errc::corrupt) {
                // Served as read errors; producer state keeps what the other batches give.
                logger()->error("{}: producer state skips a corrupt segment: {}", opts_.dir,
                                loc.error().message);
                continue;
            }
            if (!loc) return unexpected{loc.error()};
            if (!*loc) continue;
            start = (*loc)->position;
        }
        batch_scanner sc(*seg->log_file(), start, seg->size(), false);
        for (;;) {
            auto b = sc.next();
            if (b.status == scan_status::io_error)
                return unexpected{error(errc::io_error, b.reason)};
            if (b.status != scan_status::ok) break;
            if (b.header.base_offset < from_offset) continue;
            int16_t ctype = -1;
            if (b.header.is_control()) {
                // A control batch holds one small record: read it for its type.
                std::vector<uint8_t> body(std::min<size_t>(b.header.total_size(), 256));
                auto got = seg->log_file()->pread(b.position, body);
                if (!got) return unexpected{got.error()};
                body.resize(*got);
                ctype = control_type_of(body);
            }
            producers_.update(b.header, ctype);
        }
    }
    return {};
}

bool partition_log::should_roll(uint64_t bytes, int64_t last_offset, int64_t now_ms,
                                uint64_t pending) const {
    const auto& a = segments_.active();
    if (a->empty() && pending == 0) return false;
    const auto& c = opts_.config;
    if (a->size() + bytes > static_cast<uint64_t>(c.segment_bytes)) return true;
    if (c.segment_ms != kNever && a->roll_base_ms() >= 0 &&
        now_ms - a->roll_base_ms() >= c.segment_ms)
        return true;
    if (a->index_full()) return true;
    if (last_offset - a->base_offset() > std::numeric_limits<int32_t>::max()) return true;
    return false;
}

status partition_log::roll(int64_t now_ms) {
    if (check_offline()) return unexpected{*offline_};
    if (segments_.active()->empty()) return {};
    return roll_locked(now_ms);
}

status partition_log::roll_locked(int64_t /*now_ms*/) {
    auto old = segments_.active();
    if (old->empty()) return {};
    if (auto s = old->seal(); !s) {
        logger()->warn("seal of {} failed: {}", old->log_path(), s.error().message);
        if (fails_log_dir(s.error())) {
            go_offline(s.error());
            return unexpected{*offline_};
        }
    }
    auto seg = segment::create(*opts_.fs, opts_.dir, leo_, seg_config());
    if (!seg && fails_log_dir(seg.error())) {
        go_offline(seg.error());
        return unexpected{seg.error()};
    }
    if (!seg) {
        // Recoverable (ENOSPC, EMFILE): the old segment stays active, the next append retries.
        logger()->warn("{}: cannot roll a new segment at offset {}: {}", opts_.dir, leo_,
                       seg.error().message);
        return unexpected{seg.error()};
    }
    flush_->set_active((*seg)->log_file(),
                       {old->log_file(), old->offset_index_file(), old->time_index_file()});
    segments_.push_back(*seg);
    // Producer-state snapshot at the new segment's base offset, written off this thread.
    auto fs = opts_.fs;
    std::string dir = opts_.dir;
    int64_t at = leo_;
    run([fs, dir, at, ld = opts_.log_dir, snap = producers_] {
        if (auto s = snap.write_snapshot(*fs, dir, at); !s) {
            logger()->warn("producer snapshot of {} failed: {}", dir, s.error().message);
            if (ld) ld->report(s.error());
        }
    });
    return {};
}

result<append_result> partition_log::append(std::span<uint8_t> data, int32_t leader_epoch,
                                            int64_t now_ms) {
    if (closed_) return make_error(errc::shutting_down, "log closed");
    if (check_offline()) return unexpected{*offline_};
    if (data.empty()) return make_error(errc::invalid_argument, "no batches");

    std::vector<protocol::batch_header> hdrs;
    for (size_t pos = 0; pos < data.size();) {
        auto h = protocol::parse_batch_header(data.subspan(pos));
        if (!h || h->magic != 2 || h->batch_length < kMinBatchLength ||
            h->total_size() > data.size() - pos || h->last_offset_delta < 0)
            return make_error(errc::corrupt_batch,
                              "malformed batch at byte " + std::to_string(pos));
        pos += h->total_size();
        hdrs.push_back(*h);
    }

    for (const auto& h : hdrs) {
        auto r = producers_.check(h);
        if (!r) return unexpected{r.error()};
        if (r->has_value()) {
            if (hdrs.size() != 1)
                return make_error(errc::out_of_order_sequence,
                                  "duplicate inside a multi-batch append");
            const producer_batch& b = **r;
            append_result ar;
            ar.base_offset = b.first_offset;
            ar.last_offset = b.last_offset;
            ar.log_append_time = opts_.config.log_append_time ? b.timestamp : -1;
            ar.log_start_offset = log_start_;
            ar.duplicate = true;
            return ar;
        }
    }

    std::vector<batch_meta> metas;
    metas.reserve(hdrs.size());
    int64_t next = leo_;
    int64_t records = 0;
    size_t pos = 0;
    for (auto& h : hdrs) {
        uint8_t* p = data.data() + pos;
        h.base_offset = next;
        h.partition_leader_epoch = leader_epoch;
        put_be64(p, static_cast<uint64_t>(next));
        put_be32(p + protocol::kLeaderEpochOffset, static_cast<uint32_t>(leader_epoch));
        if (opts_.config.log_append_time) {
            h.attributes = static_cast<int16_t>(h.attributes | protocol::kAttrLogAppendTime);
            h.max_timestamp = now_ms;
            uint16_t attrs = static_cast<uint16_t>(h.attributes);
            p[protocol::kAttributesOffset] = static_cast<uint8_t>(attrs >> 8);
            p[protocol::kAttributesOffset + 1] = static_cast<uint8_t>(attrs);
            put_be64(p + protocol::kMaxTimestampOffset, static_cast<uint64_t>(now_ms));
            h.crc = protocol::compute_batch_crc(std::span<const uint8_t>(p, h.total_size()));
            put_be32(p + protocol::kCrcOffset, h.crc);
        }
        metas.push_back(
            {next, h.last_offset(), h.max_timestamp, static_cast<uint32_t>(h.total_size())});
        next = h.last_offset() + 1;
        records += h.record_count;
        pos += h.total_size();
    }
    if (next - 1 < leo_) return make_error(errc::corrupt_batch, "offset overflow");

    if (should_roll(data.size(), next - 1, now_ms)) {
        if (auto s = roll_locked(now_ms); !s) return unexpected{s.error()};
    }
    if (auto s = segments_.active()->append(data, metas, now_ms); !s) {
        if (segments_.active()->broken() || fails_log_dir(s.error())) go_offline(s.error());
        return unexpected{s.error()};
    }
    append_result ar;
    ar.base_offset = leo_;
    ar.last_offset = next - 1;
    ar.log_append_time = opts_.config.log_append_time ? now_ms : -1;
    leo_ = next;
    flush_->publish(leo_);
    if (epochs_.assign(leader_epoch, ar.base_offset)) checkpoint();
    pos = 0;
    for (const auto& h : hdrs) {
        producers_.update(
            h, h.is_control() ? control_type_of(data.subspan(pos, h.total_size())) : int16_t{-1});
        pos += h.total_size();
    }
    ar.log_start_offset = log_start_;

    unflushed_messages_ += records;
    if (first_unflushed_ms_ < 0) first_unflushed_ms_ = now_ms;
    if (unflushed_messages_ >= opts_.config.flush_messages) {
        unflushed_messages_ = 0;
        first_unflushed_ms_ = -1;
        flush_up_to(leo_, nullptr);
    }
    return ar;
}

result<append_result> partition_log::append_replicated(std::span<const uint8_t> data,
                                                       int64_t now_ms) {
    if (closed_) return make_error(errc::shutting_down, "log closed");
    if (check_offline()) return unexpected{*offline_};
    if (data.empty()) return make_error(errc::invalid_argument, "no batches");

    // Validate everything before writing anything.
    int64_t expect = leo_;
    size_t count = 0;
    for (size_t pos = 0; pos < data.size();) {
        auto rest = data.subspan(pos);
        auto h = protocol::parse_batch_header(rest);
        auto where = [&] {
            return " (replicated batch at byte " + std::to_string(pos) + ", base offset " +
                   std::to_string(h ? h->base_offset : -1) + ")";
        };
        if (!h) return make_error(errc::corrupt_batch, "truncated batch header" + where());
        if (h->batch_length < kMinBatchLength || h->total_size() > rest.size())
            return make_error(errc::corrupt_batch, "partial or malformed batch" + where());
        if (auto why = check_batch(rest.subspan(0, h->total_size()), *h); !why.empty())
            return make_error(errc::corrupt_batch, why + where());
        if (h->base_offset != expect) {
            if (pos == 0)
                return make_error(errc::offset_out_of_range, "replicated batches start at offset " +
                                                                 std::to_string(h->base_offset) +
                                                                 ", log end offset is " +
                                                                 std::to_string(leo_));
            return make_error(errc::corrupt_batch,
                              "replicated batches not contiguous: expected base offset " +
                                  std::to_string(expect) + where());
        }
        if (h->base_offset > std::numeric_limits<int64_t>::max() - h->last_offset_delta - 1)
            return make_error(errc::corrupt_batch, "offset overflow" + where());
        expect = h->last_offset() + 1;
        pos += h->total_size();
        ++count;
    }

    append_result ar;
    ar.base_offset = leo_;
    int64_t records = 0;
    auto& metas = repl_metas_;
    metas.clear();
    metas.reserve(count);
    // Writes the batches of [from, from + len) (described by `metas`) to the active segment
    // and accounts for them.
    auto commit = [&](size_t from, size_t len) -> status {
        auto chunk = data.subspan(from, len);
        if (auto s = segments_.active()->append(chunk, metas, now_ms); !s) {
            if (segments_.active()->broken() || fails_log_dir(s.error())) go_offline(s.error());
            return s;
        }
        bool new_epoch = false;
        for (size_t p = 0; p < chunk.size();) {
            auto h = *protocol::parse_batch_header(chunk.subspan(p));
            if (epochs_.assign(h.partition_leader_epoch, h.base_offset)) new_epoch = true;
            producers_.update(h, h.is_control() ? control_type_of(chunk.subspan(p, h.total_size()))
                                                : int16_t{-1});
            records += h.record_count;
            p += h.total_size();
        }
        leo_ = metas.back().last_offset + 1;
        flush_->publish(leo_);
        if (new_epoch) checkpoint();
        metas.clear();
        return {};
    };
    size_t group = 0;  // start of the batches not yet written
    status st;
    for (size_t pos = 0; pos < data.size();) {
        auto h = *protocol::parse_batch_header(data.subspan(pos));
        uint64_t pending = pos - group;
        if (should_roll(pending + h.total_size(), h.last_offset(), now_ms, pending)) {
            if (pending > 0) {
                st = commit(group, pending);
                if (!st) break;
                group = pos;
            }
            st = roll_locked(now_ms);
            if (!st) break;
        }
        metas.push_back({h.base_offset, h.last_offset(), h.max_timestamp,
                         static_cast<uint32_t>(h.total_size())});
        pos += h.total_size();
    }
    if (st && group < data.size()) st = commit(group, data.size() - group);
    metas.clear();
    if (records > 0) {
        unflushed_messages_ += records;
        if (first_unflushed_ms_ < 0) first_unflushed_ms_ = now_ms;
        if (unflushed_messages_ >= opts_.config.flush_messages) {
            unflushed_messages_ = 0;
            first_unflushed_ms_ = -1;
            flush_up_to(leo_, nullptr);
        }
    }
    if (!st) return unexpected{st.error()};
    ar.last_offset = leo_ - 1;
    ar.log_start_offset = log_start_;
    return ar;
}

bool partition_log::assign_epoch_start(int32_t epoch) {
    if (!epochs_.assign(epoch, leo_)) return false;
    checkpoint();
    return true;
}

result<read_result> partition_log::read(int64_t offset, size_t max_bytes,
                                        int64_t upper_bound) const {
    if (log_dir_failed()) return unexpected{opts_.log_dir->offline_error()};
    if (offset < log_start_ || offset > leo_)
        return make_error(errc::offset_out_of_range, "offset " + std::to_string(offset) +
                                                         " outside [" + std::to_string(log_start_) +
                                                         ", " + std::to_string(leo_) + "]");
    read_result out;
    if (offset == leo_) return out;
    size_t i = segments_.index_for(offset);
    uint64_t remaining = max_bytes;
    for (; i < segments_.size(); ++i) {
        const auto& seg = segments_[i];
        if (seg->empty() || seg->next_offset() <= offset) continue;
        uint64_t from = 0;
        if (seg->base_offset() < offset) {
            auto loc = seg->find(offset);
            if (!loc) {
                report(loc.error());
                if (!out.regions.empty()) break;
                return unexpected{loc.error()};
            }
            if (!*loc) continue;
            from = (*loc)->position;
        }
        auto sl = seg->slice(from, remaining, upper_bound, out.regions.empty());
        if (!sl) {
            report(sl.error());
            if (!out.regions.empty()) break;
            return unexpected{sl.error()};
        }
        if (sl->batches == 0) break;
        out.regions.push_back(
            protocol::file_region{seg->log_file()->fd(), static_cast<int64_t>(sl->position),
                                  static_cast<int64_t>(sl->length), seg->log_file()});
        out.bytes += sl->length;
        out.last_offset = sl->last_offset;
        remaining = remaining > sl->length ? remaining - sl->length : 0;
        if (sl->position + sl->length < seg->size() || remaining == 0) break;
    }
    return out;
}

partition_log::timestamp_lookup partition_log::plan_offset_for_timestamp(int64_t ts) const {
    timestamp_lookup l{ts, {}};
    for (const auto& seg : segments_) {
        if (seg->next_offset() <= log_start_) continue;
        if (auto scan = seg->plan_timestamp_scan(ts)) l.scans.push_back(std::move(*scan));
    }
    return l;
}

partition_log::timestamp_lookup partition_log::plan_max_timestamp() const {
    const segment* best = nullptr;
    for (const auto& seg : segments_) {
        if (seg->next_offset() <= log_start_ || seg->empty()) continue;
        if (!best || seg->max_timestamp() > best->max_timestamp()) best = seg.get();
    }
    timestamp_lookup l;
    if (best && best->max_timestamp() >= 0) {
        l.ts = best->max_timestamp();
        if (auto scan = best->plan_timestamp_scan(l.ts)) l.scans.push_back(std::move(*scan));
    }
    return l;
}

result<std::optional<timestamp_hit>> partition_log::run_timestamp_lookup(
    const timestamp_lookup& l) {
    for (const auto& scan : l.scans) {
        auto loc = segment::scan_for_timestamp(scan, l.ts);
        if (!loc) return unexpected{loc.error()};
        if (!*loc) continue;
        const auto& h = (*loc)->header;
        timestamp_hit hit{h.base_offset, h.max_timestamp};
        if (!h.log_append_time()) {
            std::vector<uint8_t> buf(h.total_size());
            auto n = scan.log->pread((*loc)->position, buf);
            if (!n) return unexpected{n.error()};
            if (*n == buf.size()) {
                // Streams compressed records in bounded chunks (never the whole batch).
                if (auto first = first_record_at_or_after(buf, l.ts))
                    hit = {first->first, first->second};
            }
        }
        return std::optional<timestamp_hit>(hit);
    }
    return std::optional<timestamp_hit>{};
}

std::optional<timestamp_hit> partition_log::clamp_to_log_start(
    std::optional<timestamp_hit> hit) const {
    if (hit && hit->offset < log_start_) hit->offset = log_start_;
    return hit;
}

result<std::optional<timestamp_hit>> partition_log::offset_for_timestamp(int64_t ts) const {
    auto hit = run_timestamp_lookup(plan_offset_for_timestamp(ts));
    if (!hit) return hit;
    return clamp_to_log_start(*hit);
}

result<std::optional<timestamp_hit>> partition_log::max_timestamp() const {
    auto hit = run_timestamp_lookup(plan_max_timestamp());
    if (!hit) return hit;
    return clamp_to_log_start(*hit);
}

void partition_log::set_high_watermark(int64_t hwm) {
    hwm_ = std::clamp(hwm, log_start_, leo_);
}

int64_t partition_log::last_stable_offset() const {
    if (lso_hook_) {
        if (auto v = lso_hook_()) return std::min(*v, hwm_);
    }
    if (auto first = producers_.first_unstable_offset()) return std::min(*first, hwm_);
    return hwm_;
}

void partition_log::flush_up_to(int64_t offset, flush_callback done) {
    offset = std::min(offset, leo_);
    if (opts_.flush) {
        opts_.flush->request(flush_, offset, std::move(done));
        return;
    }
    status st;
    if (auto f = flush_->failure())
        st = unexpected{*f};
    else if (offset > flush_->durable())
        st = flush_->sync_now();
    if (!st) go_offline(st.error());
    if (done) done(st);
}

status partition_log::flush() {
    auto st = flush_->sync_now();
    if (!st) go_offline(st.error());
    unflushed_messages_ = 0;
    first_unflushed_ms_ = -1;
    return st;
}

void partition_log::maybe_flush(int64_t now_ms) {
    if (check_offline()) return;
    if (first_unflushed_ms_ >= 0 && opts_.config.flush_ms != kNever &&
        now_ms - first_unflushed_ms_ >= opts_.config.flush_ms) {
        unflushed_messages_ = 0;
        first_unflushed_ms_ = -1;
        flush_up_to(leo_, nullptr);
    }
}

status partition_log::delete_front_segments(size_t count) {
    for (size_t k = 0; k < count && segments_.size() > 1; ++k) {
        auto seg = segments_.front();
        auto paths = seg->rename_to_deleted(*opts_.fs);
        if (!paths) {
            go_offline(paths.error());
            return unexpected{paths.error()};
        }
        segments_.pop_front();
        remove_files(std::move(*paths));
    }
    return {};
}

result<size_t> partition_log::enforce_retention(int64_t now_ms) {
    // Nothing is renamed or deleted in a failed log dir.
    if (log_dir_failed()) return unexpected{opts_.log_dir->offline_error()};
    const auto& c = opts_.config;
    // An expired, fully committed active segment is rolled so that it can go.
    const auto& a = segments_.active();
    if (!offline_ && !a->empty() && a->next_offset() <= hwm_ &&
        (a->next_offset() <= log_start_ ||
         (c.cleanup_delete && c.retention_ms >= 0 && a->max_timestamp() >= 0 &&
          now_ms - a->max_timestamp() > c.retention_ms))) {
        if (auto s = roll_locked(now_ms); !s) return unexpected{s.error()};
    }
    uint64_t total = segments_.total_bytes();
    size_t n = 0;
    for (size_t i = 0; i + 1 < segments_.size(); ++i) {
        const auto& s = segments_[i];
        if (s->next_offset() > hwm_) break;
        bool del = s->next_offset() <= log_start_;
        if (!del && c.cleanup_delete) {
            if (c.retention_ms >= 0 && s->max_timestamp() >= 0 &&
                now_ms - s->max_timestamp() > c.retention_ms)
                del = true;
            else if (c.retention_bytes >= 0 &&
                     total - s->size() >= static_cast<uint64_t>(c.retention_bytes))
                del = true;
        }
        if (!del) break;
        total -= s->size();
        ++n;
    }
    if (n == 0) return size_t(0);
    int64_t new_start = segments_[n]->base_offset();
    if (auto s = delete_front_segments(n); !s) return unexpected{s.error()};
    if (new_start > log_start_) {
        log_start_ = new_start;
        producers_.remove_below(log_start_);
    }
    cleaner_offset_ = std::max(cleaner_offset_, log_start_);
    checkpoint();
    logger()->info("{}: retention deleted {} segments, log start now {}", opts_.dir, n, log_start_);
    return n;
}

result<int64_t> partition_log::delete_records(int64_t offset, int64_t now_ms) {
    if (check_offline()) return unexpected{*offline_};
    if (offset == -1) offset = hwm_;
    if (offset < 0 || offset > hwm_)
        return make_error(
            errc::offset_out_of_range,
            "delete_records offset " + std::to_string(offset) + " above high watermark");
    if (offset > log_start_) {
        log_start_ = offset;
        cleaner_offset_ = std::max(cleaner_offset_, log_start_);
        producers_.remove_below(log_start_);
        checkpoint();
    }
    // Only segments below the log start go; time/size retention stays with its own schedule.
    log_config saved = opts_.config;
    opts_.config.cleanup_delete = false;
    auto r = enforce_retention(now_ms);
    opts_.config = saved;
    if (!r) return unexpected{r.error()};
    return log_start_;
}

status partition_log::close(bool write_here) {
    if (closed_) return {};
    closed_ = true;
    if (check_offline()) return unexpected{*offline_};
    if (auto s = segments_.active()->seal(); !s) return s;
    if (auto s = flush(); !s) return s;
    if (auto s = segments_.active()->sync(); !s) return s;
    int64_t at = leo_;
    auto snap = producers_;
    checkpoint_files c = checkpoint_contents();
    c.clean_shutdown = true;
    std::promise<status> done;
    auto fut = done.get_future();
    auto write = [&, fs = opts_.fs, dir = opts_.dir] {
        status s = snap.write_snapshot(*fs, dir, at);
        if (s) s = write_checkpoint_files(*fs, dir, c);
        done.set_value(s);
    };
    auto retired = [&] { done.set_value(make_error(errc::shutting_down, "log retired")); };
    if (write_here)
        run_here(write, retired);
    else
        run(write, retired);
    return fut.get();
}

std::optional<protocol::bytes> read_into_memory(const read_result& r) {
    protocol::bytes out;
    out.reserve(r.bytes);
    for (const auto& region : r.regions) {
        size_t at = out.size();
        out.resize(at + static_cast<size_t>(region.length));
        int64_t done = 0;
        while (done < region.length) {
            ssize_t n = ::pread(region.fd, out.data() + at + done,
                                static_cast<size_t>(region.length - done), region.position + done);
            if (n <= 0) return std::nullopt;
            done += n;
        }
    }
    return out;
}

}  // namespace rill::storage
