#include "protocol/compression.h"

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

constexpr uint8_t kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr size_t kXerialHeaderSize = 16;        // magic + int32 version + int32 compatible
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

uint32_t load_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
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

result<bytes, compression_error> gzip_decompress(bytes_view in, size_t max_output) {
    if (in.size() > std::numeric_limits<uInt>::max())
        return unexpected_error{compression_error::corrupt_input};
    z_stream z{};
    if (inflateInit2(&z, 15 + 32) != Z_OK) return unexpected_error{compression_error::internal};
    struct guard {
        z_stream* z;
        ~guard() { inflateEnd(z); }
    } g{&z};
    z.next_in = const_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    growing_output out(max_output, in.size());
    for (;;) {
        if (!out.ensure_room()) return unexpected_error{compression_error::output_too_large};
        const size_t room = std::min<size_t>(out.room(), std::numeric_limits<uInt>::max());
        z.next_out = out.write_ptr();
        z.avail_out = static_cast<uInt>(room);
        const int rc = inflate(&z, Z_NO_FLUSH);
        out.advance(room - z.avail_out);
        if (out.too_large()) return unexpected_error{compression_error::output_too_large};
        if (rc == Z_STREAM_END) {
            if (z.avail_in == 0) break;
            // Another gzip member follows (concatenated members decode as one stream).
            if (inflateReset(&z) != Z_OK) return unexpected_error{compression_error::internal};
            continue;
        }
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR && z.avail_out == 0) continue;  // needs more room
        if (rc == Z_MEM_ERROR) return unexpected_error{compression_error::internal};
        return unexpected_error{compression_error::corrupt_input};  // data error or truncated
    }
    return out.take();
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

// Appends the decompression of one raw snappy block to `out`, keeping out.size() <= max_output.
std::optional<compression_error> snappy_block_append(bytes_view block, bytes& out,
                                                     size_t max_output) {
    const char* src = reinterpret_cast<const char*>(block.data());
    size_t len = 0;
    if (snappy_uncompressed_length(src, block.size(), &len) != SNAPPY_OK)
        return compression_error::corrupt_input;
    if (len > max_output || out.size() > max_output - len)
        return compression_error::output_too_large;
    const size_t at = out.size();
    out.resize(at + len);
    size_t produced = len;
    if (snappy_uncompress(src, block.size(), reinterpret_cast<char*>(out.data() + at), &produced) !=
            SNAPPY_OK ||
        produced != len)
        return compression_error::corrupt_input;
    return std::nullopt;
}

bool is_xerial(bytes_view in) {
    return in.size() >= kXerialHeaderSize &&
           std::memcmp(in.data(), kXerialMagic, sizeof(kXerialMagic)) == 0;
}

result<bytes, compression_error> snappy_decompress(bytes_view in, size_t max_output) {
    bytes out;
    if (!is_xerial(in)) {
        if (auto e = snappy_block_append(in, out, max_output)) return unexpected_error{*e};
        return out;
    }
    size_t pos = kXerialHeaderSize;
    while (pos < in.size()) {
        if (in.size() - pos < 4) return unexpected_error{compression_error::corrupt_input};
        const uint32_t len = load_be32(in.data() + pos);
        pos += 4;
        if (len > in.size() - pos) return unexpected_error{compression_error::corrupt_input};
        if (auto e = snappy_block_append(in.subspan(pos, len), out, max_output))
            return unexpected_error{*e};
        pos += len;
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

result<bytes, compression_error> lz4_decompress(bytes_view in, size_t max_output) {
    LZ4F_dctx* ctx = nullptr;
    if (LZ4F_isError(LZ4F_createDecompressionContext(&ctx, LZ4F_VERSION)))
        return unexpected_error{compression_error::internal};
    struct guard {
        LZ4F_dctx* c;
        ~guard() { LZ4F_freeDecompressionContext(c); }
    } g{ctx};
    growing_output out(max_output, in.size());
    size_t pos = 0;
    for (;;) {
        if (!out.ensure_room()) return unexpected_error{compression_error::output_too_large};
        const size_t room = out.room();
        size_t dst = room;
        size_t src = in.size() - pos;
        const size_t rc =
            LZ4F_decompress(ctx, out.write_ptr(), &dst, in.data() + pos, &src, nullptr);
        if (LZ4F_isError(rc)) return unexpected_error{compression_error::corrupt_input};
        pos += src;
        out.advance(dst);
        if (out.too_large()) return unexpected_error{compression_error::output_too_large};
        if (rc == 0) {                    // a frame ended
            if (pos == in.size()) break;  // ... and so did the input
            continue;                     // another frame follows
        }
        if (src == 0 && dst == 0 && room > 0)  // no progress: the frame is truncated
            return unexpected_error{compression_error::corrupt_input};
    }
    return out.take();
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

result<bytes, compression_error> zstd_decompress(bytes_view in, size_t max_output) {
    ZSTD_DStream* ds = ZSTD_createDStream();
    if (ds == nullptr) return unexpected_error{compression_error::internal};
    struct guard {
        ZSTD_DStream* d;
        ~guard() { ZSTD_freeDStream(d); }
    } g{ds};
    if (ZSTD_isError(ZSTD_initDStream(ds))) return unexpected_error{compression_error::internal};
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    growing_output out(max_output, in.size());
    for (;;) {
        if (!out.ensure_room()) return unexpected_error{compression_error::output_too_large};
        ZSTD_outBuffer ob{out.write_ptr(), out.room(), 0};
        const size_t rc = ZSTD_decompressStream(ds, &ob, &ib);
        if (ZSTD_isError(rc)) return unexpected_error{compression_error::corrupt_input};
        const bool output_full = ob.pos == ob.size;
        out.advance(ob.pos);
        if (out.too_large()) return unexpected_error{compression_error::output_too_large};
        if (ib.pos == ib.size) {
            if (rc == 0) break;  // the last frame is complete and flushed
            if (!output_full)
                return unexpected_error{compression_error::corrupt_input};  // truncated
        }
    }
    return out.take();
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
    switch (codec) {
        case compression_codec::none:
            if (input.size() > max_output)
                return unexpected_error{compression_error::output_too_large};
            return bytes(input.begin(), input.end());
        case compression_codec::gzip:
            return gzip_decompress(input, max_output);
        case compression_codec::snappy:
            return snappy_decompress(input, max_output);
        case compression_codec::lz4:
            return lz4_decompress(input, max_output);
        case compression_codec::zstd:
            return zstd_decompress(input, max_output);
    }
    return unexpected_error{compression_error::unsupported_codec};
}

}  // namespace rill::protocol
