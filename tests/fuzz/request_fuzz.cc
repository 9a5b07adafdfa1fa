// Fuzz target: one request frame as the broker reads it (without the size prefix): the request
// header, then the body of that API and version. Whatever decodes must re-encode consistently
// (check_redecode); nothing may crash, read out of bounds or allocate for a lying length.
// Seeds: request frames captured from the real clients of tests/compat (tests/fuzz/capture.py).
#include <cstddef>
#include <cstdint>
#include <map>

#include "fuzz_check.h"
#include "protocol/frame.h"

using namespace rill;
using protocol::messages::testing::all_message_cases;
using protocol::messages::testing::message_case;
using protocol::messages::testing::message_kind;

namespace {

const message_case* request_case(int16_t api_key) {
    static const auto by_key = [] {
        std::map<int16_t, const message_case*> m;
        for (const auto& c : all_message_cases())
            if (c.kind == message_kind::request) m[c.api_key] = &c;
        return m;
    }();
    auto it = by_key.find(api_key);
    return it == by_key.end() ? nullptr : it->second;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const protocol::bytes_view in(data, size);
    protocol::reader r(in);
    protocol::request_header_info h;
    if (protocol::decode_request_header(r, h) != protocol::header_status::ok) return 0;
    FUZZ_CHECK(h.api != nullptr, "ok header without an api");

    // The header re-encodes to one that decodes to the same values.
    protocol::writer w;
    protocol::encode_request_header(w, h.api_key, h.api_version, h.correlation_id, h.client_id,
                                    h.header_version);
    const protocol::bytes again = w.take();
    protocol::reader r2(again);
    protocol::request_header_info h2;
    FUZZ_CHECK(protocol::decode_request_header(r2, h2) == protocol::header_status::ok,
               "re-encoded header does not decode");
    FUZZ_CHECK(r2.remaining() == 0, "re-encoded header decodes short");
    FUZZ_CHECK(h2.api_key == h.api_key && h2.api_version == h.api_version &&
                   h2.correlation_id == h.correlation_id && h2.client_id == h.client_id &&
                   h2.header_version == h.header_version,
               "re-encoded header differs");

    const message_case* c = request_case(h.api_key);
    FUZZ_CHECK(c != nullptr, "no generated request for api " + std::to_string(h.api_key));
    FUZZ_CHECK(h.api_version >= c->min_version && h.api_version <= c->max_version,
               "header accepted a version the codec does not have");
    const protocol::bytes_view body = in.subspan(size - r.remaining());
    if (auto res = c->redecode(body, h.api_version)) fuzz::check_redecode(*c, h.api_version, *res);
    return 0;
}
