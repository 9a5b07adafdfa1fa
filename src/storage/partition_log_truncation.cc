// partition_log's non-blocking truncations (truncate_to_async, truncate_fully_and_start_at_async):
// the cut runs on the owner through the blocking variants' code, and finish_truncation hands
// the durability work to the background runner here instead of waiting for it.
#include <utility>

#include "storage/format.h"
#include "storage/logger.h"
#include "storage/partition_log.h"

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

}  // namespace rill::storage
