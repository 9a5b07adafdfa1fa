// On-disk layout of a partition directory, all in one place.
//
//   <log.dir>/<topic>-<partition>/
//     00000000000000000000.log        record batches (RecordBatch magic 2) exactly as appended
//     00000000000000000000.index      sparse offset index  (see below)
//     00000000000000000000.timeindex  sparse time index    (see below)
//     00000000000000001234.snapshot   producer-state snapshot taken when LEO was 1234
//     partition.checkpoint            recovery point, log start offset, high watermark,
//                                     cleaner checkpoint (atomic: tmp + fsync + rename)
//     leader-epoch.checkpoint         leader-epoch cache (atomic, same way)
//     clean-shutdown                  present only after a clean close; removed on open
//     *.deleted                       segment files waiting for asynchronous removal
//     *.cleaned / *.swap              compaction output (discarded / completed on recovery)
//
// Offset index entry (8 bytes, big endian), one every index.interval.bytes of log:
//   +----------------------+----------------------+
//   | relative offset  u32 | file position    u32 |   relative offset = offset - base offset
//   +----------------------+----------------------+   of the first batch at that position
//
// Time index entry (12 bytes, big endian), written with an offset entry when the segment's
// max timestamp grew since the last time entry:
//   +-----------------------------+----------------------+
//   | max timestamp so far    i64 | relative offset  u32 |  (batch whose max timestamp it is)
//   +-----------------------------+----------------------+
//
// Both indexes are advisory: they are checked on load and rebuilt from the log when they look
// wrong or when the segment is re-validated after an unclean shutdown.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace rill::storage {

constexpr const char* kLogSuffix = ".log";
constexpr const char* kIndexSuffix = ".index";
constexpr const char* kTimeIndexSuffix = ".timeindex";
constexpr const char* kSnapshotSuffix = ".snapshot";
constexpr const char* kDeletedSuffix = ".deleted";
constexpr const char* kCleanedSuffix = ".cleaned";
constexpr const char* kSwapSuffix = ".swap";
constexpr const char* kPartitionCheckpoint = "partition.checkpoint";
constexpr const char* kLeaderEpochCheckpoint = "leader-epoch.checkpoint";
constexpr const char* kCleanShutdownMarker = "clean-shutdown";

constexpr size_t kOffsetIndexEntrySize = 8;
constexpr size_t kTimeIndexEntrySize = 12;

// "00000000000000001234"
std::string offset_file_stem(int64_t offset);
// Parses "<20 digits><suffix>"; nullopt when `name` does not have that form.
std::optional<int64_t> parse_offset_file_name(const std::string& name, const std::string& suffix);

inline void put_be32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}
inline void put_be64(uint8_t* p, uint64_t v) {
    put_be32(p, static_cast<uint32_t>(v >> 32));
    put_be32(p + 4, static_cast<uint32_t>(v));
}
inline uint32_t get_be32(const uint8_t* p) {
    return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | p[3];
}
inline uint64_t get_be64(const uint8_t* p) {
    return (uint64_t(get_be32(p)) << 32) | get_be32(p + 4);
}

}  // namespace rill::storage
