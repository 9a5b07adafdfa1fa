// Fuzz target: every generated message type (requests, responses, headers, data and internal
// records) at every version. Input: 2 bytes choose the message type, 1 byte its version, the
// rest is the encoding to decode. Whatever decodes must re-encode consistently.
#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"

using namespace rill;
using protocol::messages::testing::all_message_cases;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    const auto cases = all_message_cases();
    const auto& c = cases[((size_t{data[0]} << 8) | data[1]) % cases.size()];
    const int versions = c.max_version - c.min_version + 1;
    const auto version = static_cast<int16_t>(c.min_version + data[2] % versions);
    if (auto res = c.redecode(protocol::bytes_view(data + 3, size - 3), version))
        fuzz::check_redecode(c, version, *res);
    return 0;
}
