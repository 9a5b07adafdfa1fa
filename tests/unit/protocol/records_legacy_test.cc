#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "protocol/legacy_message_set.h"

namespace rill::protocol {
namespace {

using opt_bytes = std::optional<bytes>;

bytes b(std::string_view s) {
    return bytes(s.begin(), s.end());
}

void put_be(bytes& out, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i)
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put_bytes(bytes& out, const opt_bytes& v) {
    if (!v) {
        put_be(out, static_cast<uint32_t>(-1), 4);
        return;
    }
    put_be(out, v->size(), 4);
    out.insert(out.end(), v->begin(), v->end());
}

// A legacy message written field by field: crc, magic, attributes, [timestamp], key, value.
bytes message(int8_t magic, int8_t attributes, int64_t timestamp, const opt_bytes& key,
              const opt_bytes& value) {
    bytes body;
    body.push_back(static_cast<uint8_t>(magic));
    body.push_back(static_cast<uint8_t>(attributes));
    if (magic == 1) put_be(body, static_cast<uint64_t>(timestamp), 8);
    put_bytes(body, key);
    put_bytes(body, value);
    bytes m;
    put_be(m, crc32(0, body.data(), static_cast<uInt>(body.size())), 4);
    m.insert(m.end(), body.begin(), body.end());
    return m;
}

// One message-set entry: offset, message_size, message.
void append_entry(bytes& set, int64_t offset, const bytes& msg) {
    put_be(set, static_cast<uint64_t>(offset), 8);
    put_be(set, msg.size(), 4);
    set.insert(set.end(), msg.begin(), msg.end());
}

bytes gzip(const bytes& in) {
    z_stream z{};
    EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    bytes out(deflateBound(&z, static_cast<uLong>(in.size())) + 64);
    z.next_in = const_cast<Bytef*>(in.data());
    z.avail_in = static_cast<uInt>(in.size());
    z.next_out = out.data();
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    return out;
}

struct msg {
    opt_bytes key;
    opt_bytes value;
    int64_t timestamp;
};

std::vector<msg> sample_messages() {
    return {{b("k0"), b("v0"), 1600000000000},
            {std::nullopt, b("value without key"), 1600000000100},
            {b("k2"), std::nullopt, 1599999999000},
            {b(""), b(""), 1600000000050},
            {b("k4"), bytes(5000, 'z'), 1600000000060}};
}

// Uncompressed set; magic 0 messages carry no timestamp.
bytes plain_set(int8_t magic, const std::vector<msg>& ms, int64_t first_offset = 0) {
    bytes set;
    for (size_t i = 0; i < ms.size(); ++i)
        append_entry(set, first_offset + static_cast<int64_t>(i),
                     message(magic, 0, ms[i].timestamp, ms[i].key, ms[i].value));
    return set;
}

// A gzip wrapper: magic 1 inner offsets relative (0..n-1), wrapper offset = last absolute
// offset (KIP-31); magic 0 inner offsets absolute.
bytes gzip_wrapped_set(int8_t magic, const std::vector<msg>& ms, int64_t base,
                       int8_t extra_attrs = 0, int64_t wrapper_ts = 0) {
    bytes inner;
    for (size_t i = 0; i < ms.size(); ++i) {
        const int64_t off = magic == 1 ? static_cast<int64_t>(i) : base + static_cast<int64_t>(i);
        append_entry(inner, off, message(magic, 0, ms[i].timestamp, ms[i].key, ms[i].value));
    }
    bytes set;
    append_entry(set, base + static_cast<int64_t>(ms.size()) - 1,
                 message(magic, static_cast<int8_t>(1 | extra_attrs), wrapper_ts, std::nullopt,
                         gzip(inner)));
    return set;
}

void expect_converted(const bytes& batch, const std::vector<msg>& ms, bool magic0,
                      compression_codec codec) {
    auto h = validate_batch(batch, {.require_exact_size = true, .producer = true});
    ASSERT_TRUE(h) << to_string(h.error());
    EXPECT_EQ(h->codec(), codec);
    EXPECT_EQ(h->record_count, static_cast<int32_t>(ms.size()));
    EXPECT_EQ(h->base_offset, 0);
    EXPECT_EQ(h->producer_id, -1);
    EXPECT_FALSE(h->log_append_time());
    auto rs = read_records(batch);
    ASSERT_TRUE(rs) << to_string(rs.error());
    ASSERT_EQ(rs->size(), ms.size());
    int64_t max_ts = -1;
    for (size_t i = 0; i < ms.size(); ++i) {
        const record& r = (*rs)[i];
        EXPECT_EQ(r.key, ms[i].key) << i;
        EXPECT_EQ(r.value, ms[i].value) << i;
        EXPECT_EQ(r.offset, static_cast<int64_t>(i));
        EXPECT_TRUE(r.headers.empty());
        const int64_t ts = magic0 ? -1 : ms[i].timestamp;
        EXPECT_EQ(r.timestamp, ts) << i;
        max_ts = std::max(max_ts, ts);
    }
    EXPECT_EQ(h->max_timestamp, max_ts);
}

TEST(legacy_message_set, magic0_uncompressed_converts) {
    const auto ms = sample_messages();
    const bytes set = plain_set(0, ms, 40);
    EXPECT_EQ(peek_magic(set), 0);
    auto batch = convert_legacy_message_set(set);
    ASSERT_TRUE(batch) << to_string(batch.error());
    expect_converted(*batch, ms, true, compression_codec::none);
    auto read = read_legacy_message_set(set);
    ASSERT_TRUE(read);
    ASSERT_EQ(read->size(), ms.size());
    EXPECT_EQ((*read)[2].offset, 42);
    EXPECT_EQ((*read)[2].timestamp, -1);
    EXPECT_EQ((*read)[2].magic, 0);
}

TEST(legacy_message_set, magic1_uncompressed_converts) {
    const auto ms = sample_messages();
    const bytes set = plain_set(1, ms);
    auto batch = convert_legacy_message_set(set);
    ASSERT_TRUE(batch) << to_string(batch.error());
    expect_converted(*batch, ms, false, compression_codec::none);
}

TEST(legacy_message_set, magic0_gzip_wrapper_converts_keeping_gzip) {
    const auto ms = sample_messages();
    const bytes set = gzip_wrapped_set(0, ms, 100);
    auto batch = convert_legacy_message_set(set);
    ASSERT_TRUE(batch) << to_string(batch.error());
    expect_converted(*batch, ms, true, compression_codec::gzip);
    auto plain = convert_legacy_message_set(set, {.keep_compression = false});
    ASSERT_TRUE(plain);
    expect_converted(*plain, ms, true, compression_codec::none);
}

TEST(legacy_message_set, magic1_gzip_wrapper_relative_offsets_converts) {
    const auto ms = sample_messages();
    const bytes set = gzip_wrapped_set(1, ms, 1000, 0, 1600000000100);
    auto read = read_legacy_message_set(set);
    ASSERT_TRUE(read);
    EXPECT_EQ((*read)[4].offset, 4);  // inner offsets as stored (relative)
    auto batch = convert_legacy_message_set(set);
    ASSERT_TRUE(batch) << to_string(batch.error());
    expect_converted(*batch, ms, false, compression_codec::gzip);
}

TEST(legacy_message_set, magic1_log_append_time_wrapper_overrides_inner_timestamps) {
    const auto ms = sample_messages();
    const bytes set = gzip_wrapped_set(1, ms, 0, 0x08, 1700000000000);
    auto read = read_legacy_message_set(set);
    ASSERT_TRUE(read);
    for (const auto& m : *read)
        EXPECT_EQ(m.timestamp, 1700000000000);
}

TEST(legacy_message_set, several_wrappers_and_plain_messages_in_order) {
    const auto ms = sample_messages();
    const std::vector<msg> first(ms.begin(), ms.begin() + 2);
    const std::vector<msg> second(ms.begin() + 2, ms.begin() + 4);
    const std::vector<msg> third(ms.begin() + 4, ms.end());
    bytes set = gzip_wrapped_set(1, first, 0);
    const bytes s2 = plain_set(1, second, 2);
    set.insert(set.end(), s2.begin(), s2.end());
    const bytes s3 = gzip_wrapped_set(1, third, 4);
    set.insert(set.end(), s3.begin(), s3.end());
    auto batch = convert_legacy_message_set(set);
    ASSERT_TRUE(batch) << to_string(batch.error());
    expect_converted(*batch, ms, false, compression_codec::gzip);
}

TEST(legacy_message_set, snappy_and_lz4_magic1_wrappers) {
    const auto ms = sample_messages();
    for (auto codec : {compression_codec::snappy, compression_codec::lz4}) {
        bytes inner;
        for (size_t i = 0; i < ms.size(); ++i)
            append_entry(inner, static_cast<int64_t>(i),
                         message(1, 0, ms[i].timestamp, ms[i].key, ms[i].value));
        auto c = compress(codec, inner);
        ASSERT_TRUE(c);
        bytes set;
        append_entry(set, 4, message(1, static_cast<int8_t>(codec), 0, std::nullopt, *c));
        auto batch = convert_legacy_message_set(set);
        ASSERT_TRUE(batch) << to_string(batch.error());
        expect_converted(*batch, ms, false, codec);
    }
}

TEST(legacy_message_set, magic0_lz4_is_refused) {
    bytes inner;
    append_entry(inner, 0, message(0, 0, 0, b("k"), b("v")));
    auto c = compress(compression_codec::lz4, inner);
    ASSERT_TRUE(c);
    bytes set;
    append_entry(set, 0, message(0, 3, 0, std::nullopt, *c));
    auto r = convert_legacy_message_set(set);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), record_error::lz4_magic0_unsupported);
    EXPECT_EQ(kafka_error_code(r.error()), 76);
}

TEST(legacy_message_set, errors) {
    const auto ms = sample_messages();
    const bytes good = plain_set(1, ms);
    // CRC-32 mismatch.
    bytes bad_crc = good;
    bad_crc[12 + 10] ^= 0x01;  // inside the first message's timestamp
    EXPECT_EQ(convert_legacy_message_set(bad_crc).error(), record_error::crc_mismatch);
    // Truncated anywhere.
    for (size_t n = 1; n < good.size(); n += 7)
        EXPECT_FALSE(convert_legacy_message_set(bytes_view(good).first(n))) << n;
    // Unknown magic.
    bytes m2;
    append_entry(m2, 0, message(2, 0, 0, b("k"), b("v")));
    EXPECT_EQ(convert_legacy_message_set(m2).error(), record_error::unsupported_magic);
    // Empty set.
    EXPECT_EQ(convert_legacy_message_set(bytes{}).error(), record_error::empty_batch);
    // Key length running past the message (CRC recomputed so the parser sees it).
    bytes bad_len;
    {
        bytes m = message(0, 0, 0, b("key"), b("value"));
        m[6 + 3] = 50;  // key length 3 -> 50
        const uint32_t crc =
            static_cast<uint32_t>(crc32(0, m.data() + 4, static_cast<uInt>(m.size() - 4)));
        for (int i = 0; i < 4; ++i)
            m[static_cast<size_t>(i)] = static_cast<uint8_t>(crc >> (24 - 8 * i));
        append_entry(bad_len, 0, m);
    }
    EXPECT_EQ(convert_legacy_message_set(bad_len).error(), record_error::corrupt_record);
    // Nested compression.
    bytes nested = gzip_wrapped_set(1, ms, 0);
    bytes outer;
    append_entry(outer, 0, message(1, 1, 0, std::nullopt, gzip(nested)));
    EXPECT_EQ(convert_legacy_message_set(outer).error(), record_error::nested_compression);
    // zstd is not a legacy codec.
    bytes zstd_set;
    append_entry(zstd_set, 0, message(1, 4, 0, std::nullopt, b("xx")));
    EXPECT_EQ(convert_legacy_message_set(zstd_set).error(), record_error::unsupported_codec);
    // A wrapper whose value is garbage.
    bytes garbage;
    append_entry(garbage, 0, message(1, 1, 0, std::nullopt, b("not gzip at all")));
    EXPECT_EQ(convert_legacy_message_set(garbage).error(), record_error::decompression_failed);
    // Message size below the minimum.
    bytes tiny;
    put_be(tiny, 0, 8);
    put_be(tiny, 5, 4);
    tiny.resize(tiny.size() + 5);
    EXPECT_EQ(convert_legacy_message_set(tiny).error(), record_error::invalid_length);
}

TEST(legacy_message_set, decompression_bomb_rejected) {
    std::vector<msg> big;
    for (int i = 0; i < 40; ++i)
        big.push_back({std::nullopt, bytes(100000, 0), 1});
    const bytes set = gzip_wrapped_set(1, big, 0);
    EXPECT_LT(set.size(), 100000u);
    auto r = convert_legacy_message_set(set, {.max_decompressed = 1 << 20});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), record_error::decompressed_too_large);
    EXPECT_TRUE(convert_legacy_message_set(set));
}

}  // namespace
}  // namespace rill::protocol
