// Robustness of the generated decoders: every truncation prefix of a valid encoding must fail
// cleanly, and random byte mutations must never crash or read out of bounds (run under
// ASan/UBSan in CI). Deterministic: fixed seeds.
#include <gtest/gtest.h>

#include <string>

#include "protocol/generated/testing/populate.h"

namespace rill::protocol::messages {
namespace {

using testing::all_message_cases;

// Mutated decodes per message type, spread over its versions.
constexpr int mutations_per_type = 10000;

uint64_t mix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

TEST(fuzz_decode, truncated_inputs_fail) {
    for (const auto& c : all_message_cases()) {
        for (int16_t v = c.min_version; v <= c.max_version; ++v) {
            const auto full = c.roundtrip(v, 1234 + static_cast<uint64_t>(v)).first;
            ASSERT_TRUE(c.decode(full, v)) << c.name << " v" << v;
            for (size_t n = 0; n < full.size(); ++n) {
                // A fresh copy of exactly n bytes, so ASan sees any read past the prefix.
                const bytes prefix(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
                EXPECT_FALSE(c.decode(prefix, v)) << c.name << " v" << v << " decoded a " << n
                                                  << "-byte prefix of " << full.size();
            }
        }
    }
}

TEST(fuzz_decode, random_mutations_do_not_crash) {
    uint64_t rng = 42;
    size_t decoded_ok = 0, rejected = 0;
    for (const auto& c : all_message_cases()) {
        const int versions = c.max_version - c.min_version + 1;
        const int per_version = std::max(100, mutations_per_type / versions);
        for (int16_t v = c.min_version; v <= c.max_version; ++v) {
            const auto full = c.roundtrip(v, 99 + static_cast<uint64_t>(v)).first;
            if (full.empty()) continue;
            for (int i = 0; i < per_version; ++i) {
                bytes m = full;
                const int edits = 1 + static_cast<int>(mix(rng) % 3);
                for (int e = 0; e < edits; ++e) {
                    const uint64_t x = mix(rng);
                    const size_t pos = static_cast<size_t>(x % m.size());
                    switch ((x >> 32) % 4) {
                        case 0:
                            m[pos] = static_cast<uint8_t>(x >> 40);
                            break;
                        case 1:
                            m[pos] = 0xff;
                            break;  // huge or negative lengths
                        case 2:
                            m[pos] = 0x80;
                            break;  // unterminated varints
                        default:
                            m[pos] ^= static_cast<uint8_t>(1u << ((x >> 40) % 8));
                            break;
                    }
                }
                if (mix(rng) % 4 == 0) m.resize(static_cast<size_t>(mix(rng) % (m.size() + 1)));
                if (c.decode(m, v))
                    ++decoded_ok;
                else
                    ++rejected;
            }
        }
    }
    EXPECT_GT(rejected, 0u);
    EXPECT_GT(decoded_ok, 0u);
}

// What the fuzz targets check (tests/fuzz/fuzz_check.h), deterministically: a valid encoding
// redecodes to itself, and any mutation that decodes re-encodes consistently.
void expect_consistent(const testing::message_case& c, int16_t v,
                       const testing::roundtrip_result& res) {
    EXPECT_TRUE(res.decode_ok) << c.name << " v" << v;
    EXPECT_EQ(res.consumed, res.first.size()) << c.name << " v" << v;
    EXPECT_EQ(res.reported_size, res.first.size()) << c.name << " v" << v;
    EXPECT_TRUE(res.equal || (c.has_float64 && res.first == res.second))  // NaN != NaN
        << c.name << " v" << v;
    EXPECT_EQ(res.first, res.second) << c.name << " v" << v;
}

TEST(fuzz_decode, redecode_round_trips) {
    uint64_t rng = 7;
    size_t redecoded = 0;
    for (const auto& c : all_message_cases()) {
        for (int16_t v = c.min_version; v <= c.max_version; ++v) {
            const auto full = c.roundtrip(v, 555 + static_cast<uint64_t>(v)).first;
            const auto res = c.redecode(full, v);
            ASSERT_TRUE(res) << c.name << " v" << v;
            EXPECT_EQ(res->first, full) << c.name << " v" << v;
            expect_consistent(c, v, *res);
            for (int i = 0; i < 20 && !full.empty(); ++i) {
                bytes m = full;
                const uint64_t x = mix(rng);
                m[x % m.size()] ^= static_cast<uint8_t>(1u << ((x >> 32) % 8));
                if (auto r = c.redecode(m, v)) {
                    ++redecoded;
                    expect_consistent(c, v, *r);
                }
            }
        }
    }
    EXPECT_GT(redecoded, 0u);
}

TEST(fuzz_decode, hostile_array_lengths_are_refused) {
    // An int32 array count of 2^31-1 in a tiny frame: the decoder must fail without allocating.
    for (const auto& c : all_message_cases()) {
        for (int16_t v = c.min_version; v <= c.max_version; ++v) {
            for (size_t at = 0; at < 24; ++at) {
                bytes b(24, 0);
                for (size_t i = 0; i < 4 && at + i < b.size(); ++i)
                    b[at + i] = i == 0 ? 0x7f : 0xff;
                (void)c.decode(b, v);  // must not crash or allocate gigabytes
            }
        }
    }
}

}  // namespace
}  // namespace rill::protocol::messages
