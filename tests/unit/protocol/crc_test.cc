#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "protocol/crc32c.h"

namespace rill::protocol {
namespace {

struct known_answer {
    std::vector<uint8_t> data;
    uint32_t crc;
};

std::vector<known_answer> known_answers() {
    std::vector<known_answer> v;
    const std::string digits = "123456789";
    v.push_back({std::vector<uint8_t>(digits.begin(), digits.end()), 0xE3069283});
    v.push_back({std::vector<uint8_t>(32, 0x00), 0x8A9136AA});
    v.push_back({std::vector<uint8_t>(32, 0xFF), 0x62A8AB43});
    std::vector<uint8_t> ascending(32);
    for (size_t i = 0; i < 32; ++i)
        ascending[i] = static_cast<uint8_t>(i);
    v.push_back({ascending, 0x46DD794E});
    std::vector<uint8_t> descending(32);
    for (size_t i = 0; i < 32; ++i)
        descending[i] = static_cast<uint8_t>(31 - i);
    v.push_back({descending, 0x113FDB5C});
    v.push_back({{}, 0});
    return v;
}

TEST(crc32c, known_answers_portable) {
    for (const auto& ka : known_answers())
        EXPECT_EQ(crc32c_portable(0, ka.data.data(), ka.data.size()), ka.crc);
}

TEST(crc32c, known_answers_hardware) {
    for (const auto& ka : known_answers()) {
        EXPECT_EQ(crc32c_hardware(0, ka.data.data(), ka.data.size()), ka.crc);
        EXPECT_EQ(crc32c(0, ka.data.data(), ka.data.size()), ka.crc);
    }
}

TEST(crc32c, hardware_detected_on_x86) {
#if defined(__x86_64__)
    // Every x86-64 CPU this project targets has SSE4.2; if this fails the fast path is never used.
    EXPECT_TRUE(crc32c_hardware_available());
#endif
}

TEST(crc32c, incremental_equals_one_shot) {
    std::vector<uint8_t> buf(100000);
    std::mt19937 rng(7);
    for (auto& b : buf)
        b = static_cast<uint8_t>(rng());
    const uint32_t whole = crc32c(0, buf.data(), buf.size());
    for (size_t cut : {size_t{0}, size_t{1}, size_t{7}, size_t{767}, size_t{12289}, buf.size()}) {
        uint32_t c = crc32c(0, buf.data(), cut);
        c = crc32c(c, buf.data() + cut, buf.size() - cut);
        EXPECT_EQ(c, whole) << cut;
    }
}

TEST(crc32c, hardware_matches_portable_for_random_lengths_and_alignments) {
    std::mt19937 rng(12345);
    std::vector<uint8_t> buf(3 * 4096 * 3 + 1000);
    for (auto& b : buf)
        b = static_cast<uint8_t>(rng());
    // Exhaustive small lengths at every alignment, then random lengths that cross the stripe
    // boundaries of both chunk loops.
    for (size_t align = 0; align < 8; ++align)
        for (size_t len = 0; len <= 1600; ++len) {
            const uint8_t* p = buf.data() + align;
            ASSERT_EQ(crc32c_hardware(0, p, len), crc32c_portable(0, p, len))
                << "align " << align << " len " << len;
        }
    for (int i = 0; i < 400; ++i) {
        size_t align = rng() % 64;
        size_t len = rng() % (buf.size() - align);
        uint32_t seed = static_cast<uint32_t>(rng());
        const uint8_t* p = buf.data() + align;
        ASSERT_EQ(crc32c_hardware(seed, p, len), crc32c_portable(seed, p, len))
            << "align " << align << " len " << len;
    }
    for (size_t len : {size_t{3 * 4096}, size_t{3 * 4096 + 768}, size_t{2 * 3 * 4096 + 3 * 256 + 7},
                       size_t{768}, size_t{767}, size_t{769}}) {
        ASSERT_EQ(crc32c_hardware(0, buf.data(), len), crc32c_portable(0, buf.data(), len)) << len;
    }
}

TEST(crc32c, detects_single_bit_flips) {
    std::vector<uint8_t> buf(5000, 0x5a);
    const uint32_t good = crc32c(0, buf.data(), buf.size());
    for (size_t i = 0; i < buf.size(); i += 97) {
        buf[i] ^= 0x10;
        EXPECT_NE(crc32c(0, buf.data(), buf.size()), good);
        buf[i] ^= 0x10;
    }
}

}  // namespace
}  // namespace rill::protocol
