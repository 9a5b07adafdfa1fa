#include "protocol/decompressor.h"

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_estimateDStreamSize_fromFrame, ZSTD_getFrameHeader
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "protocol/wire.h"

namespace rill::protocol {
namespace {

using unexpected_error = unexpected<compression_error>;

constexpr uint8_t kXerialMagic[8] = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0};
constexpr size_t kXerialHeaderSize = 16;  // magic + int32 version + int32 compatible version
// zlib's inflate state plus its 32 KiB window.
constexpr size_t kZlibMemory = 48 * 1024;

uint32_t load_be32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// ---- none ----

class copy_stream final : public decompressor {
  public:
    explicit copy_stream(bytes_view in) : decompressor(0), in_(in) {}
    result<size_t, compression_error> read(std::span<uint8_t> out) override {
        const size_t n = std::min(out.size(), in_.size() - pos_);
        if (n > 0) std::memcpy(out.data(), in_.data() + pos_, n);
        pos_ += n;
        return n;
    }

  private:
    bytes_view in_;
    size_t pos_ = 0;
};

// ---- gzip (also zlib-wrapped deflate and concatenated gzip members) ----

class gzip_stream final : public decompressor {
  public:
    explicit gzip_stream(bytes_view in) : decompressor(kZlibMemory) {
        z_.next_in = const_cast<Bytef*>(in.data());
        z_.avail_in = static_cast<uInt>(in.size());
    }
    ~gzip_stream() override {
        if (initialized_) inflateEnd(&z_);
    }
    bool init() {
        initialized_ = inflateInit2(&z_, 15 + 32) == Z_OK;  // 32: detect gzip or zlib
        return initialized_;
    }

    result<size_t, compression_error> read(std::span<uint8_t> out) override {
        if (ended_ || out.empty()) return size_t{0};
        const uInt want = static_cast<uInt>(std::min<size_t>(out.size(), 1u << 30));
        z_.next_out = out.data();
        z_.avail_out = want;
        for (;;) {
            const int rc = inflate(&z_, Z_NO_FLUSH);
            if (rc == Z_STREAM_END) {
                if (z_.avail_in == 0) {
                    ended_ = true;
                    break;
                }
                // Another gzip member follows: members decode as one stream.
                if (inflateReset(&z_) != Z_OK) return unexpected_error{compression_error::internal};
                if (z_.avail_out == 0) break;
                continue;
            }
            if (rc == Z_OK || rc == Z_BUF_ERROR) {
                if (z_.avail_out == 0) break;  // the caller's buffer is full
                // Room left but no end: the input ran out inside the stream (truncated).
                if (z_.avail_in == 0 || rc == Z_BUF_ERROR)
                    return unexpected_error{compression_error::corrupt_input};
                continue;
            }
            if (rc == Z_MEM_ERROR) return unexpected_error{compression_error::internal};
            return unexpected_error{compression_error::corrupt_input};
        }
        return static_cast<size_t>(want - z_.avail_out);
    }

  private:
    z_stream z_{};
    bool initialized_ = false;
    bool ended_ = false;
};

// ---- zstd ----

class zstd_stream final : public decompressor {
  public:
    zstd_stream(bytes_view in, size_t memory, unsigned window_log)
        : decompressor(memory), ib_{in.data(), in.size(), 0}, window_log_(window_log) {}
    ~zstd_stream() override { ZSTD_freeDStream(ds_); }

    bool init() {
        ds_ = ZSTD_createDStream();
        if (ds_ == nullptr) return false;
        if (ZSTD_isError(ZSTD_initDStream(ds_))) return false;
        // Later frames may not declare a larger window than the first one, whose size memory()
        // reports.
        return !ZSTD_isError(
            ZSTD_DCtx_setParameter(ds_, ZSTD_d_windowLogMax, static_cast<int>(window_log_)));
    }

    result<size_t, compression_error> read(std::span<uint8_t> out) override {
        ZSTD_outBuffer ob{out.data(), out.size(), 0};
        while (!ended_ && ob.pos < ob.size) {
            if (frame_start_) {
                // The size the frame declares (ZSTD_CONTENTSIZE_UNKNOWN when it declares none).
                declared_ = ZSTD_getFrameContentSize(static_cast<const uint8_t*>(ib_.src) + ib_.pos,
                                                     ib_.size - ib_.pos);
                frame_out_ = 0;
                frame_start_ = false;
            }
            const size_t before = ob.pos;
            const size_t rc = ZSTD_decompressStream(ds_, &ob, &ib_);
            if (ZSTD_isError(rc)) {
                return unexpected_error{ZSTD_getErrorCode(rc) ==
                                                ZSTD_error_frameParameter_windowTooLarge
                                            ? compression_error::memory_limit
                                            : compression_error::corrupt_input};
            }
            frame_out_ += ob.pos - before;
            if (rc == 0) {  // a frame is complete and flushed
                // Streaming zstd does not check the declared content size when the frame ends
                // with an empty block; whole-buffer decompression does (found by fuzzing).
                if (declared_ != ZSTD_CONTENTSIZE_UNKNOWN && declared_ != ZSTD_CONTENTSIZE_ERROR &&
                    declared_ != frame_out_)
                    return unexpected_error{compression_error::corrupt_input};
                frame_start_ = true;
                if (ib_.pos == ib_.size) ended_ = true;
                continue;  // otherwise the next frame follows
            }
            if (ib_.pos == ib_.size && ob.pos < ob.size)
                return unexpected_error{compression_error::corrupt_input};  // truncated
        }
        return ob.pos;
    }

  private:
    ZSTD_DStream* ds_ = nullptr;
    ZSTD_inBuffer ib_;
    unsigned window_log_;
    bool ended_ = false;
    bool frame_start_ = true;  // the next input byte starts a frame
    unsigned long long declared_ = ZSTD_CONTENTSIZE_UNKNOWN;
    unsigned long long frame_out_ = 0;  // bytes this frame has produced so far
};

result<std::unique_ptr<decompressor>, compression_error> open_zstd(bytes_view in,
                                                                   size_t max_memory) {
    if (in.empty()) return unexpected_error{compression_error::corrupt_input};
    ZSTD_frameHeader fh;
    if (ZSTD_getFrameHeader(&fh, in.data(), in.size()) != 0)
        return unexpected_error{compression_error::corrupt_input};
    if (fh.frameType != ZSTD_frame) return unexpected_error{compression_error::corrupt_input};
    if (fh.windowSize > (uint64_t{1} << ZSTD_WINDOWLOG_LIMIT_DEFAULT))
        return unexpected_error{compression_error::memory_limit};
    const size_t memory = ZSTD_estimateDStreamSize_fromFrame(in.data(), in.size());
    if (ZSTD_isError(memory)) return unexpected_error{compression_error::corrupt_input};
    if (memory > max_memory) return unexpected_error{compression_error::memory_limit};
    unsigned log = ZSTD_WINDOWLOG_MIN;
    while (log < ZSTD_WINDOWLOG_LIMIT_DEFAULT && (uint64_t{1} << log) < fh.windowSize)
        ++log;
    auto s = std::make_unique<zstd_stream>(in, memory, log);
    if (!s->init()) return unexpected_error{compression_error::internal};
    return std::unique_ptr<decompressor>(std::move(s));
}

// ---- lz4 (frame format) ----

constexpr uint32_t kLz4FrameMagic = 0x184D2204;  // little-endian on the wire
constexpr uint32_t kLz4SkippableMask = 0xFFFFFFF0;
constexpr uint32_t kLz4SkippableMagic = 0x184D2A50;

// The largest block size an LZ4 frame starting at `p` declares, or 0 when it is not a frame
// header. Skippable frames hold no blocks.
size_t lz4_block_size(const uint8_t* p, size_t n) {
    if (n < 4) return 0;
    const uint32_t magic =
        uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
    if ((magic & kLz4SkippableMask) == kLz4SkippableMagic) return 1;
    if (magic != kLz4FrameMagic || n < 7) return 0;
    const unsigned id = (p[5] >> 4) & 7;  // BD byte: block maximum size
    if (id < 4) return 0;
    return size_t{64 * 1024} << (2 * (id - 4));
}

// The decoder keeps up to a block of input and a block of output plus its own state.
size_t lz4_memory(size_t block) {
    return 2 * block + 64 * 1024;
}

class lz4_stream final : public decompressor {
  public:
    lz4_stream(bytes_view in, size_t block) : decompressor(lz4_memory(block)), in_(in) {
        block_ = block;
    }
    ~lz4_stream() override { LZ4F_freeDecompressionContext(ctx_); }
    bool init() { return !LZ4F_isError(LZ4F_createDecompressionContext(&ctx_, LZ4F_VERSION)); }

    result<size_t, compression_error> read(std::span<uint8_t> out) override {
        size_t produced = 0;
        while (!ended_ && produced < out.size()) {
            if (at_frame_start_) {
                const size_t b = lz4_block_size(in_.data() + pos_, in_.size() - pos_);
                if (b == 0) return unexpected_error{compression_error::corrupt_input};
                if (b > block_) return unexpected_error{compression_error::memory_limit};
                at_frame_start_ = false;
            }
            size_t dst = out.size() - produced;
            size_t src = in_.size() - pos_;
            const size_t rc = LZ4F_decompress(ctx_, out.data() + produced, &dst, in_.data() + pos_,
                                              &src, nullptr);
            if (LZ4F_isError(rc)) return unexpected_error{compression_error::corrupt_input};
            pos_ += src;
            produced += dst;
            if (rc == 0) {  // a frame ended
                if (pos_ == in_.size())
                    ended_ = true;
                else
                    at_frame_start_ = true;  // another frame follows
                continue;
            }
            if (src == 0 && dst == 0)  // no progress: the frame is truncated
                return unexpected_error{compression_error::corrupt_input};
        }
        return produced;
    }

  private:
    bytes_view in_;
    size_t pos_ = 0;
    size_t block_ = 0;
    LZ4F_dctx* ctx_ = nullptr;
    bool at_frame_start_ = true;
    bool ended_ = false;
};

// ---- snappy (raw block, or xerial chunks of raw blocks) ----

class snappy_stream final : public decompressor {
  public:
    // `chunks`: the raw blocks in order; `largest`: the largest uncompressed block size.
    snappy_stream(std::vector<bytes_view> chunks, size_t largest)
        : decompressor(largest), chunks_(std::move(chunks)) {}

    result<size_t, compression_error> read(std::span<uint8_t> out) override {
        size_t produced = 0;
        while (produced < out.size()) {
            if (block_pos_ == block_len_) {
                if (next_ == chunks_.size()) break;
                if (auto e = decode(chunks_[next_++])) return unexpected_error{*e};
                continue;
            }
            const size_t n = std::min(out.size() - produced, block_len_ - block_pos_);
            std::memcpy(out.data() + produced, block_.data() + block_pos_, n);
            block_pos_ += n;
            produced += n;
        }
        return produced;
    }

  private:
    std::optional<compression_error> decode(bytes_view chunk) {
        const char* src = reinterpret_cast<const char*>(chunk.data());
        size_t len = 0;
        if (snappy_uncompressed_length(src, chunk.size(), &len) != SNAPPY_OK)
            return compression_error::corrupt_input;
        if (len > memory_) return compression_error::memory_limit;
        if (block_.size() < len) block_.resize(len);
        size_t produced = len;
        if (snappy_uncompress(src, chunk.size(), reinterpret_cast<char*>(block_.data()),
                              &produced) != SNAPPY_OK ||
            produced != len)
            return compression_error::corrupt_input;
        block_len_ = len;
        block_pos_ = 0;
        return std::nullopt;
    }

    std::vector<bytes_view> chunks_;
    size_t next_ = 0;
    bytes block_;
    size_t block_len_ = 0;
    size_t block_pos_ = 0;
};

result<std::unique_ptr<decompressor>, compression_error> open_snappy(bytes_view in,
                                                                     size_t max_memory) {
    std::vector<bytes_view> chunks;
    const bool xerial = in.size() >= kXerialHeaderSize &&
                        std::memcmp(in.data(), kXerialMagic, sizeof(kXerialMagic)) == 0;
    if (!xerial) {
        chunks.push_back(in);
    } else {
        for (size_t pos = kXerialHeaderSize; pos < in.size();) {
            if (in.size() - pos < 4) return unexpected_error{compression_error::corrupt_input};
            const uint32_t len = load_be32(in.data() + pos);
            pos += 4;
            if (len > in.size() - pos) return unexpected_error{compression_error::corrupt_input};
            chunks.push_back(in.subspan(pos, len));
            pos += len;
        }
    }
    size_t largest = 0;
    for (const auto& c : chunks) {
        size_t len = 0;
        if (snappy_uncompressed_length(reinterpret_cast<const char*>(c.data()), c.size(), &len) !=
            SNAPPY_OK)
            return unexpected_error{compression_error::corrupt_input};
        largest = std::max(largest, len);
    }
    if (largest > max_memory) return unexpected_error{compression_error::memory_limit};
    return std::unique_ptr<decompressor>(
        std::make_unique<snappy_stream>(std::move(chunks), largest));
}

}  // namespace

result<std::unique_ptr<decompressor>, compression_error> decompressor::open(compression_codec codec,
                                                                            bytes_view input,
                                                                            size_t max_memory) {
    switch (codec) {
        case compression_codec::none:
            return std::unique_ptr<decompressor>(std::make_unique<copy_stream>(input));
        case compression_codec::gzip: {
            if (input.size() > std::numeric_limits<uInt>::max())
                return unexpected_error{compression_error::corrupt_input};
            if (kZlibMemory > max_memory) return unexpected_error{compression_error::memory_limit};
            auto s = std::make_unique<gzip_stream>(input);
            if (!s->init()) return unexpected_error{compression_error::internal};
            return std::unique_ptr<decompressor>(std::move(s));
        }
        case compression_codec::snappy:
            return open_snappy(input, max_memory);
        case compression_codec::lz4: {
            const size_t block = lz4_block_size(input.data(), input.size());
            if (block == 0) return unexpected_error{compression_error::corrupt_input};
            // A leading skippable frame declares no block size: allow the largest.
            const size_t b = block == 1 ? size_t{4} << 20 : block;
            if (lz4_memory(b) > max_memory)
                return unexpected_error{compression_error::memory_limit};
            auto s = std::make_unique<lz4_stream>(input, b);
            if (!s->init()) return unexpected_error{compression_error::internal};
            return std::unique_ptr<decompressor>(std::move(s));
        }
        case compression_codec::zstd:
            return open_zstd(input, max_memory);
    }
    return unexpected_error{compression_error::unsupported_codec};
}

}  // namespace rill::protocol
