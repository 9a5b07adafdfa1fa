// Randomized hostile input for the record validators and iterators: truncations and byte flips
// of valid batches and legacy sets must produce errors (or, for flips the format cannot detect,
// a clean result), never a crash, hang or sanitizer report.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <random>
#include <string>

#include "protocol/legacy_message_set.h"
#include "protocol/record_batch.h"

namespace rill::protocol {
namespace {

constexpr size_t kSmallLimit = 4 << 20;

const compression_codec kCodecs[] = {compression_codec::none, compression_codec::gzip,
                                     compression_codec::snappy, compression_codec::lz4,
                                     compression_codec::zstd};

std::vector<record> random_records(std::mt19937& rng) {
    std::vector<record> rs;
    const int n = 1 + static_cast<int>(rng() % 20);
    auto blob = [&rng](size_t max) {
        bytes x(rng() % max);
        for (auto& c : x)
            c = static_cast<uint8_t>(rng() % 8 == 0 ? rng() : 'a');
        return x;
    };
    for (int i = 0; i < n; ++i) {
        record r;
        if (rng() % 4) r.key = blob(20);
        if (rng() % 5) r.value = blob(300);
        for (int h = static_cast<int>(rng() % 3); h > 0; --h)
            r.headers.push_back({std::string(rng() % 6, 'h'),
                                 rng() % 2 ? std::optional<bytes>(blob(10)) : std::nullopt});
        r.timestamp = 1700000000000 + static_cast<int64_t>(rng() % 1000);
        rs.push_back(std::move(r));
    }
    return rs;
}

// Everything a reader of untrusted batch bytes might call. Returns true if all of it succeeded.
bool exercise_batch(bytes_view data, bool verify_crc) {
    auto h = validate_batch(data, {.verify_crc = verify_crc});
    if (!h) return false;
    const bytes_view batch = data.first(h->total_size());
    bool ok = static_cast<bool>(validate_records(batch, false, kSmallLimit));
    auto rr = record_reader::open(batch, kSmallLimit);
    if (!rr) return false;
    record_view v;
    int n = 0;
    while (rr->next(v)) {
        ++n;
        if (rr->header().is_control()) (void)parse_control_record(v);
    }
    EXPECT_LE(n, std::max(h->record_count, 0));
    return ok && !rr->error();
}

TEST(records_fuzz, truncated_batches_are_rejected) {
    std::mt19937 rng(2024);
    for (auto codec : kCodecs) {
        for (int round = 0; round < 10; ++round) {
            batch_spec spec;
            spec.codec = codec;
            auto built = build_batch(spec, random_records(rng));
            ASSERT_TRUE(built);
            ASSERT_TRUE(exercise_batch(*built, true));
            for (size_t n = 0; n < built->size(); n += 1 + rng() % 9) {
                EXPECT_FALSE(exercise_batch(bytes_view(*built).first(n), true)) << n;
                EXPECT_FALSE(exercise_batch(bytes_view(*built).first(n), false)) << n;
            }
        }
    }
}

TEST(records_fuzz, flipped_batches_fail_crc_or_parse_cleanly) {
    std::mt19937 rng(77);
    int crc_caught = 0, flips = 0;
    for (auto codec : kCodecs) {
        for (int round = 0; round < 20; ++round) {
            batch_spec spec;
            spec.codec = codec;
            spec.control = round % 7 == 0;
            auto built = build_batch(spec, random_records(rng));
            ASSERT_TRUE(built);
            for (int i = 0; i < 60; ++i) {
                bytes x = *built;
                const int nflips = 1 + static_cast<int>(rng() % 4);
                bool inside_crc = false;
                for (int f = 0; f < nflips; ++f) {
                    const size_t at = rng() % x.size();
                    x[at] ^= static_cast<uint8_t>(1 + rng() % 255);
                    inside_crc |= at >= kAttributesOffset;
                }
                ++flips;
                // With the CRC checked, any damage inside it is caught (unless the length field
                // changed, which is caught as a length error first).
                auto h = validate_batch(x);
                if (inside_crc && h) ADD_FAILURE() << "undetected flip";
                if (!h && h.error() == record_error::crc_mismatch) ++crc_caught;
                // With a CRC recomputed over the damage, the parsers see hostile bytes.
                if (x.size() >= kBatchHeaderSize) {
                    auto hh = parse_batch_header(x);
                    if (hh->batch_length >= 49 && hh->total_size() <= x.size()) {
                        update_batch_crc(std::span<uint8_t>(x).first(hh->total_size()));
                    }
                }
                (void)exercise_batch(x, true);
                (void)exercise_batch(x, false);
            }
        }
    }
    EXPECT_GT(crc_caught, flips / 2);
}

TEST(records_fuzz, random_garbage_records_sections) {
    // A valid header over random record bytes, CRC fixed: every parser path meets garbage.
    std::mt19937 rng(5);
    for (int i = 0; i < 3000; ++i) {
        bytes x(kBatchHeaderSize + rng() % 200);
        for (size_t j = kBatchHeaderSize; j < x.size(); ++j)
            x[j] = static_cast<uint8_t>(rng() % 3 == 0 ? rng() % 4 : rng());
        batch_header h;
        h.batch_length = static_cast<int32_t>(x.size() - kBatchLogOverhead);
        h.record_count = static_cast<int32_t>(rng() % 6);
        h.last_offset_delta = std::max(0, h.record_count - 1);
        h.attributes = static_cast<int16_t>(rng() % 5);
        write_batch_header(h, x);
        update_batch_crc(x);
        (void)exercise_batch(x, true);
    }
}

bytes legacy_message(int8_t magic, int8_t attrs, const bytes& key, const bytes& value) {
    bytes body = {static_cast<uint8_t>(magic), static_cast<uint8_t>(attrs)};
    auto be = [&body](uint64_t v, int n) {
        for (int i = n - 1; i >= 0; --i)
            body.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    if (magic == 1) be(1700000000000, 8);
    be(key.size(), 4);
    body.insert(body.end(), key.begin(), key.end());
    be(value.size(), 4);
    body.insert(body.end(), value.begin(), value.end());
    bytes m;
    const uLong crc = crc32(0, body.data(), static_cast<uInt>(body.size()));
    for (int i = 3; i >= 0; --i)
        m.push_back(static_cast<uint8_t>(crc >> (8 * i)));
    m.insert(m.end(), body.begin(), body.end());
    return m;
}

void legacy_entry(bytes& set, int64_t offset, const bytes& m) {
    for (int i = 7; i >= 0; --i)
        set.push_back(static_cast<uint8_t>(static_cast<uint64_t>(offset) >> (8 * i)));
    for (int i = 3; i >= 0; --i)
        set.push_back(static_cast<uint8_t>(m.size() >> (8 * i)));
    set.insert(set.end(), m.begin(), m.end());
}

TEST(records_fuzz, legacy_sets_truncated_and_flipped) {
    std::mt19937 rng(31337);
    for (int round = 0; round < 40; ++round) {
        const int8_t magic = static_cast<int8_t>(round % 2);
        bytes inner;
        const int n = 1 + static_cast<int>(rng() % 6);
        std::vector<size_t> boundaries;  // cuts there leave a valid, shorter uncompressed set
        for (int i = 0; i < n; ++i, boundaries.push_back(inner.size()))
            legacy_entry(inner, i,
                         legacy_message(magic, 0, bytes(rng() % 10, 'k'), bytes(rng() % 100, 'v')));
        bytes set;
        const int codec = static_cast<int>(rng() % 3);  // none, gzip, snappy
        if (codec == 0) {
            set = inner;
        } else {
            auto c = compress(static_cast<compression_codec>(codec), inner);
            ASSERT_TRUE(c);
            legacy_entry(set, n - 1, legacy_message(magic, static_cast<int8_t>(codec), {}, *c));
        }
        ASSERT_TRUE(convert_legacy_message_set(set));
        for (size_t cut = 0; cut < set.size(); cut += 1 + rng() % 5) {
            auto r = convert_legacy_message_set(bytes_view(set).first(cut));
            const bool boundary =
                codec == 0 && cut > 0 &&
                std::find(boundaries.begin(), boundaries.end(), cut) != boundaries.end();
            EXPECT_EQ(static_cast<bool>(r), boundary) << cut;
        }
        for (int i = 0; i < 100; ++i) {
            bytes x = set;
            x[rng() % x.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
            auto r = convert_legacy_message_set(x, {.max_decompressed = kSmallLimit});
            if (r) {
                EXPECT_TRUE(validate_batch(*r, {.require_exact_size = true, .producer = true}));
            }
            (void)read_legacy_message_set(x, kSmallLimit);
        }
    }
    // Pure garbage.
    for (int i = 0; i < 2000; ++i) {
        bytes g(rng() % 100);
        for (auto& c : g)
            c = static_cast<uint8_t>(rng() % 2 ? rng() % 3 : rng());
        (void)convert_legacy_message_set(g, {.max_decompressed = kSmallLimit});
    }
}

}  // namespace
}  // namespace rill::protocol
