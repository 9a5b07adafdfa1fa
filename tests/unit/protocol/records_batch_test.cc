#include <gtest/gtest.h>

#include <string>

#include "protocol/crc32c.h"
#include "protocol/record_batch.h"

namespace rill::protocol {
namespace {

const compression_codec kCodecs[] = {compression_codec::none, compression_codec::gzip,
                                     compression_codec::snappy, compression_codec::lz4,
                                     compression_codec::zstd};

bytes b(std::string_view s) {
    return bytes(s.begin(), s.end());
}

std::vector<record> sample_records() {
    std::vector<record> rs;
    rs.push_back({b("key-0"), b("value-0"), {}, 1700000000000, -1, 0});
    rs.push_back({std::nullopt,
                  b("value with null key"),
                  {{"h1", b("v1")}, {"h2", std::nullopt}},
                  1700000000005,
                  -1,
                  0});
    rs.push_back({b("key-2"), std::nullopt, {{"", b("")}}, 1699999999990, -1, 0});
    rs.push_back({b(""), b(""), {}, 1700000000003, -1, 0});
    rs.push_back({b("big"), bytes(100000, 0x42), {{"trace-id", b("abc")}}, 1700000000001, -1, 0});
    return rs;
}

batch_spec sample_spec(compression_codec codec) {
    batch_spec s;
    s.base_offset = 0;
    s.partition_leader_epoch = 7;
    s.producer_id = 4242;
    s.producer_epoch = 3;
    s.base_sequence = 100;
    s.codec = codec;
    return s;
}

TEST(record_batch, build_validate_iterate_round_trip_every_codec) {
    const auto records = sample_records();
    for (auto codec : kCodecs) {
        auto built = build_batch(sample_spec(codec), records);
        ASSERT_TRUE(built) << static_cast<int>(codec);
        auto h = validate_batch(*built,
                                {.verify_crc = true, .require_exact_size = true, .producer = true});
        ASSERT_TRUE(h) << static_cast<int>(codec) << " " << to_string(h.error());
        EXPECT_EQ(h->total_size(), built->size());
        EXPECT_EQ(h->codec(), codec);
        EXPECT_EQ(h->record_count, 5);
        EXPECT_EQ(h->last_offset_delta, 4);
        EXPECT_EQ(h->base_timestamp, 1700000000000);
        EXPECT_EQ(h->max_timestamp, 1700000000005);
        EXPECT_EQ(h->producer_id, 4242);
        EXPECT_EQ(h->producer_epoch, 3);
        EXPECT_EQ(h->base_sequence, 100);
        EXPECT_EQ(h->last_sequence(), 104);
        EXPECT_EQ(h->partition_leader_epoch, 7);
        EXPECT_FALSE(h->is_transactional());
        EXPECT_FALSE(h->is_control());
        EXPECT_FALSE(h->log_append_time());
        if (codec != compression_codec::none) {
            EXPECT_LT(built->size(), 50000u) << static_cast<int>(codec);
        }
        EXPECT_TRUE(validate_records(*built, true)) << static_cast<int>(codec);

        auto back = read_records(*built);
        ASSERT_TRUE(back) << static_cast<int>(codec) << " " << to_string(back.error());
        ASSERT_EQ(back->size(), records.size());
        for (size_t i = 0; i < records.size(); ++i) {
            const record& got = (*back)[i];
            EXPECT_EQ(got.key, records[i].key) << i;
            EXPECT_EQ(got.value, records[i].value) << i;
            EXPECT_EQ(got.headers, records[i].headers) << i;
            EXPECT_EQ(got.timestamp, records[i].timestamp) << i;
            EXPECT_EQ(got.offset_delta, static_cast<int32_t>(i));
            EXPECT_EQ(got.offset, static_cast<int64_t>(i));
        }
    }
}

TEST(record_batch, record_encoding_matches_the_spec) {
    // One record, key "k", value "v", no headers: length 8, attributes 0, timestamp delta 0,
    // offset delta 0, key length 1 (zig-zag 2), 'k', value length 1, 'v', header count 0.
    const std::vector<record> rs = {{b("k"), b("v"), {}, 5, -1, 0}};
    auto built = build_batch({}, rs);
    ASSERT_TRUE(built);
    const bytes expect_records = {0x10, 0x00, 0x00, 0x00, 0x02, 'k', 0x02, 'v', 0x00};
    ASSERT_EQ(built->size(), kBatchHeaderSize + expect_records.size());
    EXPECT_EQ(bytes(built->begin() + kBatchHeaderSize, built->end()), expect_records);
    auto h = parse_batch_header(*built);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->batch_length, static_cast<int32_t>(built->size() - 12));
    EXPECT_EQ(h->magic, 2);
    EXPECT_EQ(h->crc, crc32c_portable(0, built->data() + 21, built->size() - 21));
    EXPECT_EQ(h->producer_id, -1);
    EXPECT_EQ(h->base_sequence, -1);
}

TEST(record_batch, hand_assembled_batch_matches_builder_byte_for_byte) {
    // Two records written from the format description, not by our writer.
    // clang-format off
    bytes expect = {
        0, 0, 0, 0, 0, 0, 0, 0,                          // base_offset 0
        0, 0, 0, 71,                                     // batch_length: 49 + 22 bytes of records
        0xff, 0xff, 0xff, 0xff,                          // partition_leader_epoch -1
        2,                                               // magic
        0, 0, 0, 0,                                      // crc, filled below
        0, 0,                                            // attributes
        0, 0, 0, 1,                                      // last_offset_delta
        0, 0, 0, 0, 0, 0, 0x03, 0xe8,                    // base_timestamp 1000
        0, 0, 0, 0, 0, 0, 0x03, 0xf2,                    // max_timestamp 1010
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // producer_id -1
        0xff, 0xff,                                      // producer_epoch -1
        0xff, 0xff, 0xff, 0xff,                          // base_sequence -1
        0, 0, 0, 2,                                      // record_count
        // record 0: length 13, attrs, ts delta 0, offset delta 0, key "a", value "xy",
        // one header "h" = "1"
        0x1a, 0x00, 0x00, 0x00, 0x02, 'a', 0x04, 'x', 'y', 0x02, 0x02, 'h', 0x02, '1',
        // record 1: length 7, attrs, ts delta 10, offset delta 1, null key, value "z", no headers
        0x0e, 0x00, 0x14, 0x02, 0x01, 0x02, 'z', 0x00,
    };
    // clang-format on
    const uint32_t crc = crc32c_portable(0, expect.data() + 21, expect.size() - 21);
    for (int i = 0; i < 4; ++i)
        expect[17 + static_cast<size_t>(i)] = static_cast<uint8_t>(crc >> (24 - 8 * i));

    auto h = validate_batch(expect, {.require_exact_size = true, .producer = true});
    ASSERT_TRUE(h) << to_string(h.error());
    auto rs = read_records(expect);
    ASSERT_TRUE(rs);
    ASSERT_EQ(rs->size(), 2u);
    EXPECT_EQ((*rs)[0].key, b("a"));
    EXPECT_EQ((*rs)[0].value, b("xy"));
    ASSERT_EQ((*rs)[0].headers.size(), 1u);
    EXPECT_EQ((*rs)[0].headers[0].key, "h");
    EXPECT_EQ((*rs)[0].headers[0].value, b("1"));
    EXPECT_EQ((*rs)[0].timestamp, 1000);
    EXPECT_EQ((*rs)[1].key, std::nullopt);
    EXPECT_EQ((*rs)[1].value, b("z"));
    EXPECT_EQ((*rs)[1].timestamp, 1010);
    EXPECT_EQ((*rs)[1].offset, 1);

    const std::vector<record> in = {{b("a"), b("xy"), {{"h", b("1")}}, 1000, -1, 0},
                                    {std::nullopt, b("z"), {}, 1010, -1, 0}};
    auto built = build_batch({}, in);
    ASSERT_TRUE(built);
    EXPECT_EQ(*built, expect);
}

TEST(record_batch, crc_mismatch_detected_everywhere_inside_the_crc) {
    auto built = build_batch(sample_spec(compression_codec::none), sample_records());
    ASSERT_TRUE(built);
    for (size_t i = kAttributesOffset; i < built->size(); i += 37) {
        bytes bad = *built;
        bad[i] ^= 0x01;
        auto h = validate_batch(bad);
        ASSERT_FALSE(h) << i;
        EXPECT_EQ(h.error(), record_error::crc_mismatch) << i;
        EXPECT_EQ(kafka_error_code(h.error()), 2);
    }
    bytes bad = *built;
    bad[kCrcOffset] ^= 0x80;  // the stored CRC itself
    EXPECT_EQ(validate_batch(bad).error(), record_error::crc_mismatch);
    // Without CRC verification the same bytes pass the header checks.
    EXPECT_TRUE(validate_batch(bad, {.verify_crc = false}));
}

TEST(record_batch, stamping_base_offset_and_leader_epoch_keeps_the_crc) {
    auto built = build_batch(sample_spec(compression_codec::lz4), sample_records());
    ASSERT_TRUE(built);
    const uint32_t crc_before = parse_batch_header(*built)->crc;
    set_base_offset(*built, 1000);
    set_partition_leader_epoch(*built, 12);
    auto h = validate_batch(*built);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->crc, crc_before);
    EXPECT_EQ(h->base_offset, 1000);
    EXPECT_EQ(h->last_offset(), 1004);
    EXPECT_EQ(h->partition_leader_epoch, 12);
    auto rs = read_records(*built);
    ASSERT_TRUE(rs);
    EXPECT_EQ((*rs)[0].offset, 1000);
    EXPECT_EQ((*rs)[4].offset, 1004);
}

TEST(record_batch, log_append_time_rewrites_max_timestamp_and_crc) {
    for (auto codec : kCodecs) {
        auto built = build_batch(sample_spec(codec), sample_records());
        ASSERT_TRUE(built);
        set_log_append_time(*built, 1800000000000);
        auto h = validate_batch(*built, {.require_exact_size = true, .producer = true});
        ASSERT_TRUE(h) << to_string(h.error());
        EXPECT_TRUE(h->log_append_time());
        EXPECT_EQ(h->codec(), codec);  // codec bits untouched
        EXPECT_EQ(h->max_timestamp, 1800000000000);
        auto rs = read_records(*built);
        ASSERT_TRUE(rs);
        for (const auto& r : *rs)
            EXPECT_EQ(r.timestamp, 1800000000000);
    }
}

TEST(record_batch, builder_log_append_time_transactional_and_custom_deltas) {
    batch_spec s = sample_spec(compression_codec::none);
    s.transactional = true;
    s.log_append_time = 1234;
    std::vector<record> rs = {{b("a"), b("1"), {}, 10, 0, 0},
                              {b("b"), b("2"), {}, 20, 3, 0},
                              {b("c"), b("3"), {}, 30, 9, 0}};
    auto built = build_batch(s, rs);
    ASSERT_TRUE(built);
    auto h = validate_batch(*built);
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->is_transactional());
    EXPECT_TRUE(h->log_append_time());
    EXPECT_EQ(h->max_timestamp, 1234);
    EXPECT_EQ(h->last_offset_delta, 9);  // compacted-style gaps are allowed in the log
    EXPECT_EQ(h->record_count, 3);
    EXPECT_TRUE(validate_records(*built));
    // ... but not from a producer.
    EXPECT_EQ(validate_batch(*built, {.producer = true}).error(),
              record_error::invalid_offset_delta);
    EXPECT_EQ(validate_records(*built, true).error(), record_error::invalid_offset_delta);
    // Non-increasing deltas cannot be built.
    std::vector<record> bad = {{b("a"), b("1"), {}, 10, 2, 0}, {b("b"), b("2"), {}, 20, 2, 0}};
    EXPECT_EQ(build_batch(s, bad).error(), record_error::invalid_offset_delta);
    EXPECT_EQ(build_batch(s, {}).error(), record_error::empty_batch);
}

TEST(record_batch, compaction_keeps_last_offset_delta_and_empty_batches) {
    batch_spec s;
    s.last_offset_delta = 9;
    std::vector<record> kept = {{b("a"), b("1"), {}, 10, 2, 0}, {b("b"), b("2"), {}, 20, 5, 0}};
    auto built = build_batch(s, kept);
    ASSERT_TRUE(built);
    auto h = validate_batch(*built);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->last_offset_delta, 9);
    EXPECT_EQ(h->record_count, 2);
    EXPECT_TRUE(validate_records(*built));
    EXPECT_EQ(validate_records(*built, true).error(), record_error::invalid_offset_delta);
    auto rs = read_records(*built);
    ASSERT_TRUE(rs);
    EXPECT_EQ((*rs)[1].offset, 5);
    // Everything removed: an empty batch that still spans offsets 0..9.
    auto empty = build_batch(s, {});
    ASSERT_TRUE(empty);
    auto he = validate_batch(*empty, {.require_exact_size = true});
    ASSERT_TRUE(he);
    EXPECT_EQ(he->record_count, 0);
    EXPECT_EQ(he->last_offset_delta, 9);
    EXPECT_TRUE(read_records(*empty)->empty());
    // A delta below the last record's is refused.
    s.last_offset_delta = 4;
    EXPECT_EQ(build_batch(s, kept).error(), record_error::invalid_offset_delta);
}

TEST(record_batch, control_batches) {
    batch_spec s;
    s.producer_id = 77;
    s.producer_epoch = 2;
    for (auto type : {control_type::abort, control_type::commit}) {
        auto built = build_control_batch(s, {0, type, 5}, 1700000000000);
        ASSERT_TRUE(built);
        auto h = validate_batch(*built, {.require_exact_size = true});
        ASSERT_TRUE(h);
        EXPECT_TRUE(h->is_control());
        EXPECT_TRUE(h->is_transactional());
        EXPECT_EQ(h->producer_id, 77);
        EXPECT_EQ(h->record_count, 1);
        // A client may not produce one.
        EXPECT_EQ(validate_batch(*built, {.producer = true}).error(),
                  record_error::control_batch_not_allowed);
        auto rr = record_reader::open(*built);
        ASSERT_TRUE(rr);
        record_view v;
        ASSERT_TRUE(rr->next(v));
        ASSERT_TRUE(v.key);
        EXPECT_EQ(v.key->size(), 4u);
        EXPECT_EQ((*v.key)[3], static_cast<uint8_t>(type));
        ASSERT_TRUE(v.value);
        EXPECT_EQ(v.value->size(), 6u);
        auto c = parse_control_record(v);
        ASSERT_TRUE(c);
        EXPECT_EQ(c->type, type);
        EXPECT_EQ(c->coordinator_epoch, 5);
        EXPECT_EQ(c->version, 0);
        EXPECT_FALSE(rr->next(v));
        EXPECT_FALSE(rr->error());
    }
    record_view junk;
    junk.key = bytes_view();
    EXPECT_EQ(parse_control_record(junk).error(), record_error::invalid_control_record);
}

TEST(record_batch, header_level_errors) {
    auto built = build_batch(sample_spec(compression_codec::none), sample_records());
    ASSERT_TRUE(built);
    auto with = [&](auto&& mutate, bool fix_crc = true) {
        bytes x = *built;
        auto h = *parse_batch_header(x);
        mutate(h, x);
        write_batch_header(h, x);
        if (fix_crc && x.size() >= kBatchHeaderSize) update_batch_crc(x);
        return x;
    };
    // Truncated: any prefix.
    for (size_t n : {size_t{0}, size_t{16}, size_t{60}, size_t{61}, built->size() - 1})
        EXPECT_EQ(validate_batch(bytes_view(*built).first(n)).error(), record_error::truncated)
            << n;
    // Trailing bytes are fine unless exactly one batch is required.
    bytes longer = *built;
    longer.push_back(0);
    EXPECT_TRUE(validate_batch(longer));
    EXPECT_EQ(validate_batch(longer, {.require_exact_size = true}).error(),
              record_error::trailing_bytes);
    // Magic.
    auto m1 = with([](batch_header& h, bytes&) { h.magic = 1; });
    EXPECT_EQ(validate_batch(m1).error(), record_error::unsupported_magic);
    // batch_length below the header size.
    auto short_len = with([](batch_header& h, bytes&) { h.batch_length = 48; }, false);
    EXPECT_EQ(validate_batch(short_len).error(), record_error::invalid_length);
    auto neg_len = with([](batch_header& h, bytes&) { h.batch_length = -5; }, false);
    EXPECT_EQ(validate_batch(neg_len).error(), record_error::invalid_length);
    // Codec 5..7.
    auto codec = with([](batch_header& h, bytes&) { h.attributes = 6; });
    EXPECT_EQ(validate_batch(codec).error(), record_error::unsupported_codec);
    EXPECT_EQ(kafka_error_code(record_error::unsupported_codec), 76);
    // Negative / impossible counts.
    auto neg = with([](batch_header& h, bytes&) { h.record_count = -1; });
    EXPECT_EQ(validate_batch(neg).error(), record_error::invalid_record_count);
    auto huge = with([](batch_header& h, bytes&) {
        h.record_count = 1000000;
        h.last_offset_delta = 999999;
    });
    EXPECT_EQ(validate_batch(huge).error(), record_error::invalid_record_count);
    // last_offset_delta smaller than count - 1.
    auto lod = with([](batch_header& h, bytes&) { h.last_offset_delta = 2; });
    EXPECT_EQ(validate_batch(lod).error(), record_error::invalid_offset_delta);
    auto lod_neg = with([](batch_header& h, bytes&) { h.last_offset_delta = -1; });
    EXPECT_EQ(validate_batch(lod_neg).error(), record_error::invalid_offset_delta);
    // Count zero: fine in the log (empty batch after compaction), not from a producer.
    auto zero = with([](batch_header& h, bytes&) { h.record_count = 0; });
    EXPECT_TRUE(validate_batch(zero));
    EXPECT_EQ(validate_batch(zero, {.producer = true}).error(), record_error::invalid_record_count);
}

TEST(record_batch, record_level_count_mismatches) {
    auto built = build_batch(sample_spec(compression_codec::none), sample_records());
    ASSERT_TRUE(built);
    // Header says fewer records than present: leftover bytes.
    bytes fewer = *built;
    auto h = *parse_batch_header(fewer);
    h.record_count = 4;
    write_batch_header(h, fewer);
    update_batch_crc(fewer);
    ASSERT_TRUE(validate_batch(fewer));  // per-batch checks cannot see it ...
    EXPECT_EQ(validate_records(fewer).error(),
              record_error::record_count_mismatch);  // ... these can
    // Header says more records than present.
    bytes more = *built;
    h.record_count = 6;
    h.last_offset_delta = 5;
    write_batch_header(h, more);
    update_batch_crc(more);
    ASSERT_TRUE(validate_batch(more));
    EXPECT_EQ(read_records(more).error(), record_error::record_count_mismatch);
}

TEST(record_batch, record_length_disagreeing_with_fields_is_corrupt) {
    const std::vector<record> rs = {{b("k"), b("v"), {}, 5, -1, 0}};
    auto built = build_batch({}, rs);
    ASSERT_TRUE(built);
    bytes x = *built;
    x[kBatchHeaderSize] = 0x12;  // length 9 instead of 8: one byte missing
    update_batch_crc(x);
    EXPECT_EQ(read_records(x).error(), record_error::corrupt_record);
    x[kBatchHeaderSize] = 0x0e;  // length 7: the header count falls outside
    update_batch_crc(x);
    EXPECT_EQ(read_records(x).error(), record_error::corrupt_record);
    x[kBatchHeaderSize] = 0x10;
    x[kBatchHeaderSize + 8] = 0x02;  // header count 1 but no bytes for it
    update_batch_crc(x);
    EXPECT_EQ(read_records(x).error(), record_error::corrupt_record);
}

TEST(record_batch, compressed_records_bomb_is_rejected) {
    std::vector<record> rs;
    for (int i = 0; i < 64; ++i)
        rs.push_back({std::nullopt, bytes(64 * 1024, 0), {}, 1, -1, 0});
    for (auto codec : kCodecs) {
        if (codec == compression_codec::none) continue;
        auto built = build_batch(sample_spec(codec), rs);
        ASSERT_TRUE(built);
        EXPECT_LT(built->size(), 1u << 20);
        ASSERT_TRUE(validate_batch(*built));
        auto rr = record_reader::open(*built, 1 << 20);
        ASSERT_FALSE(rr) << static_cast<int>(codec);
        EXPECT_EQ(rr.error(), record_error::decompressed_too_large);
        EXPECT_EQ(validate_records(*built, true, 1 << 20).error(),
                  record_error::decompressed_too_large);
        EXPECT_TRUE(validate_records(*built, true));
    }
}

TEST(record_batch, corrupt_compressed_section) {
    auto built = build_batch(sample_spec(compression_codec::zstd), sample_records());
    ASSERT_TRUE(built);
    bytes x = *built;
    for (size_t i = kBatchHeaderSize; i < x.size(); ++i)
        x[i] = static_cast<uint8_t>(i);
    update_batch_crc(x);
    ASSERT_TRUE(validate_batch(x));
    EXPECT_EQ(read_records(x).error(), record_error::decompression_failed);
}

TEST(record_batch, several_batches_in_one_buffer) {
    bytes log;
    int64_t next = 0;
    for (auto codec : kCodecs) {
        auto built = build_batch(sample_spec(codec), sample_records());
        ASSERT_TRUE(built);
        set_base_offset(*built, next);
        next += 5;
        log.insert(log.end(), built->begin(), built->end());
    }
    size_t pos = 0;
    int64_t expect = 0;
    while (pos < log.size()) {
        auto h = validate_batch(bytes_view(log).subspan(pos));
        ASSERT_TRUE(h);
        EXPECT_EQ(h->base_offset, expect);
        expect = h->last_offset() + 1;
        pos += h->total_size();
    }
    EXPECT_EQ(expect, 25);
    EXPECT_EQ(peek_magic(log), 2);
}

}  // namespace
}  // namespace rill::protocol
