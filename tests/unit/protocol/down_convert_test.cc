#include "protocol/down_convert.h"
#include <deque>

#include <gtest/gtest.h>

#include <deque>
#include <limits>
#include <string>
#include <vector>

#include "protocol/legacy_message_set.h"
#include "protocol/record_batch_header.h"

namespace rill::protocol {
namespace {

bytes b(std::string_view s) {
    return bytes(s.begin(), s.end());
}

// A magic-2 batch of `n` records at `base` (offset deltas 0..n-1, timestamps base_ts + 10 i).
bytes make_batch(int64_t base, int n, compression_codec codec = compression_codec::none,
                 int64_t base_ts = 1700000000000, size_t value_size = 0) {
    batch_spec spec;
    spec.codec = codec;
    batch_builder builder(spec);
    // The builder keeps views of what it is given until finish(): the bytes live here.
    const bytes header_value = b("dropped");
    std::vector<header_view> headers = {{"h", header_value}};
    std::deque<bytes> keep;
    for (int i = 0; i < n; ++i) {
        const bytes& key = keep.emplace_back(b("k" + std::to_string(base + i)));
        const bytes& value = keep.emplace_back(value_size ? bytes(value_size, uint8_t('a' + i % 26))
                                                          : b("value-" + std::to_string(base + i)));
        if (i == 1) {
            builder.append(base_ts + 10 * i, std::nullopt, bytes_view(value), headers);
        } else if (i == 2) {
            builder.append(base_ts + 10 * i, bytes_view(key), std::nullopt, headers);
        } else {
            builder.append(base_ts + 10 * i, bytes_view(key), bytes_view(value), headers);
        }
    }
    auto built = builder.finish();
    EXPECT_TRUE(built);
    set_base_offset(*built, base);
    return *built;
}

bytes concat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

struct message {
    int64_t offset;
    int64_t timestamp;
    std::optional<bytes> key, value;
    int codec;       // of the entry that carried it (its wrapper, or none)
    int8_t ts_type;  // attributes bit 3 of the outer entry
    friend bool operator==(const message&, const message&) = default;
};

int64_t be64(const uint8_t* p) {
    int64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | p[i];
    return v;
}

// Decodes a legacy message set entry by entry into absolute offsets (KIP-31 for magic-1
// wrappers), checking magic and CRCs through read_legacy_message_set.
std::vector<message> decode(const bytes& set, int8_t magic) {
    std::vector<message> out;
    size_t at = 0;
    while (at < set.size()) {
        EXPECT_GE(set.size() - at, 12u);
        const int64_t offset = be64(set.data() + at);
        const size_t size = (size_t(set[at + 8]) << 24) | (size_t(set[at + 9]) << 16) |
                            (size_t(set[at + 10]) << 8) | set[at + 11];
        const bytes_view entry(set.data() + at, 12 + size);
        EXPECT_EQ(set[at + 16], magic);
        const int8_t attrs = static_cast<int8_t>(set[at + 17]);
        auto msgs = read_legacy_message_set(entry);
        EXPECT_TRUE(msgs) << to_string(msgs.error());
        if (!msgs) return out;
        const int codec = attrs & 7;
        const int64_t last_inner = msgs->back().offset;
        for (const auto& m : *msgs) {
            int64_t abs = m.offset;
            if (codec != 0 && magic == 1) abs = offset - (last_inner - m.offset);
            EXPECT_EQ(m.attributes & 7, 0);
            out.push_back(
                {abs, m.timestamp, m.key, m.value, codec, static_cast<int8_t>(attrs & 0x08)});
        }
        if (codec != 0) {
            EXPECT_EQ(offset, out.back().offset);  // a wrapper's offset is its last inner one
        }
        at += 12 + size;
    }
    return out;
}

// What a batch made by make_batch(base, n) holds, as legacy messages.
std::vector<message> expected(int64_t base, int n, int8_t magic, int codec,
                              int64_t base_ts = 1700000000000) {
    std::vector<message> out;
    for (int i = 0; i < n; ++i) {
        message m{base + i,
                  magic == 1 ? base_ts + 10 * i : -1,
                  b("k" + std::to_string(base + i)),
                  b("value-" + std::to_string(base + i)),
                  codec,
                  0};
        if (i == 1) m.key.reset();
        if (i == 2) m.value.reset();
        out.push_back(m);
    }
    return out;
}

down_convert_options opts(int8_t magic, size_t max_bytes = 1 << 20, int64_t first = 0) {
    down_convert_options o;
    o.magic = magic;
    o.max_bytes = max_bytes;
    o.first_offset = first;
    return o;
}

TEST(down_convert, fetch_version_magic) {
    EXPECT_EQ(fetch_magic(0), 0);
    EXPECT_EQ(fetch_magic(1), 0);
    EXPECT_EQ(fetch_magic(2), 1);
    EXPECT_EQ(fetch_magic(3), 1);
}

TEST(down_convert, uncompressed_round_trip_both_magics) {
    const bytes in = concat({make_batch(100, 5), make_batch(105, 3)});
    for (int8_t magic : {0, 1}) {
        auto r = down_convert(in, opts(magic));
        ASSERT_TRUE(r) << to_string(r.error());
        EXPECT_EQ(r->messages, 8);
        auto want = expected(100, 5, magic, 0);
        auto second = expected(105, 3, magic, 0);
        want.insert(want.end(), second.begin(), second.end());
        EXPECT_EQ(decode(r->data, magic), want) << "magic " << int(magic);
    }
}

TEST(down_convert, compressed_magic1_keeps_codec_and_offsets) {
    for (auto codec :
         {compression_codec::gzip, compression_codec::snappy, compression_codec::lz4}) {
        const bytes in = make_batch(40, 6, codec);
        auto r = down_convert(in, opts(1));
        ASSERT_TRUE(r) << to_string(r.error());
        EXPECT_GT(r->inflated, 0u);
        EXPECT_EQ(decode(r->data, 1), expected(40, 6, 1, static_cast<int>(codec)));
    }
}

TEST(down_convert, compressed_magic0_absolute_offsets_lz4_uncompressed) {
    auto gz = down_convert(make_batch(7, 4, compression_codec::gzip), opts(0));
    ASSERT_TRUE(gz);
    EXPECT_EQ(decode(gz->data, 0), expected(7, 4, 0, 1));
    // Old clients expect the pre-KIP-57 lz4 frame in magic 0: sent uncompressed instead.
    auto lz = down_convert(make_batch(7, 4, compression_codec::lz4), opts(0));
    ASSERT_TRUE(lz);
    EXPECT_EQ(decode(lz->data, 0), expected(7, 4, 0, 0));
}

TEST(down_convert, zstd_is_refused) {
    const bytes in = concat({make_batch(0, 2), make_batch(2, 2, compression_codec::zstd)});
    auto r = down_convert(in, opts(1));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), record_error::unsupported_codec);
    EXPECT_EQ(kafka_error_code(r.error()), 76);  // UNSUPPORTED_COMPRESSION_TYPE
}

TEST(down_convert, skips_records_below_the_fetch_offset_and_control_batches) {
    batch_spec cs;
    cs.producer_id = 9;
    cs.producer_epoch = 0;
    auto control = build_control_batch(cs, {0, control_type::commit, 1}, 1700000000000);
    ASSERT_TRUE(control);
    set_base_offset(*control, 5);
    const bytes in =
        concat({make_batch(0, 5, compression_codec::gzip), *control, make_batch(6, 2)});
    auto r = down_convert(in, opts(1, 1 << 20, 3));
    ASSERT_TRUE(r);
    auto got = decode(r->data, 1);
    auto want = expected(0, 5, 1, 1);
    want.erase(want.begin(), want.begin() + 3);
    auto tail = expected(6, 2, 1, 0);
    want.insert(want.end(), tail.begin(), tail.end());
    EXPECT_EQ(got, want);
}

TEST(down_convert, log_append_time_sets_type_and_batch_timestamp) {
    bytes in = make_batch(0, 3, compression_codec::gzip);
    set_log_append_time(in, 1800000000000);
    auto r = down_convert(in, opts(1));
    ASSERT_TRUE(r);
    auto got = decode(r->data, 1);
    ASSERT_EQ(got.size(), 3u);
    for (const auto& m : got) {
        EXPECT_EQ(m.timestamp, 1800000000000);
        EXPECT_EQ(m.ts_type, 0x08);
    }
}

TEST(down_convert, truncated_and_corrupt_input) {
    const bytes one = make_batch(0, 3);
    // A trailing partial batch is ignored; a lone partial batch converts to nothing.
    bytes cut = concat({one, bytes(one.begin(), one.begin() + 30)});
    auto r = down_convert(cut, opts(1));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->messages, 3);
    auto empty = down_convert(bytes_view(one.data(), one.size() - 1), opts(1));
    ASSERT_TRUE(empty);
    EXPECT_TRUE(empty->data.empty());
    // A record whose length is negative: the first batch fails; after good data it ends there.
    bytes bad = one;
    bad[kBatchHeaderSize] = 0x7f;
    auto e = down_convert(bad, opts(1));
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error(), record_error::corrupt_record);
    auto partial = down_convert(concat({make_batch(10, 2), bad}), opts(1));
    ASSERT_TRUE(partial);
    EXPECT_EQ(partial->messages, 2);
    // A compressed batch that does not inflate.
    bytes gz = make_batch(0, 3, compression_codec::gzip);
    gz[gz.size() - 5] ^= 0xff;
    gz[kBatchHeaderSize + 12] ^= 0xff;
    EXPECT_FALSE(down_convert(gz, opts(1)));
    // A batch that is not magic 2.
    bytes old = one;
    old[kMagicOffset] = 1;
    auto m = down_convert(old, opts(1));
    ASSERT_FALSE(m);
    EXPECT_EQ(m.error(), record_error::unsupported_magic);
}

TEST(down_convert, offsets_no_log_holds_are_refused) {
    // Found by down_convert_fuzz: base_offset + last_offset_delta overflowed.
    for (int64_t base : {int64_t{-5}, std::numeric_limits<int64_t>::min(),
                         std::numeric_limits<int64_t>::max() - 1}) {
        bytes in = make_batch(0, 3);
        set_base_offset(in, base);
        auto r = down_convert(in, opts(1));
        ASSERT_FALSE(r) << base;
        EXPECT_EQ(r.error(), record_error::invalid_offset_delta);
    }
}

TEST(down_convert, big_batches_are_bounded_and_progress) {
    // 4000 records of 1 KiB (4 MiB) converted with a 64 KiB bound.
    for (auto codec : {compression_codec::none, compression_codec::gzip}) {
        const bytes in = make_batch(0, 4000, codec, 1700000000000, 1024);
        auto r = down_convert(in, opts(1, 64 << 10));
        ASSERT_TRUE(r) << to_string(r.error());
        EXPECT_LE(r->data.size(), (64u << 10) + 1100);
        EXPECT_GE(r->messages, 60);
        if (codec == compression_codec::none) {
            EXPECT_LT(r->messages, 70);
            EXPECT_LE(r->inflated, size_t{1} << 20);  // stopped early: not the whole 4 MiB
        }
        auto got = decode(r->data, 1);
        ASSERT_EQ(got.size(), static_cast<size_t>(r->messages));
        for (size_t i = 0; i < got.size(); ++i)
            EXPECT_EQ(got[i].offset, static_cast<int64_t>(i));
    }
    // A bound smaller than one message still returns that message.
    auto one = down_convert(make_batch(0, 10), opts(0, 1));
    ASSERT_TRUE(one);
    EXPECT_EQ(one->messages, 1);
    // The inflate bound applies over the whole input: conversion ends where it is reached
    // (an error when nothing could be converted).
    down_convert_options o = opts(1, 64 << 20);
    o.max_inflated = 100 << 10;
    const bytes big = make_batch(0, 4000, compression_codec::gzip, 0, 1024);
    auto capped = down_convert(big, o);
    ASSERT_TRUE(capped);
    EXPECT_GT(capped->messages, 0);
    EXPECT_LT(capped->messages, 200);  // the limit plus at most one 64 KiB chunk
    EXPECT_EQ(decode(capped->data, 1).size(), static_cast<size_t>(capped->messages));
    o.max_inflated = 1000;
    auto none = down_convert(make_batch(0, 3, compression_codec::gzip, 0, 100 << 10), o);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error(), record_error::decompressed_too_large);
}

}  // namespace
}  // namespace rill::protocol
