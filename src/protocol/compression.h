// Compression codecs of Kafka record batches and legacy message sets.
//
//   codec   compress() writes                       decompress() accepts
//   gzip    a gzip member (RFC 1952)                gzip (also several members) or zlib
//   snappy  xerial framing (what Java clients       xerial framing or a raw snappy block
//           write; every client reads it), or raw
//   lz4     an LZ4 frame: 64 KiB independent        any LZ4 frame (with or without checksums,
//           blocks, no checksums, no content size   content size, linked blocks)
//   zstd    a zstd frame                            zstd frames, streamed (the frame header
//                                                   need not carry the content size)
//
// Xerial framing: 8 magic bytes 0x82 'S' 'N' 'A' 'P' 'P' 'Y' 0x00, int32 version, int32
// compatible version, then chunks of [int32 big-endian length][raw snappy block].
//
// LZ4 note: magic-0 message sets use Kafka's old frame with a wrong header checksum (KIP-57);
// that variant is refused by the legacy converter and never reaches this file.
//
// Decompressed output is bounded by `max_output` (default kDefaultMaxDecompressedSize): a
// decompression bomb fails with output_too_large instead of exhausting memory. The bound is
// enforced while decompressing, not after.
//
// Thread-safety: all functions are pure and may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/result.h"
#include "protocol/record_batch_header.h"
#include "protocol/wire.h"

namespace rill::protocol {

constexpr size_t kDefaultMaxDecompressedSize = size_t{128} << 20;  // 128 MiB

enum class compression_error : uint8_t {
    unsupported_codec = 1,  // not one of gzip, snappy, lz4, zstd (or none)
    corrupt_input,          // the compressed bytes are malformed or truncated
    output_too_large,       // the decompressed size would exceed max_output
    memory_limit,           // the decoder's working memory would exceed its limit
    internal,               // the library failed (allocation, ...)
};
std::string_view to_string(compression_error e);

struct compress_options {
    // Codec-specific level; 0 means the library default.
    int level = 0;
    // snappy only: write xerial framing (true) or one raw snappy block (false).
    bool snappy_xerial = true;
};

// Compresses `input` with `codec`. codec none copies the input.
result<bytes, compression_error> compress(compression_codec codec, bytes_view input,
                                          const compress_options& options = {});

// Decompresses `input` (the whole of it) with `codec`. codec none copies the input.
result<bytes, compression_error> decompress(compression_codec codec, bytes_view input,
                                            size_t max_output = kDefaultMaxDecompressedSize);

// True for none, gzip, snappy, lz4 and zstd.
bool is_known_codec(int codec);

}  // namespace rill::protocol
