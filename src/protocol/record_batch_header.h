// The fixed 61-byte header of a RecordBatch (magic 2), as stored on disk and sent on the wire.
//
//   offset  size  field
//        0     8  base_offset             \ outside the CRC: the broker stamps these
//        8     4  batch_length (bytes after this field)
//       12     4  partition_leader_epoch  /
//       16     1  magic (2)
//       17     4  crc (CRC-32C of bytes 21..end)
//       21     2  attributes: bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control,
//                             6 delete horizon
//       23     4  last_offset_delta
//       27     8  base_timestamp
//       35     8  max_timestamp
//       43     8  producer_id
//       51     2  producer_epoch
//       53     4  base_sequence
//       57     4  record_count
//       61        records...
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace rill::protocol {

constexpr size_t kBatchHeaderSize = 61;
constexpr size_t kBatchLengthOffset = 8;
constexpr size_t kLeaderEpochOffset = 12;
constexpr size_t kMagicOffset = 16;
constexpr size_t kCrcOffset = 17;
constexpr size_t kAttributesOffset = 21;
constexpr size_t kMaxTimestampOffset = 35;
// Bytes before batch_length's payload starts (base_offset + batch_length).
constexpr size_t kBatchLogOverhead = 12;

enum class compression_codec : uint8_t { none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4 };

constexpr uint16_t kAttrCodecMask = 0x07;
constexpr uint16_t kAttrLogAppendTime = 0x08;
constexpr uint16_t kAttrTransactional = 0x10;
constexpr uint16_t kAttrControl = 0x20;
constexpr uint16_t kAttrDeleteHorizon = 0x40;

struct batch_header {
    int64_t base_offset = 0;
    int32_t batch_length = 0;
    int32_t partition_leader_epoch = 0;
    int8_t magic = 2;
    uint32_t crc = 0;
    int16_t attributes = 0;
    int32_t last_offset_delta = 0;
    int64_t base_timestamp = 0;
    int64_t max_timestamp = 0;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int32_t base_sequence = -1;
    int32_t record_count = 0;

    compression_codec codec() const {
        return static_cast<compression_codec>(attributes & kAttrCodecMask);
    }
    bool is_transactional() const { return attributes & kAttrTransactional; }
    bool is_control() const { return attributes & kAttrControl; }
    bool log_append_time() const { return attributes & kAttrLogAppendTime; }
    int64_t last_offset() const { return base_offset + last_offset_delta; }
    // Total size of the batch in bytes, including base_offset and batch_length.
    size_t total_size() const { return kBatchLogOverhead + static_cast<size_t>(batch_length); }
    int32_t last_sequence() const;  // base_sequence + last_offset_delta, wrapping at INT32_MAX
};

// Parses the first kBatchHeaderSize bytes. nullopt when fewer bytes are given. Does not check
// magic, lengths or CRC: see validate_batch().
std::optional<batch_header> parse_batch_header(std::span<const uint8_t> data);

// One whole batch taken off the front of a buffer of concatenated batches.
struct batch_slice {
    batch_header header;
    std::span<const uint8_t> bytes;  // the whole batch, header included
};
// Takes the next batch off `rest` (e.g. a log read copied to memory). nullopt at the end, or
// when the next header is unreadable or the batch is cut short; `rest` is then unchanged. Does
// not validate the batch (see validate_batch()).
std::optional<batch_slice> next_batch(std::span<const uint8_t>& rest);

// Writes the header fields into the first kBatchHeaderSize bytes of `out`.
void write_batch_header(const batch_header& h, std::span<uint8_t> out);

// The CRC-32C a batch should carry: over bytes [kAttributesOffset, total size).
// REQUIRES: data.size() >= kAttributesOffset.
uint32_t compute_batch_crc(std::span<const uint8_t> batch);

}  // namespace rill::protocol
