// partition_log's truncations: the cut (truncate_to, truncate_fully_and_start_at), making it
// durable (finish_truncation, checkpoints), and the non-blocking variants (truncate_to_async,
// truncate_fully_and_start_at_async), whose cut runs on the owner through the blocking
// variants' code while finish_truncation hands the durability work to the background runner.
#include <unistd.h>

#include <algorithm>
#include <future>
#include <limits>
#include <utility>

#include "protocol/record_batch.h"
#include "storage/batch_scanner.h"
#include "storage/format.h"
#include "storage/logger.h"
#include "storage/partition_log.h"
#include "storage/records.h"

namespace rill::storage {

namespace {

// Runs `cut` (a blocking truncation whose finish_truncation defers to the background runner
// while `slot` holds `done`); `done` runs at once when nothing was deferred (nothing to cut).
template <typename Cut>
status with_deferred(partition_log::truncation_done& slot, partition_log::truncation_done done,
                     Cut&& cut) {
    slot = std::move(done);
    status s = cut();
    auto left = std::exchange(slot, {});  // still set: nothing was cut, or an error came first
    if (s && left) left(s);
    return s;
}

}  // namespace

status partition_log::truncate_to_async(int64_t offset, truncation_done done) {
    return with_deferred(deferred_done_, std::move(done), [&] { return truncate_to(offset); });
}

status partition_log::truncate_fully_and_start_at_async(int64_t offset, truncation_done done) {
    return with_deferred(deferred_done_, std::move(done),
                         [&] { return truncate_fully_and_start_at(offset); });
}

void partition_log::complete_truncation(const status& st) {
    if (!st) go_offline(st.error());
}

status partition_log::defer_truncation(bool drop_all_snapshots) {
    auto done = std::exchange(deferred_done_, {});
    // Producer state as of the new log end, now (reads only). A full truncation cleared it and
    // left an empty log: nothing to rebuild, and the old snapshots go in the background.
    if (!drop_all_snapshots) {
        if (auto r = restore_producers_at_end(*opts_.fs); !r) return r;
    }
    producers_.remove_below(log_start_);

    const auto& active = segments_.active();
    std::vector<std::shared_ptr<file>> files{active->log_file(), active->offset_index_file(),
                                             active->time_index_file()};
    auto fs = opts_.fs;
    auto flush = flush_;
    std::string dir = opts_.dir;
    std::string ck = make_checkpoint().serialize();
    std::string ep = epochs_.serialize();
    const int64_t cut = leo_;
    // Runs once: with the outcome, or with log_offline when the log dir failed (or the log was
    // retired) before the task ran.
    auto finished = std::make_shared<truncation_done>(std::move(done));
    auto skipped = [finished, ld = opts_.log_dir] {
        (*finished)(
            unexpected{ld ? ld->offline_error() : error(errc::shutting_down, "log retired")});
    };
    run(
        [fs, flush, dir, ld = opts_.log_dir, files = std::move(files), ck = std::move(ck),
         ep = std::move(ep), cut, drop_all_snapshots, finished] {
            auto bytes = [](const std::string& s) {
                return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()),
                                                s.size());
            };
            // The cut segment, the renames, then whatever the flusher still had to sync.
            status s;
            for (const auto& f : files)
                if (s && f) s = f->sync();
            if (s) s = fs->sync_dir(dir);
            if (s) s = flush->sync_now();
            // Snapshots past the cut (every one after a full truncation), including those written
            // by tasks queued before the truncation.
            if (s) {
                auto snaps = list_snapshots(*fs, dir);
                if (!snaps) s = unexpected{snaps.error()};
                for (size_t i = 0; s && i < snaps->size(); ++i) {
                    if (!drop_all_snapshots && (*snaps)[i] <= cut) continue;
                    auto u =
                        fs->unlink(join_path(dir, offset_file_stem((*snaps)[i]) + kSnapshotSuffix));
                    if (!u && u.error().code != errc::not_found) s = u;
                }
            }
            if (s) s = write_file_atomic(*fs, join_path(dir, kPartitionCheckpoint), bytes(ck));
            if (s) s = write_file_atomic(*fs, join_path(dir, kLeaderEpochCheckpoint), bytes(ep));
            if (!s) {
                logger()->error("{}: truncation not made durable: {}", dir, s.error().message);
                if (ld) ld->report(s.error());
            }
            (*finished)(s);
        },
        skipped);
    return {};
}

status partition_log::write_checkpoints_and_wait(bool drop_all_snapshots) {
    std::promise<status> done;
    auto fut = done.get_future();
    // On the background runner: FIFO after every checkpoint and snapshot write queued before
    // the truncation, so none of those can overwrite what is written here.
    run(
        [&, fs = opts_.fs, dir = opts_.dir, c = checkpoint_contents()] {
            status s;
            if (drop_all_snapshots) {
                auto snaps = list_snapshots(*fs, dir);
                if (!snaps) s = unexpected{snaps.error()};
                for (size_t i = 0; s && i < snaps->size(); ++i) {
                    auto u =
                        fs->unlink(join_path(dir, offset_file_stem((*snaps)[i]) + kSnapshotSuffix));
                    if (!u && u.error().code != errc::not_found) s = u;
                }
            }
            if (s) s = write_checkpoint_files(*fs, dir, c);
            done.set_value(s);
        },
        [&] { done.set_value(make_error(errc::shutting_down, "log retired")); });
    return fut.get();
}

status partition_log::finish_truncation(bool drop_all_snapshots) {
    file_system& fs = *opts_.fs;
    ++truncations_;
    log_start_ = std::min(log_start_, leo_);
    hwm_ = std::clamp(hwm_, log_start_, leo_);
    cleaner_offset_ = std::clamp(cleaner_offset_, log_start_, leo_);
    epochs_.truncate_from(leo_);
    unflushed_messages_ = 0;
    first_unflushed_ms_ = -1;
    const auto& active = segments_.active();
    flush_->set_active(active->log_file(), {});
    flush_->reset_after_truncation(leo_, flush_->durable());
    if (deferred_done_) return defer_truncation(drop_all_snapshots);
    // Make the cut durable: the active (cut) segment, the renames, then everything else the
    // flusher still had to sync (so the recovery point can be LEO).
    status s = active->sync();
    if (s) s = fs.sync_dir(opts_.dir);
    if (s) s = flush_->sync_now();
    if (!s) {
        go_offline(s.error());
        return s;
    }
    if (auto w = write_checkpoints_and_wait(drop_all_snapshots); !w) {
        go_offline(w.error());
        return w;
    }
    // Producer state as of the new LEO: newest snapshot <= LEO (newer ones are deleted) plus
    // the batches after it.
    if (auto r = restore_producers_at_end(fs); !r) return r;
    producers_.remove_below(log_start_);
    return {};
}

status partition_log::restore_producers_at_end(file_system& fs) {
    auto snap = producers_.load_snapshot(fs, opts_.dir, leo_);
    if (!snap) {
        go_offline(snap.error());
        return unexpected{snap.error()};
    }
    if (auto r = rebuild_producer_state(snap->value_or(segments_.front()->base_offset())); !r) {
        go_offline(r.error());
        return r;
    }
    return {};
}

status partition_log::truncate_to(int64_t offset) {
    if (closed_) return make_error(errc::shutting_down, "log closed");
    if (offset < 0) return make_error(errc::invalid_argument, "negative truncation offset");
    if (check_offline()) return unexpected{*offline_};
    if (offset >= leo_) return {};
    if (offset < segments_.front()->base_offset()) return truncate_fully_and_start_at(offset);

    size_t i = segments_.index_for(offset);
    auto seg = segments_[i];
    int64_t cut = seg->next_offset();
    uint64_t cut_pos = seg->size();
    if (offset < seg->next_offset()) {
        auto loc = seg->find(offset);
        if (!loc) return unexpected{loc.error()};
        if (!*loc)
            return make_error(errc::corrupt, "cannot find the batch holding offset " +
                                                 std::to_string(offset) + " in " + seg->log_path());
        cut = (*loc)->header.base_offset;
        cut_pos = (*loc)->position;
    }
    int64_t old_leo = leo_;
    bool was_active = i + 1 == segments_.size();

    // Later segments first, newest first: a crash in between leaves a shorter, consistent log.
    while (segments_.size() > i + 1) {
        auto paths = segments_.active()->rename_to_deleted(*opts_.fs);
        if (!paths) {
            go_offline(paths.error());
            return unexpected{paths.error()};
        }
        segments_.pop_back();
        remove_files(std::move(*paths));
    }
    // The removals must be durable before the cut is: a power cut must never find the later
    // segments again behind a shortened one (a hole the recovery point would hide).
    if (!was_active) {
        if (auto s = opts_.fs->sync_dir(opts_.dir); !s) {
            go_offline(s.error());
            return s;
        }
    }
    bool cut_needed = cut_pos < seg->size() || cut < seg->next_offset();
    if (compaction_running_ && !was_active) {
        // A compaction job may be reading this (closed) segment object on another thread, and
        // it is about to become the active one: cut the file and continue with a fresh object
        // (the job is voided by truncations_).
        status s = cut_needed ? seg->log_file()->truncate(cut_pos) : status{};
        if (s) {
            auto ns = segment::open(*opts_.fs, opts_.dir, seg->base_offset(), seg_config(),
                                    segment::index_mode::rebuild);
            if (ns && (*ns)->next_offset() != cut)
                ns = unexpected{error(errc::corrupt, "segment ends at an unexpected offset")};
            if (ns)
                segments_.replace(i, *ns);
            else
                s = unexpected{ns.error()};
        }
        if (!s) {
            go_offline(s.error());
            return s;
        }
    } else if (cut_needed) {
        if (auto s = seg->truncate_to(cut_pos, cut); !s) {
            go_offline(s.error());
            return s;
        }
    }
    leo_ = cut;
    auto s = finish_truncation(false);
    if (s)
        logger()->info("{}: truncated to offset {} (requested {}), log end was {}", opts_.dir, leo_,
                       offset, old_leo);
    return s;
}

status partition_log::truncate_fully_and_start_at(int64_t offset) {
    if (closed_) return make_error(errc::shutting_down, "log closed");
    if (offset < 0) return make_error(errc::invalid_argument, "negative start offset");
    if (check_offline()) return unexpected{*offline_};
    int64_t old_start = log_start_, old_leo = leo_;
    // Newest first; the segment objects stay until all renames succeeded.
    std::vector<std::string> removed;
    for (size_t k = segments_.size(); k-- > 0;) {
        auto paths = segments_[k]->rename_to_deleted(*opts_.fs);
        if (!paths) {
            go_offline(paths.error());
            return unexpected{paths.error()};
        }
        removed.insert(removed.end(), paths->begin(), paths->end());
    }
    auto seg = segment::create(*opts_.fs, opts_.dir, offset, seg_config());
    if (!seg) {
        go_offline(seg.error());
        return unexpected{seg.error()};
    }
    segments_.clear();
    segments_.push_back(*seg);
    remove_files(std::move(removed));
    leo_ = offset;
    log_start_ = offset;
    hwm_ = offset;
    cleaner_offset_ = offset;
    epochs_.clear();
    producers_.clear();
    auto s = finish_truncation(true);
    if (s)
        logger()->info("{}: truncated fully, restarting at offset {} (was [{}, {}))", opts_.dir,
                       offset, old_start, old_leo);
    return s;
}

}  // namespace rill::storage
