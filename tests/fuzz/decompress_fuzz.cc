// Fuzz target: streaming decompression of every codec (decompressor.h) against whole-buffer
// decompress() (compression.h).
//
// Input: one byte (bits 0-2: codec, modulo 5; bits 3-7: output chunk size 1..4096 bytes in
// steps), then the compressed bytes.
// Checks: streaming with a small chunk size yields exactly what decompress() yields, or both
// fail (the stream may refuse first for its smaller memory limit); output never exceeds the
// limit; memory() stays within the limit given to open(); what
// decompresses re-compresses and decompresses back to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "protocol/compression.h"
#include "protocol/decompressor.h"

using namespace rill;
using namespace rill::protocol;

namespace {

constexpr size_t max_output = size_t{1} << 20;
constexpr size_t max_memory = size_t{8} << 20;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const auto codec = static_cast<compression_codec>((data[0] & 7) % 5);
    const size_t chunk = std::min<size_t>(4096, size_t{1} << ((data[0] >> 3) % 13));
    const bytes_view in(data + 1, size - 1);

    auto whole = decompress(codec, in, max_output);

    bytes streamed;
    bool stream_ok = false;
    bool stream_memory_limit = false;  // the stream refused for its (smaller) memory limit
    auto d = decompressor::open(codec, in, max_memory);
    if (!d) stream_memory_limit = d.error() == compression_error::memory_limit;
    if (d) {
        FUZZ_CHECK((*d)->memory() <= max_memory, "decoder memory beyond the limit");
        bytes buf(chunk);
        for (;;) {
            auto n = (*d)->read(buf);
            if (!n) {
                stream_memory_limit = n.error() == compression_error::memory_limit;
                break;
            }
            FUZZ_CHECK(*n <= buf.size(), "read more than the buffer");
            if (*n == 0) {
                stream_ok = true;
                break;
            }
            streamed.insert(streamed.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*n));
            if (streamed.size() > max_output) break;  // decompress() refuses this one
        }
    }
    if (whole && !stream_memory_limit) {
        FUZZ_CHECK(whole->size() <= max_output, "decompress() beyond its limit");
        FUZZ_CHECK(stream_ok, "the stream fails where decompress() succeeds");
        FUZZ_CHECK(streamed == *whole, "the stream and decompress() differ");
        auto packed = compress(codec, *whole);
        FUZZ_CHECK(packed.has_value(), "decompressed data does not compress");
        auto back = decompress(codec, *packed, max_output);
        FUZZ_CHECK(back.has_value() && *back == *whole, "compress/decompress changes the data");
    } else if (stream_ok) {
        // decompress() may only refuse what the stream read for the size or memory limits.
        FUZZ_CHECK(streamed.size() > max_output ||
                       whole.error() == compression_error::memory_limit ||
                       whole.error() == compression_error::output_too_large,
                   std::string("decompress() fails where the stream succeeds: ") +
                       std::string(to_string(whole.error())));
    }
    return 0;
}
