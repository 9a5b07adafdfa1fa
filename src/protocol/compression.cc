#include "protocol/compression.h"

#include "protocol/decompressor.h"

#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <limits>

namespace rill::protocol {
namespace {

using unexpected_error = unexpected<compression_error>;

// The most state a zstd (128 MiB window) or lz4 (4 MiB blocks) decoder needs.
constexpr size_t kMaxDecoderState = (size_t{128} << 20) + (size_t{16} << 20);

constexpr uint8_t kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr size_t kXerialChunkSize = 32 * 1024;  // uncompressed bytes per chunk (xerial default)

// An output buffer that grows by doubling up to max_output + 1 bytes: reaching that size proves
// the output is too large without ever allocating more.
class growing_output {
  public:
    growing_output(size_t max_output, size_t input_size) : max_(max_output) {
        const size_t cap = cap_bytes();
        size_t initial = input_size > cap / 4 ? cap : std::max<size_t>(input_size * 4, 4096);
        buf_.resize(std::min(initial, cap));
    }

    // Makes room for more output. False when the buffer already holds more than max_output.
    bool ensure_room() {
        if (used_ < buf_.size()) return true;
        const size_t cap = cap_bytes();
        if (buf_.size() >= cap) return false;
        size_t next = buf_.size() > cap / 2 ? cap : buf_.size() * 2;
        buf_.resize(std::max(next, buf_.size() + 1));
        return true;
    }
    uint8_t* write_ptr() { return buf_.data() + used_; }
    size_t room() const { return buf_.size() - used_; }
    void advance(size_t n) { used_ += n; }
    bool too_large() const { return used_ > max_; }
    bytes take() {
        buf_.resize(used_);
        return std::move(buf_);
    }

  private:
    size_t cap_bytes() const {
        return max_ == std::numeric_limits<size_t>::max() ? max_ : max_ + 1;
    }

    bytes buf_;
    size_t used_ = 0;
    size_t max_;
};

void append_be32(bytes& out, uint32_t v) {
    out.push_back(static_cast<uint8_t>(v >> 24));
    out.push_back(static_cast<uint8_t>(v >> 16));
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

// ---- gzip ----

result<bytes, compression_error> gzip_compress(bytes_view in, int level) {
    if (in.size() > std::numeric_limits<uInt>::max())
        return unexpected_error{compression_error::internal};
    z_stream z{};
    if (deflateInit2(&z, level == 0 ? Z_DEFAULT_COMPRESSION : level, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return unexpected_error{compression_error::internal};
    bytes out(deflateBound(&z, static_cast<uLong>(in.size())) + 32);
    z.next_in = const_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&z, Z_FINISH);
    const size_t produced = out.size() - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) return unexpected_error{compression_error::internal};
    out.resize(produced);
    return out;
}

// ---- snappy ----

result<bytes, compression_error> snappy_raw_compress(bytes_view in) {
    size_t len = snappy_max_compressed_length(in.size());
    bytes out(len);
    if (snappy_compress(reinterpret_cast<const char*>(in.data()), in.size(),
                        reinterpret_cast<char*>(out.data()), &len) != SNAPPY_OK)
        return unexpected_error{compression_error::internal};
    out.resize(len);
    return out;
}

result<bytes, compression_error> snappy_xerial_compress(bytes_view in) {
    bytes out(kXerialMagic, kXerialMagic + sizeof(kXerialMagic));
    append_be32(out, 1);  // version
    append_be32(out, 1);  // compatible version
    bytes block(snappy_max_compressed_length(kXerialChunkSize));
    for (size_t pos = 0; pos < in.size(); pos += kXerialChunkSize) {
        const size_t n = std::min(kXerialChunkSize, in.size() - pos);
        size_t len = block.size();
        if (snappy_compress(reinterpret_cast<const char*>(in.data() + pos), n,
                            reinterpret_cast<char*>(block.data()), &len) != SNAPPY_OK)
            return unexpected_error{compression_error::internal};
        append_be32(out, static_cast<uint32_t>(len));
        out.insert(out.end(), block.begin(), block.begin() + static_cast<ptrdiff_t>(len));
    }
    return out;
}

// ---- lz4 (frame format) ----

result<bytes, compression_error> lz4_compress(bytes_view in, int level) {
    LZ4F_preferences_t prefs;
    std::memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max64KB;
    prefs.frameInfo.blockMode = LZ4F_blockIndependent;
    prefs.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum;
    prefs.compressionLevel = level;
    bytes out(LZ4F_compressFrameBound(in.size(), &prefs));
    const size_t n = LZ4F_compressFrame(out.data(), out.size(), in.data(), in.size(), &prefs);
    if (LZ4F_isError(n)) return unexpected_error{compression_error::internal};
    out.resize(n);
    return out;
}

// ---- zstd ----

result<bytes, compression_error> zstd_compress(bytes_view in, int level) {
    bytes out(ZSTD_compressBound(in.size()));
    const size_t n = ZSTD_compress(out.data(), out.size(), in.data(), in.size(),
                                   level == 0 ? ZSTD_CLEVEL_DEFAULT : level);
    if (ZSTD_isError(n)) return unexpected_error{compression_error::internal};
    out.resize(n);
    return out;
}

}  // namespace

std::string_view to_string(compression_error e) {
    switch (e) {
        case compression_error::unsupported_codec:
            return "unsupported compression codec";
        case compression_error::corrupt_input:
            return "corrupt compressed data";
        case compression_error::output_too_large:
            return "decompressed data exceeds the limit";
        case compression_error::memory_limit:
            return "decompression would need more memory than allowed";
        case compression_error::internal:
            return "compression library failure";
    }
    return "unknown compression error";
}

bool is_known_codec(int codec) {
    return codec >= 0 && codec <= 4;
}

result<bytes, compression_error> compress(compression_codec codec, bytes_view input,
                                          const compress_options& options) {
    switch (codec) {
        case compression_codec::none:
            return bytes(input.begin(), input.end());
        case compression_codec::gzip:
            return gzip_compress(input, options.level);
        case compression_codec::snappy:
            return options.snappy_xerial ? snappy_xerial_compress(input)
                                         : snappy_raw_compress(input);
        case compression_codec::lz4:
            return lz4_compress(input, options.level);
        case compression_codec::zstd:
            return zstd_compress(input, options.level);
    }
    return unexpected_error{compression_error::unsupported_codec};
}

result<bytes, compression_error> decompress(compression_codec codec, bytes_view input,
                                            size_t max_output) {
    if (!is_known_codec(static_cast<int>(codec)))
        return unexpected_error{compression_error::unsupported_codec};
    if (codec == compression_codec::none) {
        if (input.size() > max_output) return unexpected_error{compression_error::output_too_large};
        return bytes(input.begin(), input.end());
    }
    // A snappy block is output, so max_output bounds it; the other decoders' state is bounded by
    // their formats (zstd windows by zstd's default limit of 128 MiB, lz4 blocks by 4 MiB).
    const size_t max_memory =
        codec == compression_codec::snappy ? max_output : std::max(max_output, kMaxDecoderState);
    auto d = decompressor::open(codec, input, max_memory);
    if (!d)
        return unexpected_error{d.error() == compression_error::memory_limit
                                    ? compression_error::output_too_large
                                    : d.error()};
    growing_output out(max_output, input.size());
    for (;;) {
        if (!out.ensure_room()) return unexpected_error{compression_error::output_too_large};
        auto n = (*d)->read(std::span<uint8_t>(out.write_ptr(), out.room()));
        if (!n)
            return unexpected_error{n.error() == compression_error::memory_limit
                                        ? compression_error::output_too_large
                                        : n.error()};
        if (*n == 0) break;
        out.advance(*n);
        if (out.too_large()) return unexpected_error{compression_error::output_too_large};
    }
    return out.take();
}

}  // namespace rill::protocol
