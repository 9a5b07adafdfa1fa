// partition_log::open's loading and crash recovery (see partition_log.h and storage/format.h):
// finish or discard interrupted file operations, read the checkpoints, open the segments
// (re-validating those after the recovery point unless the shutdown was clean), rebuild
// leader epochs and producer state, make the recovered state durable and write fresh
// checkpoints.
#include <algorithm>

#include "storage/batch_scanner.h"
#include "storage/format.h"
#include "storage/logger.h"
#include "storage/partition_log.h"

namespace rill::storage {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() &&
           s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Removes leftovers of interrupted deletions, cleanings and checkpoint writes and completes
// interrupted compaction swaps.
status finish_interrupted_operations(file_system& fs, const std::string& dir,
                                     const std::vector<std::string>& names) {
    for (const auto& n : names) {
        std::string p = join_path(dir, n);
        if (ends_with(n, kDeletedSuffix) || ends_with(n, kCleanedSuffix) || ends_with(n, ".tmp")) {
            (void)fs.unlink(p);
        } else if (ends_with(n, kSwapSuffix)) {
            // A finished cleaner output: complete its installation.
            std::string target = n.substr(0, n.size() - std::string(kSwapSuffix).size());
            auto base = parse_offset_file_name(target, kLogSuffix);
            if (!base) {
                (void)fs.unlink(p);
                continue;
            }
            if (auto s = fs.rename(p, join_path(dir, target)); !s) return s;
            std::string stem = join_path(dir, offset_file_stem(*base));
            (void)fs.unlink(stem + kIndexSuffix);
            (void)fs.unlink(stem + kTimeIndexSuffix);
            logger()->info("completed interrupted compaction swap of {}", target);
        }
    }
    return {};
}

struct loaded_checkpoints {
    bool clean = false;  // clean-shutdown marker present and the checkpoint readable
    partition_checkpoint partition;
    leader_epoch_cache epochs;
};

result<loaded_checkpoints> read_checkpoints(file_system& fs, const std::string& dir) {
    loaded_checkpoints out;
    out.clean = fs.exists(join_path(dir, kCleanShutdownMarker));
    if (auto data = read_whole_file(fs, join_path(dir, kPartitionCheckpoint))) {
        auto parsed = partition_checkpoint::parse(std::string(data->begin(), data->end()));
        if (parsed) {
            out.partition = *parsed;
        } else {
            logger()->warn("{}: unreadable partition checkpoint, recovering the whole log", dir);
            out.clean = false;
        }
    } else if (data.error().code != errc::not_found) {
        return unexpected{data.error()};
    } else {
        if (out.clean) logger()->warn("{}: clean-shutdown marker without checkpoint", dir);
        out.clean = false;
    }
    if (auto data = read_whole_file(fs, join_path(dir, kLeaderEpochCheckpoint))) {
        if (auto parsed = leader_epoch_cache::parse(std::string(data->begin(), data->end())))
            out.epochs = *parsed;
        else
            logger()->warn("{}: unreadable leader-epoch checkpoint, starting empty", dir);
    }
    return out;
}

}  // namespace

status partition_log::load(int64_t /*now_ms*/) {
    file_system& fs = *opts_.fs;
    const std::string& dir = opts_.dir;
    if (auto s = fs.mkdir(dir); !s) return s;
    auto names = fs.list(dir);
    if (!names) return unexpected{names.error()};

    if (auto s = finish_interrupted_operations(fs, dir, *names); !s) return s;
    names = fs.list(dir);
    if (!names) return unexpected{names.error()};

    auto cks = read_checkpoints(fs, dir);
    if (!cks) return unexpected{cks.error()};
    bool clean = cks->clean;
    const partition_checkpoint& ck = cks->partition;
    epochs_ = std::move(cks->epochs);

    std::vector<int64_t> bases;
    for (const auto& n : *names)
        if (auto b = parse_offset_file_name(n, kLogSuffix)) bases.push_back(*b);
    std::sort(bases.begin(), bases.end());

    size_t first_recover = bases.size();
    if (!clean) {
        first_recover = 0;
        for (size_t i = 0; i < bases.size(); ++i)
            if (bases[i] <= ck.recovery_point) first_recover = i;
    }
    open_info_.clean = clean;

    segment_config cfg = seg_config();
    for (size_t i = 0; i < bases.size(); ++i) {
        std::string stem = join_path(dir, offset_file_stem(bases[i]));
        bool recover = i >= first_recover;
        bool have_indexes = fs.exists(stem + kIndexSuffix) && fs.exists(stem + kTimeIndexSuffix);
        auto seg = segment::open(fs, dir, bases[i], cfg,
                                 recover        ? segment::index_mode::none
                                 : have_indexes ? segment::index_mode::trust
                                                : segment::index_mode::rebuild);
        if (!seg) return unexpected{seg.error()};
        bool drop_rest = false;
        if (!segments_.empty() && bases[i] < segments_.active()->next_offset()) {
            logger()->error("{}: segment {} overlaps its predecessor; dropping it and all later",
                            dir, bases[i]);
            drop_rest = true;
        } else if (recover && !segments_.empty() && bases[i] > segments_.active()->next_offset()) {
            // The previous segment lost its unsynced tail while this later one kept data: what
            // follows the hole was never durable (it is past the recovery point).
            logger()->error(
                "{}: gap before segment {} (the previous one ends at offset {}); dropping it and "
                "all later",
                dir, bases[i], segments_.active()->next_offset());
            drop_rest = true;
        } else if (recover) {
            auto rr = (*seg)->recover();
            if (!rr) return unexpected{rr.error()};
            ++open_info_.segments_recovered;
            if (rr->truncated_bytes > 0) {
                open_info_.truncated_bytes += rr->truncated_bytes;
                if (i + 1 == bases.size()) {
                    logger()->warn("{}: truncated {} invalid bytes at the end of the log ({})", dir,
                                   rr->truncated_bytes, rr->reason);
                } else {
                    logger()->error(
                        "{}: CORRUPTION in the middle of the log: segment {} invalid at position "
                        "{} "
                        "({}); truncating there and dropping the {} later segments",
                        dir, bases[i], rr->valid_bytes, rr->reason, bases.size() - i - 1);
                    drop_rest = true;
                }
            }
            segments_.push_back(*seg);
        } else {
            segments_.push_back(*seg);
        }
        if (drop_rest) {
            size_t from =
                segments_.empty() || segments_.active()->base_offset() != bases[i] ? i : i + 1;
            for (size_t j = from; j < bases.size(); ++j) {
                std::string st = join_path(dir, offset_file_stem(bases[j]));
                for (const char* suf : {kLogSuffix, kIndexSuffix, kTimeIndexSuffix})
                    (void)fs.unlink(st + suf);
                ++open_info_.segments_dropped;
            }
            break;
        }
    }

    if (segments_.empty()) {
        auto seg = segment::create(fs, dir, std::max<int64_t>(ck.log_start, 0), cfg);
        if (!seg) return unexpected{seg.error()};
        segments_.push_back(*seg);
    }
    leo_ = segments_.active()->next_offset();
    log_start_ =
        std::clamp(std::max(ck.log_start, segments_.front()->base_offset()), int64_t(0), leo_);
    hwm_ = std::clamp(ck.high_watermark, log_start_, leo_);
    checkpointed_hwm_ = hwm_;
    cleaner_offset_ = std::clamp(ck.cleaner_offset, log_start_, leo_);
    size_t epochs_before = epochs_.entries().size();
    epochs_.truncate_from(leo_);
    bool epochs_changed = epochs_.entries().size() != epochs_before;
    if (!clean) {
        // The leader-epoch checkpoint is written in the background and may lag the log: learn
        // the epochs of the re-validated segments from their batches (as Kafka's recovery does).
        for (size_t i = std::min(first_recover, segments_.size()); i < segments_.size(); ++i) {
            const auto& seg = segments_[i];
            batch_scanner sc(*seg->log_file(), 0, seg->size(), false);
            for (;;) {
                auto b = sc.next();
                if (b.status == scan_status::io_error)
                    return unexpected{error(errc::io_error, b.reason)};
                if (b.status != scan_status::ok) break;
                if (epochs_.assign(b.header.partition_leader_epoch, b.header.base_offset))
                    epochs_changed = true;
            }
        }
    }

    auto snap = producers_.load_snapshot(fs, dir, leo_);
    if (!snap) return unexpected{snap.error()};
    if (auto s = rebuild_producer_state(snap->value_or(segments_.front()->base_offset())); !s)
        return s;
    producers_.remove_below(log_start_);

    if (!clean) {
        // Make the recovered state durable before trusting it as the recovery point.
        for (size_t i = std::min(first_recover, segments_.size()); i < segments_.size(); ++i)
            if (auto s = segments_[i]->sync(); !s) return s;
        if (auto s = fs.sync_dir(dir); !s) return s;
    }
    flush_ = std::make_shared<flush_state>(leo_, opts_.fs, dir);
    if (opts_.log_dir)
        flush_->set_failure_hook([ld = opts_.log_dir](const error& e) { ld->report(e); });
    flush_->publish(leo_);
    flush_->set_active(segments_.active()->log_file(), {});

    // From here on the log may change: the marker must go before the first append.
    if (clean) {
        if (auto s = fs.unlink(join_path(dir, kCleanShutdownMarker)); !s) return s;
        if (auto s = fs.sync_dir(dir); !s) return s;
    }
    checkpoint_files written;
    written.partition = make_checkpoint().serialize();
    if (epochs_changed) written.leader_epochs = epochs_.serialize();
    if (auto s = write_checkpoint_files(fs, dir, written); !s) return s;
    if ((!clean && leo_ > 0) || open_info_.truncated_bytes > 0) {
        logger()->info(
            "{}: recovered, log start {}, log end {}, {} segments ({} re-validated, {} "
            "bytes truncated)",
            dir, log_start_, leo_, segments_.size(), open_info_.segments_recovered,
            open_info_.truncated_bytes);
    }
    return {};
}

}  // namespace rill::storage
