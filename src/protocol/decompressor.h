// Streaming decompression of one compressed block (a batch's records section, a legacy
// wrapper's value): the output is produced chunk by chunk into buffers the caller owns, so the
// whole inflated data never has to exist at once.
//
//   auto d = decompressor::open(codec, input, max_memory);
//   if (!d) ...;
//   uint8_t buf[65536];
//   for (;;) {
//       auto n = (*d)->read(buf);   // 0: the stream ended cleanly
//       if (!n) ...;                // corrupt_input / memory_limit / internal
//       if (*n == 0) break;
//       consume(buf, *n);
//   }
//
// Working memory. Besides the caller's buffer, each decoder holds state whose size depends on
// the input: zlib's 32 KiB window, zstd's window (declared by the frame: up to 128 MiB for
// windowLog 27, zstd's own default limit), an lz4 frame's block buffer (64 KiB..4 MiB, from the
// frame descriptor), one snappy block (raw snappy: the whole uncompressed block; xerial: one
// chunk). open() computes that size from the headers before allocating anything and refuses
// (memory_limit) inputs that would need more than `max_memory`; memory() reports it so callers
// can charge it to a budget. Later zstd frames or snappy chunks that would need more than the
// size open() reported fail with memory_limit too.
//
// Accepted formats are those of compression.h's decompress() (which is built on this class).
//
// Thread-safety: a decompressor is a single-threaded value; the input must outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "common/result.h"
#include "protocol/compression.h"

namespace rill::protocol {

class decompressor {
  public:
    virtual ~decompressor() = default;

    // Opens a stream over `input`. codec none passes the input through.
    static result<std::unique_ptr<decompressor>, compression_error> open(
        compression_codec codec, bytes_view input, size_t max_memory = kDefaultMaxDecompressedSize);

    // Writes up to out.size() (> 0) bytes of output and returns how many; 0 once the stream has
    // ended (all input consumed, the last frame complete). A stream that ends early, or has
    // bytes after its end that are not another frame, fails with corrupt_input.
    virtual result<size_t, compression_error> read(std::span<uint8_t> out) = 0;

    // The working memory this decoder may hold (an upper bound), excluding the caller's buffer.
    size_t memory() const { return memory_; }

  protected:
    explicit decompressor(size_t memory) : memory_(memory) {}
    size_t memory_;
};

}  // namespace rill::protocol
