#include "protocol/compression.h"

#include <gtest/gtest.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

#include <cstring>
#include <random>

#include "protocol/decompressor.h"

namespace rill::protocol {
namespace {

const compression_codec kCodecs[] = {compression_codec::none, compression_codec::gzip,
                                     compression_codec::snappy, compression_codec::lz4,
                                     compression_codec::zstd};

bytes sample(size_t n, unsigned seed = 1) {
    // Compressible but not trivial: words from a small alphabet with random noise.
    std::mt19937 rng(seed);
    bytes b(n);
    for (size_t i = 0; i < n; ++i)
        b[i] = (rng() % 4 == 0) ? static_cast<uint8_t>(rng()) : static_cast<uint8_t>('a' + i % 13);
    return b;
}

TEST(compression, round_trip_every_codec_and_size) {
    for (auto codec : kCodecs)
        for (size_t n : {size_t{0}, size_t{1}, size_t{100}, size_t{32 * 1024},
                         size_t{32 * 1024 + 1}, size_t{200000}}) {
            const bytes in = sample(n, static_cast<unsigned>(n));
            auto c = compress(codec, in);
            ASSERT_TRUE(c) << static_cast<int>(codec) << " " << n;
            auto d = decompress(codec, *c);
            ASSERT_TRUE(d) << static_cast<int>(codec) << " " << n << " " << to_string(d.error());
            EXPECT_EQ(*d, in) << static_cast<int>(codec) << " " << n;
        }
}

TEST(compression, compresses_repetitive_data) {
    const bytes in(100000, 'x');
    for (auto codec : kCodecs) {
        if (codec == compression_codec::none) continue;
        auto c = compress(codec, in);
        ASSERT_TRUE(c);
        EXPECT_LT(c->size(), in.size() / 10) << static_cast<int>(codec);
    }
}

// Other producers' output: each codec's bytes made directly with the library, not by us.
TEST(compression, gzip_from_zlib_and_concatenated_members) {
    const bytes in = sample(5000);
    auto one = compress(compression_codec::gzip, in);
    ASSERT_TRUE(one);
    bytes two = *one;
    two.insert(two.end(), one->begin(), one->end());
    auto d = decompress(compression_codec::gzip, two);
    ASSERT_TRUE(d);
    bytes expect = in;
    expect.insert(expect.end(), in.begin(), in.end());
    EXPECT_EQ(*d, expect);
    // zlib-wrapped deflate (compress2) is also accepted.
    uLongf len = compressBound(static_cast<uLong>(in.size()));
    bytes z(len);
    ASSERT_EQ(compress2(z.data(), &len, in.data(), static_cast<uLong>(in.size()), 6), Z_OK);
    z.resize(len);
    auto dz = decompress(compression_codec::gzip, z);
    ASSERT_TRUE(dz);
    EXPECT_EQ(*dz, in);
}

TEST(compression, snappy_raw_input) {
    const bytes in = sample(70000);
    size_t len = snappy_max_compressed_length(in.size());
    bytes raw(len);
    ASSERT_EQ(snappy_compress(reinterpret_cast<const char*>(in.data()), in.size(),
                              reinterpret_cast<char*>(raw.data()), &len),
              SNAPPY_OK);
    raw.resize(len);
    auto d = decompress(compression_codec::snappy, raw);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, in);
    // Our raw output decodes with libsnappy directly.
    auto ours = compress(compression_codec::snappy, in, {.level = 0, .snappy_xerial = false});
    ASSERT_TRUE(ours);
    size_t out_len = 0;
    ASSERT_EQ(snappy_uncompressed_length(reinterpret_cast<const char*>(ours->data()), ours->size(),
                                         &out_len),
              SNAPPY_OK);
    EXPECT_EQ(out_len, in.size());
}

TEST(compression, snappy_xerial_input_built_by_hand) {
    // Two chunks of different sizes, framed as the Java client's SnappyOutputStream does.
    const bytes in = sample(50000);
    bytes framed = {0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1};
    const size_t cut = 12345;
    for (auto [pos, n] : {std::pair<size_t, size_t>{0, cut}, {cut, in.size() - cut}}) {
        size_t len = snappy_max_compressed_length(n);
        bytes block(len);
        ASSERT_EQ(snappy_compress(reinterpret_cast<const char*>(in.data() + pos), n,
                                  reinterpret_cast<char*>(block.data()), &len),
                  SNAPPY_OK);
        for (int s = 24; s >= 0; s -= 8)
            framed.push_back(static_cast<uint8_t>(len >> s));
        framed.insert(framed.end(), block.begin(), block.begin() + static_cast<ptrdiff_t>(len));
    }
    auto d = decompress(compression_codec::snappy, framed);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, in);
    // Our default snappy output is xerial framed.
    auto ours = compress(compression_codec::snappy, in);
    ASSERT_TRUE(ours);
    ASSERT_GE(ours->size(), 16u);
    EXPECT_EQ(std::memcmp(ours->data(), framed.data(), 8), 0);
    // A chunk length running past the end is corrupt.
    bytes bad = framed;
    bad[16] = 0x7f;
    auto e = decompress(compression_codec::snappy, bad);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error(), compression_error::corrupt_input);
}

TEST(compression, lz4_frame_from_library_with_checksums_and_content_size) {
    const bytes in = sample(300000);
    LZ4F_preferences_t prefs;
    std::memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = LZ4F_max256KB;
    prefs.frameInfo.blockMode = LZ4F_blockLinked;
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
    prefs.frameInfo.contentSize = in.size();
    bytes frame(LZ4F_compressFrameBound(in.size(), &prefs));
    size_t n = LZ4F_compressFrame(frame.data(), frame.size(), in.data(), in.size(), &prefs);
    ASSERT_FALSE(LZ4F_isError(n));
    frame.resize(n);
    auto d = decompress(compression_codec::lz4, frame);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, in);
    // Our frame: magic 0x184D2204, FLG version 01 with block independence, BD 64 KiB.
    auto ours = compress(compression_codec::lz4, in);
    ASSERT_TRUE(ours);
    ASSERT_GE(ours->size(), 7u);
    EXPECT_EQ((*ours)[0], 0x04);
    EXPECT_EQ((*ours)[1], 0x22);
    EXPECT_EQ((*ours)[2], 0x4D);
    EXPECT_EQ((*ours)[3], 0x18);
    EXPECT_EQ((*ours)[4] & 0xC0, 0x40);  // version 01
    EXPECT_NE((*ours)[4] & 0x20, 0);     // block independence
    EXPECT_EQ((*ours)[4] & 0x08, 0);     // no content size
    EXPECT_EQ((*ours)[5], 0x40);         // 64 KiB blocks
}

TEST(compression, zstd_stream_checks_the_declared_content_size) {
    // Found by tests/fuzz/decompress_fuzz: a frame declaring 58 bytes that ends with an empty
    // last block. decompress() refused it; the streaming decoder returned 0 bytes as a success.
    const bytes frame = {0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x3a, 0x01, 0x00, 0x00};
    EXPECT_FALSE(decompress(compression_codec::zstd, frame));
    for (size_t chunk : {size_t{1}, size_t{4096}}) {
        auto d = decompressor::open(compression_codec::zstd, frame);
        ASSERT_TRUE(d);
        bytes buf(chunk);
        auto n = (*d)->read(buf);
        ASSERT_FALSE(n) << chunk;
        EXPECT_EQ(n.error(), compression_error::corrupt_input);
    }
}

TEST(compression, zstd_frame_without_content_size) {
    // The streaming API writes frames whose header lacks the content size.
    const bytes in = sample(400000);
    ZSTD_CCtx* cctx = ZSTD_createCCtx();
    bytes out(ZSTD_compressBound(in.size()));
    ZSTD_outBuffer ob{out.data(), out.size(), 0};
    ZSTD_inBuffer ib{in.data(), in.size(), 0};
    ASSERT_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_continue)));
    size_t left;
    do {
        left = ZSTD_compressStream2(cctx, &ob, &ib, ZSTD_e_end);
        ASSERT_FALSE(ZSTD_isError(left));
    } while (left != 0);
    ZSTD_freeCCtx(cctx);
    out.resize(ob.pos);
    EXPECT_EQ(ZSTD_getFrameContentSize(out.data(), out.size()), ZSTD_CONTENTSIZE_UNKNOWN);
    auto d = decompress(compression_codec::zstd, out);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, in);
}

TEST(compression, decompression_bombs_are_rejected) {
    const bytes zeros(8 << 20, 0);  // 8 MiB of zeros compresses to a few KiB
    for (auto codec : kCodecs) {
        auto c = compress(codec, zeros);
        ASSERT_TRUE(c);
        if (codec != compression_codec::none) {
            EXPECT_LT(c->size(), size_t{1} << 20) << static_cast<int>(codec);
        }
        auto d = decompress(codec, *c, 1 << 20);
        ASSERT_FALSE(d) << static_cast<int>(codec);
        EXPECT_EQ(d.error(), compression_error::output_too_large) << static_cast<int>(codec);
        // Exactly at the limit is fine.
        auto ok = decompress(codec, *c, zeros.size());
        ASSERT_TRUE(ok) << static_cast<int>(codec);
        EXPECT_EQ(ok->size(), zeros.size());
    }
}

TEST(compression, snappy_lying_length_header_is_bounded) {
    // A raw snappy block whose varint claims 4 GiB: refused before allocating.
    const bytes hostile = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    auto d = decompress(compression_codec::snappy, hostile);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error(), compression_error::output_too_large);
}

TEST(compression, truncated_and_garbage_inputs_fail_cleanly) {
    const bytes in = sample(100000);
    std::mt19937 rng(99);
    for (auto codec : kCodecs) {
        if (codec == compression_codec::none) continue;
        auto c = compress(codec, in);
        ASSERT_TRUE(c);
        // Truncation anywhere must fail (every format here carries its length or an end mark).
        for (int i = 0; i < 30; ++i) {
            const size_t cut = rng() % c->size();
            auto d = decompress(codec, bytes_view(*c).first(cut));
            if (codec == compression_codec::snappy && cut == 16) continue;  // header only: empty
            EXPECT_FALSE(d) << static_cast<int>(codec) << " cut " << cut;
        }
        // Byte flips must never crash; gzip and zstd checksums/structure usually catch them.
        for (int i = 0; i < 200; ++i) {
            bytes bad = *c;
            bad[rng() % bad.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
            (void)decompress(codec, bad, 1 << 20);
        }
        bytes garbage(1000);
        for (auto& b : garbage)
            b = static_cast<uint8_t>(rng());
        (void)decompress(codec, garbage, 1 << 20);
        if (codec == compression_codec::lz4 || codec == compression_codec::zstd) {
            EXPECT_FALSE(decompress(codec, bytes{})) << static_cast<int>(codec);  // not a frame
        }
    }
}

TEST(compression, unknown_codec) {
    const bytes in = {1, 2, 3};
    auto d = decompress(static_cast<compression_codec>(5), in);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error(), compression_error::unsupported_codec);
    EXPECT_FALSE(is_known_codec(5));
    EXPECT_TRUE(is_known_codec(4));
}

}  // namespace
}  // namespace rill::protocol
