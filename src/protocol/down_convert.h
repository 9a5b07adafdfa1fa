// Down-conversion of stored magic-2 batches into a legacy message set (magic 0 or 1) for
// Fetch v0-v3, which can carry nothing else (v0-v1: magic 0, v2-v3: magic 1), as Kafka 3.x
// converts on the fly. Layout of the output: legacy_message_set.h.
//
// Rules (Kafka's RecordsUtil.downConvert):
//   - records below `first_offset` are skipped (a fetch from inside a batch); control batches
//     are skipped; headers are dropped (neither magic can carry them);
//   - offsets are kept: uncompressed messages carry their absolute offsets; a compressed
//     wrapper's offset is its last inner message's offset and its inner offsets are relative
//     to its first one (magic 1, KIP-31) or absolute (magic 0);
//   - timestamps (magic 1 only): CreateTime records keep theirs; LogAppendTime batches give
//     every message the batch's max timestamp and set the timestamp-type bit (wrappers too);
//     magic 0 has none;
//   - compression is kept: each source batch becomes one or more wrappers compressed with its
//     codec, except lz4 into magic 0 (old clients expect the pre-KIP-57 frame, KIP-57), which
//     goes uncompressed; zstd cannot be down-converted: unsupported_codec for the whole input,
//     as Kafka answers UNSUPPORTED_COMPRESSION_TYPE.
//
// Bounds: conversion stops at a record boundary once the output (plus the pending wrapper's
// uncompressed inner set) reaches `max_bytes`, but always includes at least one message; a
// wrapper's inner set is cut at `max_bytes` too, so memory is the output, one inner set, one
// record's key and value and the scanner's chunk and decoder state (record_scan.h). Compressed
// records are inflated chunk by chunk, at most `max_inflated` bytes over the whole input.
// Errors after some messages were converted end the conversion with what is done; an error on
// the first batch is returned.
//
// Thread-safety: pure.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/result.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"
#include "protocol/wire.h"

namespace rill::protocol {

struct down_convert_options {
    int8_t magic = 1;          // 0 or 1
    int64_t first_offset = 0;  // records below are skipped
    size_t max_bytes = size_t{1} << 20;
    size_t max_inflated = kDefaultMaxDecompressedSize;
    size_t max_memory = size_t{64} << 20;  // decoder state per batch (decompressor.h)
    compress_options compression;
};

struct down_convert_result {
    bytes data;  // the message set (empty: nothing to convert)
    int32_t messages = 0;
    size_t inflated = 0;  // decompressed bytes read
};

// The magic a Fetch of `version` (0-3) carries.
inline int8_t fetch_magic(int16_t version) {
    return version <= 1 ? 0 : 1;
}

// Converts the whole magic-2 batches at the start of `batches` (a trailing partial batch is
// ignored). Errors: unsupported_codec (a zstd batch), unsupported_magic, and the scanner's
// (record_scan.h) for the first batch converted.
result<down_convert_result, record_error> down_convert(bytes_view batches,
                                                       const down_convert_options& options);

}  // namespace rill::protocol
