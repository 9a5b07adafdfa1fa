// CRC-32C: a portable byte-table implementation and an SSE4.2 one.
//
// The SSE4.2 path runs the crc32 instruction over three independent streams so that its 3-cycle
// latency is hidden (one instruction per cycle instead of one per three). A buffer is cut into
// chunks of three equal stripes a|b|c of `len` bytes; stripes b and c start from state 0, and the
// results are joined with the linearity of CRC:
//
//     crc(s, a|b|c) = Z(Z(crc(s, a)) ^ crc(0, b)) ^ crc(0, c)
//
// where Z is the linear operator "append `len` zero bytes" acting on the raw (uninverted) 32-bit
// state. Z is a 32x32 matrix over GF(2); we apply it with four 256-entry tables (one per byte of
// the state), computed at compile time for the two stripe lengths used.
#include "protocol/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define RILL_CRC32C_X86 1
#endif

namespace rill::protocol {
namespace {

constexpr uint32_t kPoly = 0x82f63b78;  // reflected Castagnoli polynomial

// Slicing-by-8 tables: kTables[k][b] is the raw state after byte b followed by k zero bytes.
constexpr std::array<std::array<uint32_t, 256>, 8> make_tables() {
    std::array<std::array<uint32_t, 256>, 8> t{};
    for (uint32_t i = 0; i < 256; ++i) {
        uint32_t c = i;
        for (int k = 0; k < 8; ++k)
            c = (c & 1) ? (c >> 1) ^ kPoly : c >> 1;
        t[0][i] = c;
    }
    for (size_t k = 1; k < 8; ++k)
        for (size_t i = 0; i < 256; ++i)
            t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
    return t;
}
constexpr auto kTables = make_tables();

// Raw state update (no pre/post inversion) over n bytes, eight bytes per step.
uint32_t raw_portable(uint32_t state, const uint8_t* p, size_t n) {
    const auto& t = kTables;
    while (n >= 8) {
        state = t[7][(p[0] ^ state) & 0xff] ^ t[6][(p[1] ^ (state >> 8)) & 0xff] ^
                t[5][(p[2] ^ (state >> 16)) & 0xff] ^ t[4][(p[3] ^ (state >> 24)) & 0xff] ^
                t[3][p[4]] ^ t[2][p[5]] ^ t[1][p[6]] ^ t[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--)
        state = t[0][(state ^ *p++) & 0xff] ^ (state >> 8);
    return state;
}

#ifdef RILL_CRC32C_X86

// Stripe lengths (bytes per stream) for the long and short chunk loops. Multiples of 8.
constexpr size_t kLongStripe = 4096;
constexpr size_t kShortStripe = 256;

// The operator "append n zero bytes" on the raw state, as four byte tables.
struct zero_shift {
    std::array<std::array<uint32_t, 256>, 4> t{};

    uint32_t apply(uint32_t s) const {
        return t[0][s & 0xff] ^ t[1][(s >> 8) & 0xff] ^ t[2][(s >> 16) & 0xff] ^ t[3][s >> 24];
    }
};

// 32x32 GF(2) matrix: column i is the image of the state with only bit i set.
using gf2_matrix = std::array<uint32_t, 32>;

constexpr uint32_t matrix_times(const gf2_matrix& m, uint32_t v) {
    uint32_t r = 0;
    for (int i = 0; v; ++i, v >>= 1)
        if (v & 1) r ^= m[static_cast<size_t>(i)];
    return r;
}

constexpr gf2_matrix matrix_square(const gf2_matrix& m) {
    gf2_matrix r{};
    for (size_t i = 0; i < 32; ++i)
        r[i] = matrix_times(m, m[i]);
    return r;
}

// The matrix of "append n zero bytes", by repeated squaring of the one-zero-bit operator.
constexpr gf2_matrix zeros_operator(size_t n) {
    gf2_matrix bit{};  // one zero bit: shift right, reduce by the polynomial when bit 0 falls out
    bit[0] = kPoly;
    for (size_t i = 1; i < 32; ++i)
        bit[i] = uint32_t{1} << (i - 1);
    gf2_matrix result{};
    for (size_t i = 0; i < 32; ++i)
        result[i] = uint32_t{1} << i;
    gf2_matrix power = bit;
    size_t bits = n * 8;
    while (bits) {
        if (bits & 1) {
            gf2_matrix r{};
            for (size_t i = 0; i < 32; ++i)
                r[i] = matrix_times(power, result[i]);
            result = r;
        }
        bits >>= 1;
        if (bits) power = matrix_square(power);
    }
    return result;
}

constexpr zero_shift make_shift(size_t n) {
    const gf2_matrix m = zeros_operator(n);
    zero_shift z{};
    for (size_t k = 0; k < 4; ++k)
        for (uint32_t b = 0; b < 256; ++b)
            z.t[k][b] = matrix_times(m, b << (8 * k));
    return z;
}

constexpr zero_shift kLongShift = make_shift(kLongStripe);
constexpr zero_shift kShortShift = make_shift(kShortStripe);

inline uint64_t load64(const uint8_t* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}

__attribute__((target("sse4.2"))) uint32_t raw_sse_single(uint32_t state, const uint8_t* p,
                                                          size_t n) {
    uint64_t s = state;
    while (n >= 8) {
        s = _mm_crc32_u64(s, load64(p));
        p += 8;
        n -= 8;
    }
    auto s32 = static_cast<uint32_t>(s);
    while (n--)
        s32 = _mm_crc32_u8(s32, *p++);
    return s32;
}

// Processes as many whole chunks of three `stripe`-byte stripes as fit in n. REQUIRES: stripe is
// a multiple of 8.
__attribute__((target("sse4.2"))) uint32_t raw_sse_triple(uint32_t state, const uint8_t*& p,
                                                          size_t& n, size_t stripe,
                                                          const zero_shift& shift) {
    while (n >= 3 * stripe) {
        uint64_t a = state, b = 0, c = 0;
        const uint8_t* pa = p;
        const uint8_t* pb = p + stripe;
        const uint8_t* pc = p + 2 * stripe;
        for (size_t i = 0; i < stripe; i += 8) {
            a = _mm_crc32_u64(a, load64(pa + i));
            b = _mm_crc32_u64(b, load64(pb + i));
            c = _mm_crc32_u64(c, load64(pc + i));
        }
        state = shift.apply(shift.apply(static_cast<uint32_t>(a)) ^ static_cast<uint32_t>(b)) ^
                static_cast<uint32_t>(c);
        p += 3 * stripe;
        n -= 3 * stripe;
    }
    return state;
}

__attribute__((target("sse4.2"))) uint32_t crc32c_sse(uint32_t crc, const uint8_t* p, size_t n) {
    uint32_t state = ~crc;
    state = raw_sse_triple(state, p, n, kLongStripe, kLongShift);
    state = raw_sse_triple(state, p, n, kShortStripe, kShortShift);
    return ~raw_sse_single(state, p, n);
}

const bool kHaveSse42 = __builtin_cpu_supports("sse4.2");

#endif  // RILL_CRC32C_X86

}  // namespace

uint32_t crc32c_portable(uint32_t crc, const void* data, size_t n) {
    return ~raw_portable(~crc, static_cast<const uint8_t*>(data), n);
}

bool crc32c_hardware_available() {
#ifdef RILL_CRC32C_X86
    return kHaveSse42;
#else
    return false;
#endif
}

uint32_t crc32c_hardware(uint32_t crc, const void* data, size_t n) {
#ifdef RILL_CRC32C_X86
    if (kHaveSse42) return crc32c_sse(crc, static_cast<const uint8_t*>(data), n);
#endif
    return crc32c_portable(crc, data, n);
}

uint32_t crc32c(uint32_t crc, const void* data, size_t n) {
#ifdef RILL_CRC32C_X86
    if (kHaveSse42) return crc32c_sse(crc, static_cast<const uint8_t*>(data), n);
#endif
    return crc32c_portable(crc, data, n);
}

}  // namespace rill::protocol
