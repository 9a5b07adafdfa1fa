#include "storage/cleaner.h"

#include <string>
#include <unordered_map>

#include "protocol/record_batch.h"
#include "storage/batch_scanner.h"
#include "storage/format.h"
#include "storage/logger.h"
#include "storage/partition_log.h"
#include "storage/records.h"

namespace rill::storage {

using protocol::batch_header;
using protocol::compression_codec;

namespace {

using key_map = std::unordered_map<std::string, int64_t>;

std::string key_string(std::span<const uint8_t> k) {
    return std::string(reinterpret_cast<const char*>(k.data()), k.size());
}

bool inspectable(const batch_header& h) {
    return !h.is_control();
}

bool uncompressed(const batch_header& h) {
    return h.codec() == compression_codec::none;
}

// Records of a compressed batch, through the protocol library's reader.
status map_compressed(std::span<const uint8_t> body, const batch_header& h, key_map& map,
                      const std::string& where) {
    auto rr = protocol::record_reader::open(body);
    if (!rr) return unexpected{error(errc::corrupt, where + ": cannot decompress batch")};
    protocol::record_view v;
    while (rr->next(v))
        if (v.key) map[key_string(*v.key)] = h.base_offset + v.offset_delta;
    if (rr->error()) return unexpected{error(errc::corrupt, where + ": malformed records")};
    return {};
}

// Aborted transactions by producer: {first offset, marker offset}.
using aborted_map = std::unordered_multimap<int64_t, std::pair<int64_t, int64_t>>;

bool in_aborted_txn(const aborted_map& aborted, const batch_header& h) {
    if (!h.is_transactional() || h.is_control() || aborted.empty()) return false;
    auto [lo, hi] = aborted.equal_range(h.producer_id);
    for (auto it = lo; it != hi; ++it)
        if (it->second.first <= h.base_offset && h.base_offset < it->second.second) return true;
    return false;
}

status build_map(const std::vector<std::shared_ptr<segment>>& segs, const aborted_map& aborted,
                 key_map& map) {
    for (const auto& seg : segs) {
        batch_scanner sc(*seg->log_file(), 0, seg->size(), true);
        for (;;) {
            auto b = sc.next();
            if (b.status == scan_status::end) break;
            if (b.status != scan_status::ok)
                return unexpected{
                    error(b.status == scan_status::io_error ? errc::io_error : errc::corrupt,
                          seg->log_path() + ": " + b.reason)};
            if (!inspectable(b.header) || in_aborted_txn(aborted, b.header)) continue;
            if (!uncompressed(b.header)) {
                if (auto s = map_compressed(b.body, b.header, map, seg->log_path()); !s) return s;
                continue;
            }
            raw_record_iterator it(b.body);
            raw_record r;
            while (it.next(r))
                if (r.key) map[key_string(*r.key)] = b.header.base_offset + r.offset_delta;
            if (it.failed())
                return unexpected{error(errc::corrupt, seg->log_path() + ": malformed records")};
        }
    }
    return {};
}

}  // namespace

status compaction_job::run() {
    ran_ = true;
    std::vector<std::shared_ptr<segment>> segs;
    for (const auto& o : outputs_)
        segs.push_back(o.source);
    aborted_map aborted;
    for (const auto& a : aborted_)
        aborted.emplace(a.producer_id, std::make_pair(a.first_offset, a.last_offset));
    key_map map;
    if (auto s = build_map(segs, aborted, map); !s) return result_ = s;

    const int64_t horizon = now_ms_ - config_.delete_retention_ms;
    for (auto& o : outputs_) {
        const auto& seg = o.source;
        stats_.bytes_before += seg->size();
        ++stats_.segments;
        auto out = fs_->open(o.cleaned_path, open_mode::create_truncate);
        if (!out) return result_ = unexpected{out.error()};
        std::vector<uint8_t> buf;
        uint64_t written = 0;
        auto drain = [&]() -> status {
            if (buf.empty()) return {};
            if (auto s = (*out)->pwrite(written, buf); !s) return s;
            written += buf.size();
            buf.clear();
            return {};
        };
        batch_scanner sc(*seg->log_file(), 0, seg->size(), true);
        for (;;) {
            auto b = sc.next();
            if (b.status == scan_status::end) break;
            if (b.status != scan_status::ok)
                return result_ =
                           unexpected{error(errc::corrupt, seg->log_path() + ": " + b.reason)};
            const batch_header& h = b.header;
            if (!inspectable(h)) {
                buf.insert(buf.end(), b.body.begin(), b.body.end());
            } else if (!uncompressed(h)) {
                auto recs = protocol::read_records(b.body);
                if (!recs)
                    return result_ = unexpected{
                               error(errc::corrupt, seg->log_path() + ": cannot decompress batch")};
                std::vector<protocol::record> kept;
                const bool dropped = in_aborted_txn(aborted, h);
                for (auto& r : *recs) {
                    bool keep = !dropped;
                    if (keep && r.key) {
                        auto m = map.find(key_string(*r.key));
                        if (m != map.end() && m->second != h.base_offset + r.offset_delta) {
                            keep = false;
                        } else if (!r.value && r.timestamp < horizon) {
                            keep = false;
                            ++stats_.tombstones_removed;
                        }
                    }
                    if (keep)
                        kept.push_back(std::move(r));
                    else
                        ++stats_.records_removed;
                }
                if (kept.size() == recs->size()) {
                    buf.insert(buf.end(), b.body.begin(), b.body.end());
                } else {
                    o.changed = true;
                    protocol::batch_spec spec;
                    spec.base_offset = h.base_offset;
                    spec.partition_leader_epoch = h.partition_leader_epoch;
                    spec.producer_id = h.producer_id;
                    spec.producer_epoch = h.producer_epoch;
                    spec.base_sequence = h.base_sequence;
                    spec.transactional = h.is_transactional();
                    if (h.log_append_time()) spec.log_append_time = h.max_timestamp;
                    // An emptied batch is written uncompressed: there is nothing to compress.
                    spec.codec = kept.empty() ? compression_codec::none : h.codec();
                    spec.last_offset_delta = h.last_offset_delta;
                    auto built = protocol::build_batch(spec, kept);
                    if (!built)
                        return result_ = unexpected{error(
                                   errc::corrupt, seg->log_path() + ": cannot rebuild batch")};
                    buf.insert(buf.end(), built->begin(), built->end());
                }
            } else {
                std::vector<uint8_t> kept;
                int32_t kept_count = 0;
                raw_record_iterator it(b.body);
                raw_record r;
                const bool dropped = in_aborted_txn(aborted, h);
                while (it.next(r)) {
                    int64_t off = h.base_offset + r.offset_delta;
                    bool keep = !dropped;
                    if (keep && r.key) {
                        auto m = map.find(key_string(*r.key));
                        if (m != map.end() && m->second != off) {
                            keep = false;
                        } else if (!r.value) {
                            int64_t ts = h.log_append_time() ? h.max_timestamp
                                                             : h.base_timestamp + r.timestamp_delta;
                            if (ts < horizon) {
                                keep = false;
                                ++stats_.tombstones_removed;
                            }
                        }
                    }
                    if (keep) {
                        kept.insert(kept.end(), r.bytes.begin(), r.bytes.end());
                        ++kept_count;
                    } else {
                        ++stats_.records_removed;
                    }
                }
                if (kept_count == h.record_count) {
                    buf.insert(buf.end(), b.body.begin(), b.body.end());
                } else {
                    o.changed = true;
                    {  // emptied batches stay (record_count 0): offsets remain contiguous
                        batch_header nh = h;
                        nh.record_count = kept_count;
                        nh.batch_length = static_cast<int32_t>(
                            protocol::kBatchHeaderSize - protocol::kBatchLogOverhead + kept.size());
                        size_t at = buf.size();
                        buf.resize(at + protocol::kBatchHeaderSize);
                        protocol::write_batch_header(
                            nh, std::span<uint8_t>(buf.data() + at, protocol::kBatchHeaderSize));
                        buf.insert(buf.end(), kept.begin(), kept.end());
                        auto whole = std::span<uint8_t>(buf.data() + at, buf.size() - at);
                        put_be32(whole.data() + protocol::kCrcOffset,
                                 protocol::compute_batch_crc(whole));
                    }
                }
            }
            if (buf.size() >= (1u << 20)) {
                if (auto s = drain(); !s) return result_ = s;
            }
        }
        if (auto s = drain(); !s) return result_ = s;
        if (!o.changed) {
            out->reset();
            (void)fs_->unlink(o.cleaned_path);
            stats_.bytes_after += seg->size();
            continue;
        }
        if (auto s = (*out)->sync(); !s) return result_ = s;
        stats_.bytes_after += written;
    }
    return result_ = status{};
}

std::shared_ptr<compaction_job> partition_log::prepare_compaction(int64_t now_ms) {
    const auto& c = opts_.config;
    if (!c.cleanup_compact || compaction_running_ || offline() || closed_) return nullptr;
    std::vector<std::shared_ptr<segment>> cleanable;
    uint64_t total = 0, dirty = 0;
    // Below the last stable offset only: an open transaction may still abort.
    const int64_t stable = last_stable_offset();
    for (size_t i = 0; i + 1 < segments_.size(); ++i) {
        const auto& s = segments_[i];
        if (s->next_offset() > stable) break;
        if (s->max_timestamp() > now_ms - c.min_compaction_lag_ms) break;
        cleanable.push_back(s);
        total += s->size();
        if (s->next_offset() > cleaner_offset_) dirty += s->size();
    }
    if (cleanable.empty() || total == 0 || dirty == 0) return nullptr;
    if (static_cast<double>(dirty) / static_cast<double>(total) < c.min_cleanable_dirty_ratio)
        return nullptr;
    auto job = std::make_shared<compaction_job>();
    job->fs_ = opts_.fs;
    job->dir_ = opts_.dir;
    job->config_ = c;
    job->now_ms_ = now_ms;
    job->end_offset_ = cleanable.back()->next_offset();
    job->truncations_ = truncations_;
    for (const auto& a : producers_.aborted())
        if (a.first_offset < job->end_offset_) job->aborted_.push_back(a);
    for (auto& s : cleanable) {
        compaction_job::output o;
        o.cleaned_path = s->log_path() + kCleanedSuffix;
        o.source = s;
        job->outputs_.push_back(std::move(o));
    }
    compaction_running_ = true;
    return job;
}

status partition_log::install_compaction(compaction_job& job) {
    compaction_running_ = false;
    if (!job.ran_) return make_error(errc::invalid_argument, "compaction job did not run");
    if (job.truncations_ != truncations_) {
        // The log was truncated (replication) while the job ran: its output may hold
        // truncated data, and its sources may have been cut or deleted. Discard it.
        for (auto& o : job.outputs_)
            (void)opts_.fs->unlink(o.cleaned_path);
        logger()->info("{}: compaction result discarded: the log was truncated meanwhile",
                       opts_.dir);
        return {};
    }
    if (!job.result_) {
        logger()->error("{}: compaction failed: {}", opts_.dir, job.result_.error().message);
        for (auto& o : job.outputs_)
            (void)opts_.fs->unlink(o.cleaned_path);
        return job.result_;
    }
    file_system& fs = *opts_.fs;
    bool any = false;
    for (auto& o : job.outputs_) {
        if (!o.changed) continue;
        size_t idx = segments_.size();
        for (size_t i = 0; i + 1 < segments_.size(); ++i)
            if (segments_[i] == o.source) idx = i;
        if (idx == segments_.size() || closed_) {  // deleted by retention meanwhile
            (void)fs.unlink(o.cleaned_path);
            continue;
        }
        std::string log_path = o.source->log_path();
        std::string swap = log_path + kSwapSuffix;
        if (auto s = fs.rename(o.cleaned_path, swap); !s) return s;
        auto old_files = o.source->rename_to_deleted(fs);
        if (!old_files) {
            go_offline(old_files.error());
            return unexpected{old_files.error()};
        }
        if (auto s = fs.rename(swap, log_path); !s) {
            go_offline(s.error());
            return s;
        }
        auto seg = segment::open(fs, opts_.dir, o.source->base_offset(), seg_config(),
                                 segment::index_mode::rebuild);
        if (!seg) {
            go_offline(seg.error());
            return unexpected{seg.error()};
        }
        segments_.replace(idx, *seg);
        // Its fresh indexes are made durable off this thread.
        run([seg = *seg] {
            if (auto s = seg->sync(); !s)
                logger()->warn("sync of {} failed: {}", seg->log_path(), s.error().message);
        });
        remove_files(std::move(*old_files));
        any = true;
    }
    if (any) {
        // Every intermediate state of the renames above recovers correctly (see cleaner.h),
        // so making them durable can wait for the background thread.
        run([fs = opts_.fs, dir = opts_.dir] {
            if (auto s = fs->sync_dir(dir); !s)
                logger()->warn("fsync of {} failed: {}", dir, s.error().message);
        });
    }
    cleaner_offset_ = std::max(cleaner_offset_, job.end_offset_);
    checkpoint();
    logger()->info(
        "{}: compacted {} segments, {} -> {} bytes, {} records and {} tombstones removed",
        opts_.dir, job.stats_.segments, job.stats_.bytes_before, job.stats_.bytes_after,
        job.stats_.records_removed, job.stats_.tombstones_removed);
    return {};
}

status partition_log::compact_now(int64_t now_ms) {
    auto job = prepare_compaction(now_ms);
    if (!job) return {};
    (void)job->run();
    return install_compaction(*job);
}

}  // namespace rill::storage
