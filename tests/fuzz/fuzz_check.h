// Shared helpers of the libFuzzer targets: a check that reports and aborts (libFuzzer then saves
// the input as a crash-* reproducer), and the round-trip checks of the generated codecs.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "protocol/generated/testing/populate.h"

// Fails the run when `cond` is false: prints where and what, then aborts.
#define FUZZ_CHECK(cond, what)                                                                \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            std::fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__, __LINE__, #cond, \
                         std::string(what).c_str());                                          \
            std::abort();                                                                     \
        }                                                                                     \
    } while (0)

namespace rill::fuzz {

// A decoded message re-encodes consistently: its encoding decodes again (consuming exactly that
// encoding) into an equal message that encodes to the same bytes, and encoded_size() is the
// encoding's length.
inline void check_redecode(const protocol::messages::testing::message_case& c, int16_t version,
                           const protocol::messages::testing::roundtrip_result& res) {
    const std::string what = std::string(c.name) + " v" + std::to_string(version);
    FUZZ_CHECK(res.decode_ok, what + ": its own encoding does not decode");
    FUZZ_CHECK(res.consumed == res.first.size(), what + ": decode left bytes of its encoding");
    FUZZ_CHECK(res.reported_size == res.first.size(), what + ": encoded_size() is wrong");
    // NaN != NaN: a message with a float64 field may hold one; its bytes must still agree.
    FUZZ_CHECK(res.equal || (c.has_float64 && res.first == res.second),
               what + ": the re-decoded message differs");
    FUZZ_CHECK(res.first == res.second, what + ": the second encoding differs");
}

}  // namespace rill::fuzz
