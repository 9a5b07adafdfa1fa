// Produce-time validation (batch_validation.h, record_scan.h, decompressor.h): every rule of
// Kafka's LogValidator that Rill enforces, against batches built here byte by byte.
#include "protocol/batch_validation.h"

#include <gtest/gtest.h>

#include <string>

#include "protocol/compression.h"
#include "protocol/crc32c.h"
#include "protocol/decompressor.h"
#include "protocol/record_batch.h"
#include "protocol/record_scan.h"

namespace rill::protocol {
namespace {

constexpr int64_t kNow = 1'700'000'000'000;
const compression_codec kCodecs[] = {compression_codec::none, compression_codec::gzip,
                                     compression_codec::snappy, compression_codec::lz4,
                                     compression_codec::zstd};

bytes b(std::string_view s) {
    return bytes(s.begin(), s.end());
}

// One record's bytes, fields as given (lengths may lie).
struct raw_record {
    int64_t ts_delta = 0;
    int32_t offset_delta = 0;
    std::optional<bytes> key = b("k");
    std::optional<bytes> value = b("v");
    std::vector<std::pair<int32_t, int32_t>> header_lengths;  // (key_len, value_len), no bytes
    std::optional<int32_t> length_override;
};

void put_record(writer& w, const raw_record& r) {
    writer body;
    body.write_int8(0);
    body.write_varlong(r.ts_delta);
    body.write_varint(r.offset_delta);
    body.write_varint(r.key ? static_cast<int32_t>(r.key->size()) : -1);
    if (r.key) body.write_raw(*r.key);
    body.write_varint(r.value ? static_cast<int32_t>(r.value->size()) : -1);
    if (r.value) body.write_raw(*r.value);
    body.write_varint(static_cast<int32_t>(r.header_lengths.size()));
    for (auto [k, v] : r.header_lengths) {
        body.write_varint(k);
        for (int32_t i = 0; i < k; ++i)
            body.write_int8('h');
        body.write_varint(v);
        for (int32_t i = 0; i < v; ++i)
            body.write_int8('x');
    }
    w.write_varint(r.length_override.value_or(static_cast<int32_t>(body.size())));
    w.write_raw(body.buffer());
}

struct raw_spec {
    compression_codec codec = compression_codec::none;
    int32_t record_count = -1;       // -1: the number of records
    int32_t last_offset_delta = -1;  // -1: record_count - 1
    int64_t base_timestamp = kNow;
    int64_t max_timestamp = kNow;
    int16_t extra_attributes = 0;
    int64_t producer_id = -1;
    int32_t base_sequence = -1;
};

// A batch with the records section `section` (uncompressed bytes), compressed and CRC'd.
bytes raw_batch(const bytes& section, int32_t count, const raw_spec& s) {
    bytes body = section;
    if (s.codec != compression_codec::none) body = *compress(s.codec, section);
    bytes out(kBatchHeaderSize);
    out.insert(out.end(), body.begin(), body.end());
    batch_header h;
    h.base_offset = 0;
    h.batch_length = static_cast<int32_t>(out.size() - kBatchLogOverhead);
    h.magic = 2;
    h.attributes = static_cast<int16_t>(static_cast<int16_t>(s.codec) | s.extra_attributes);
    h.record_count = s.record_count >= 0 ? s.record_count : count;
    h.last_offset_delta = s.last_offset_delta >= 0 ? s.last_offset_delta : h.record_count - 1;
    h.base_timestamp = s.base_timestamp;
    h.max_timestamp = s.max_timestamp;
    h.producer_id = s.producer_id;
    h.producer_epoch = s.producer_id >= 0 ? 0 : -1;
    h.base_sequence = s.base_sequence;
    write_batch_header(h, out);
    update_batch_crc(out);
    return out;
}

bytes batch_of(const std::vector<raw_record>& rs, const raw_spec& s = {}) {
    writer w;
    for (const auto& r : rs)
        put_record(w, r);
    return raw_batch(w.buffer(), static_cast<int32_t>(rs.size()), s);
}

std::vector<raw_record> good_records(int n) {
    std::vector<raw_record> rs;
    for (int i = 0; i < n; ++i) {
        raw_record r;
        r.offset_delta = i;
        r.ts_delta = i;
        r.key = b("key-" + std::to_string(i));
        r.value = bytes(100 + i, static_cast<uint8_t>('a' + i % 26));
        r.header_lengths = {{3, 2}, {1, -1}};
        rs.push_back(r);
    }
    return rs;
}

record_rules rules() {
    record_rules r;
    r.now_ms = kNow;
    return r;
}

TEST(batch_validation, accepts_good_batches_of_every_codec) {
    for (auto codec : kCodecs) {
        raw_spec s;
        s.codec = codec;
        auto batch = batch_of(good_records(50), s);
        auto f = validate_produced_batch(batch, rules(), "t-0");
        ASSERT_TRUE(f) << int(codec) << " " << f.error().message;
        EXPECT_EQ(f->header.record_count, 50);
        EXPECT_EQ(f->max_timestamp, kNow + 49);
        EXPECT_EQ(f->max_timestamp_delta, 49);
    }
}

TEST(batch_validation, builder_batches_and_real_shapes_pass) {
    std::vector<record> rs;
    for (int i = 0; i < 20; ++i)
        rs.push_back({b("k"), bytes(5000, 'z'), {{"trace", b("1")}}, kNow - 5, -1, 0});
    const auto plain = build_batch({}, rs);
    ASSERT_TRUE(plain);
    for (auto codec : kCodecs) {
        batch_spec s;
        s.codec = codec;
        s.producer_id = 7;
        s.producer_epoch = 0;
        s.base_sequence = 0;
        auto batch = build_batch(s, rs);
        ASSERT_TRUE(batch);
        auto f = validate_produced_batch(*batch, rules(), "t-0");
        ASSERT_TRUE(f) << int(codec) << " " << f.error().message;
        EXPECT_EQ(f->inflated, plain->size() - kBatchHeaderSize) << int(codec);
    }
}

TEST(batch_validation, a_gzip_batch_claiming_int32_max_records_is_refused) {
    raw_spec s;
    s.codec = compression_codec::gzip;
    s.record_count = std::numeric_limits<int32_t>::max();
    auto batch = batch_of(good_records(3), s);
    auto f = validate_produced_batch(batch, rules(), "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 87);  // INVALID_RECORD
    EXPECT_TRUE(f.error().records.empty());
}

TEST(batch_validation, record_count_must_match_the_records_present) {
    for (auto codec : kCodecs) {
        raw_spec fewer;
        fewer.codec = codec;
        fewer.record_count = 2;  // three records present
        auto f = validate_produced_batch(batch_of(good_records(3), fewer), rules(), "t-0");
        ASSERT_FALSE(f) << int(codec);
        EXPECT_EQ(f.error().error_code, 87);
        raw_spec more;
        more.codec = codec;
        more.record_count = 4;
        f = validate_produced_batch(batch_of(good_records(3), more), rules(), "t-0");
        ASSERT_FALSE(f) << int(codec);
        EXPECT_EQ(f.error().error_code, 87);
    }
}

TEST(batch_validation, unparsable_records_are_refused) {
    // Records whose bytes are noise, uncompressed and compressed.
    bytes noise(300);
    for (size_t i = 0; i < noise.size(); ++i)
        noise[i] = static_cast<uint8_t>(i * 131 + 7);
    for (auto codec : kCodecs) {
        raw_spec s;
        s.codec = codec;
        auto f = validate_produced_batch(raw_batch(noise, 5, s), rules(), "t-0");
        ASSERT_FALSE(f) << int(codec);
        EXPECT_EQ(f.error().error_code, 87) << int(codec);
    }
    // A length field that disagrees with the fields.
    auto rs = good_records(2);
    rs[1].length_override = 3;
    EXPECT_FALSE(validate_produced_batch(batch_of(rs), rules(), "t-0"));
    // Negative header key length; a lying header count.
    rs = good_records(2);
    rs[0].header_lengths = {{-1, 0}};
    EXPECT_FALSE(validate_produced_batch(batch_of(rs), rules(), "t-0"));
    writer w;
    w.write_varint(12);
    w.write_int8(0);
    w.write_varlong(0);
    w.write_varint(0);
    w.write_varint(-1);
    w.write_varint(-1);
    w.write_varint(std::numeric_limits<int32_t>::max());  // header count
    w.write_raw(b("abcdef"));
    auto f = validate_produced_batch(raw_batch(w.buffer(), 1, {}), rules(), "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 87);
}

TEST(batch_validation, offset_deltas_must_be_zero_to_n_minus_one) {
    auto rs = good_records(4);
    rs[2].offset_delta = 5;
    rs[3].offset_delta = 2;
    auto f = validate_produced_batch(batch_of(rs), rules(), "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 87);
    ASSERT_EQ(f.error().records.size(), 2u);
    EXPECT_EQ(f.error().records[0].batch_index, 2);
    EXPECT_EQ(f.error().records[1].batch_index, 3);
    EXPECT_NE(f.error().message.find("t-0"), std::string::npos);
}

TEST(batch_validation, last_offset_delta_must_match_the_count) {
    raw_spec s;
    s.last_offset_delta = 7;  // 3 records
    auto f = validate_produced_batch(batch_of(good_records(3), s), rules(), "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 87);
}

TEST(batch_validation, timestamps_outside_the_window_are_invalid_timestamp) {
    auto r = rules();
    r.timestamp_before_max_ms = 1000;
    r.timestamp_after_max_ms = 500;
    auto rs = good_records(4);
    rs[0].ts_delta = -1000;  // exactly at the bound: fine
    rs[1].ts_delta = -1001;  // too old
    rs[2].ts_delta = 501;    // too far ahead
    rs[3].ts_delta = 500;
    auto f = validate_produced_batch(batch_of(rs), r, "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 32);  // INVALID_TIMESTAMP
    ASSERT_EQ(f.error().records.size(), 2u);
    EXPECT_EQ(f.error().records[0].batch_index, 1);
    EXPECT_EQ(f.error().records[1].batch_index, 2);
    // A key error beside a timestamp error: INVALID_TIMESTAMP wins, both are listed.
    r.require_keys = true;
    rs[3].key.reset();
    f = validate_produced_batch(batch_of(rs), r, "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 32);
    EXPECT_EQ(f.error().records.size(), 3u);
    // -1 (no timestamp) is never out of range; extreme values do not overflow.
    rs = good_records(2);
    raw_spec s;
    s.base_timestamp = -1;
    rs[0].ts_delta = 0;
    rs[1].ts_delta = 0;
    rs[1].offset_delta = 1;
    EXPECT_TRUE(validate_produced_batch(batch_of(rs, s), r, "t-0"));
    s.base_timestamp = std::numeric_limits<int64_t>::min();
    EXPECT_FALSE(validate_produced_batch(batch_of(rs, s), r, "t-0"));
    s.base_timestamp = std::numeric_limits<int64_t>::max();
    EXPECT_FALSE(validate_produced_batch(batch_of(rs, s), r, "t-0"));
}

TEST(batch_validation, log_append_time_rules) {
    // A LogAppendTime topic refuses batches whose producer claims LogAppendTime.
    auto r = rules();
    r.log_append_time = true;
    raw_spec s;
    s.extra_attributes = static_cast<int16_t>(kAttrLogAppendTime);
    auto f = validate_produced_batch(batch_of(good_records(2), s), r, "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 32);
    // ... but any CreateTime stamps (the broker overwrites them).
    r.timestamp_after_max_ms = 0;
    raw_spec future;
    future.base_timestamp = kNow + 10'000'000;
    EXPECT_TRUE(validate_produced_batch(batch_of(good_records(2), future), r, "t-0"));
}

TEST(batch_validation, compacted_topics_need_keys) {
    auto r = rules();
    r.require_keys = true;
    auto rs = good_records(3);
    rs[1].key.reset();
    auto f = validate_produced_batch(batch_of(rs), r, "orders-2");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 87);
    ASSERT_EQ(f.error().records.size(), 1u);
    EXPECT_EQ(f.error().records[0].batch_index, 1);
    rs[1].key = b("");  // an empty key is a key
    EXPECT_TRUE(validate_produced_batch(batch_of(rs), r, "orders-2"));
}

TEST(batch_validation, batch_level_producer_rules) {
    raw_spec ctrl;
    ctrl.extra_attributes = static_cast<int16_t>(kAttrControl | kAttrTransactional);
    auto f = validate_produced_batch(batch_of(good_records(1), ctrl), rules(), "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 87);
    raw_spec seq;
    seq.producer_id = 5;
    seq.base_sequence = -1;
    f = validate_produced_batch(batch_of(good_records(1), seq), rules(), "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 87);
    // A flipped byte: CORRUPT_MESSAGE.
    auto batch = batch_of(good_records(2));
    batch[kBatchHeaderSize + 3] ^= 1;
    f = validate_produced_batch(batch, rules(), "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 2);
}

TEST(batch_validation, record_errors_are_capped_but_counted) {
    auto r = rules();
    r.require_keys = true;
    r.max_record_errors = 5;
    auto rs = good_records(40);
    for (auto& x : rs)
        x.key.reset();
    auto f = validate_produced_batch(batch_of(rs), r, "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().records.size(), 5u);
    EXPECT_NE(f.error().message.find("40 of 40"), std::string::npos) << f.error().message;
}

TEST(batch_validation, no_record_errors_kept_still_names_the_first) {
    // Found by tests/fuzz/batch_fuzz: with max_record_errors 0 the message read the first kept
    // record error, of which there was none (undefined behaviour).
    auto r = rules();
    r.require_keys = true;
    r.max_record_errors = 0;
    auto rs = good_records(3);
    rs[1].key.reset();
    auto f = validate_produced_batch(batch_of(rs), r, "t-0");
    ASSERT_FALSE(f);
    EXPECT_EQ(f.error().error_code, 87);
    EXPECT_TRUE(f.error().records.empty());
    EXPECT_NE(f.error().message.find("1 of 3 records for t-0 rejected; first: record 1 has no key"),
              std::string::npos)
        << f.error().message;
}

TEST(batch_validation, zip_bombs_stop_at_the_inflate_bound) {
    // One record whose value is 16 MiB of zeros: a few KiB compressed.
    raw_record big;
    big.value = bytes(size_t{16} << 20, 0);
    for (auto codec : {compression_codec::gzip, compression_codec::lz4, compression_codec::zstd,
                       compression_codec::snappy}) {
        raw_spec s;
        s.codec = codec;
        auto batch = batch_of({big}, s);
        EXPECT_LT(batch.size(), size_t{4} << 20) << int(codec);
        auto r = rules();
        r.limits.max_inflated = size_t{1} << 20;
        auto f = validate_produced_batch(batch, r, "t-0");
        ASSERT_FALSE(f) << int(codec);
        EXPECT_TRUE(f.error().inflate_limit) << int(codec);
        // With room it validates, streaming: memory stays at the chunk plus decoder state
        // (snappy's raw block aside, which is the whole block by format).
        r.limits.max_inflated = size_t{17} << 20;
        r.limits.max_memory = size_t{20} << 20;
        EXPECT_TRUE(validate_produced_batch(batch, r, "t-0")) << int(codec);
    }
}

TEST(batch_validation, correct_max_timestamp_rewrites_a_lying_header) {
    raw_spec s;
    s.max_timestamp = kNow + 999'999;  // records go up to kNow + 9
    auto batch = batch_of(good_records(10), s);
    auto f = validate_produced_batch(batch, rules(), "t-0");
    ASSERT_TRUE(f);
    correct_max_timestamp(batch, *f);
    auto h = validate_batch(batch);
    ASSERT_TRUE(h);  // the CRC was recomputed
    EXPECT_EQ(h->max_timestamp, kNow + 9);
}

TEST(decompressor, streams_in_small_pieces_equal_whole_decompression) {
    bytes in(300000);
    for (size_t i = 0; i < in.size(); ++i)
        in[i] = static_cast<uint8_t>((i % 251) ^ (i / 1000));
    for (auto codec : kCodecs) {
        auto c = compress(codec, in);
        ASSERT_TRUE(c);
        for (size_t piece : {size_t{1}, size_t{7}, size_t{4096}, size_t{1} << 20}) {
            auto d = decompressor::open(codec, *c);
            ASSERT_TRUE(d);
            bytes out;
            std::vector<uint8_t> buf(piece);
            for (;;) {
                auto n = (*d)->read(buf);
                ASSERT_TRUE(n) << int(codec) << " " << piece;
                if (*n == 0) break;
                out.insert(out.end(), buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*n));
            }
            EXPECT_EQ(out, in) << int(codec) << " " << piece;
        }
    }
}

TEST(decompressor, refuses_decoders_that_need_more_memory_than_allowed) {
    bytes in(size_t{4} << 20, 'q');
    auto z = compress(compression_codec::zstd, in);
    ASSERT_TRUE(z);
    auto d = decompressor::open(compression_codec::zstd, *z, 64 * 1024);
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error(), compression_error::memory_limit);
    auto ok = decompressor::open(compression_codec::zstd, *z, size_t{16} << 20);
    ASSERT_TRUE(ok);
    EXPECT_GT((*ok)->memory(), 0u);
    // A raw snappy block claiming 4 GiB is refused before allocating.
    const bytes lying = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00};
    auto s = decompressor::open(compression_codec::snappy, lying, size_t{64} << 20);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error(), compression_error::memory_limit);
}

}  // namespace
}  // namespace rill::protocol
