// Legacy message sets (magic 0 and 1), as sent by Produce v0-v2 clients, and their conversion
// into one RecordBatch (magic 2).
//
// A message set is a sequence of entries:
//
//   offset        int64
//   message_size  int32   bytes of the message that follows
//   crc           uint32  CRC-32 (IEEE, zlib's crc32) over magic..end of the message
//   magic         int8    0 or 1
//   attributes    int8    bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4); magic 1: bit 3
//                         timestamp type (1 = LogAppendTime)
//   timestamp     int64   magic 1 only
//   key           int32 length (-1 = null) + bytes
//   value         int32 length (-1 = null) + bytes
//
// A compressed message (a "wrapper") carries a whole inner message set, compressed, as its value.
// Inner messages must be uncompressed and have the wrapper's magic. With magic 1 the inner
// offsets are relative and the wrapper's offset is the last inner absolute offset (KIP-31); with
// magic 0 they are absolute. Conversion ignores both and keeps only the order.
// Magic-0 lz4 wrappers use Kafka's pre-KIP-57 frame with a wrong header checksum: refused.
//
// Thread-safety: all functions are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/result.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"
#include "protocol/wire.h"

namespace rill::protocol {

// One (inner, uncompressed) message of a legacy set, owned.
struct legacy_message {
    int64_t offset = 0;  // as written in the set (inner offsets of wrappers as stored)
    int8_t magic = 0;
    int8_t attributes = 0;   // of the message itself (codec bits are 0)
    int64_t timestamp = -1;  // -1 for magic 0; the wrapper's timestamp under LogAppendTime
    std::optional<bytes> key;
    std::optional<bytes> value;
    friend bool operator==(const legacy_message&, const legacy_message&) = default;
};

// Parses and checks a whole legacy message set (every CRC, every length, no partial trailing
// message), decompressing wrappers, and returns the messages in order. `max_decompressed` bounds
// the total decompressed bytes of all wrappers.
result<std::vector<legacy_message>, record_error> read_legacy_message_set(
    bytes_view data, size_t max_decompressed = kDefaultMaxDecompressedSize);

struct legacy_convert_options {
    size_t max_decompressed = kDefaultMaxDecompressedSize;
    // Compress the new batch with the codec of the first compressed wrapper (gzip, snappy or
    // lz4), as Kafka does; false: always uncompressed.
    bool keep_compression = true;
    compress_options compression;
};

// Converts a legacy message set into ONE magic-2 batch: records in set order with offset deltas
// 0..n-1 (base offset 0), the same keys and values, no headers. Timestamps: magic 1 keeps each
// message's timestamp (the wrapper's under LogAppendTime); magic 0 has none and gets -1
// (Kafka's NoTimestamp). The batch uses CreateTime, no producer id (-1), epoch -1, sequence -1,
// leader epoch -1. Errors: anything read_legacy_message_set reports, empty_batch for an empty set.
result<bytes, record_error> convert_legacy_message_set(bytes_view data,
                                                       const legacy_convert_options& options = {});

}  // namespace rill::protocol
