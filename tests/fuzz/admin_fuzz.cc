// Fuzz target: the JSON bodies of the admin HTTP routes (admin/v3_bodies.h): the body as sent,
// parsed as each route that takes one parses it. No input may throw (an exception escaping
// here aborts the run), crash or recurse without bound. Checks: a produce key or value that
// parses survives the records browser's encoding (encode_record_data) and decodes back to the
// same bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "admin/encoding.h"
#include "admin/v3_bodies.h"
#include "fuzz_check.h"

using namespace rill;
using namespace rill::admin;

namespace {

void check_data_roundtrip(const std::optional<protocol::bytes>& data) {
    std::optional<protocol::bytes_view> view;
    if (data) view = protocol::bytes_view(*data);
    const json encoded = encode_record_data(view);
    auto back = decode_produce_data(&encoded, "value");
    FUZZ_CHECK(back.has_value(), "encode_record_data output does not decode: " + encoded.dump());
    FUZZ_CHECK(*back == data, "record data changes through encode/decode");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto body = parse_json_object(text);
    if (!body) {
        FUZZ_CHECK(body.error().status == 400, "a refused body is not a 400");
        return 0;
    }
    FUZZ_CHECK(body->is_object(), "parse_json_object returned a non-object");

    if (auto t = parse_create_topic(*body)) {
        FUZZ_CHECK(body->at("topic_name").get<std::string>() == t->name, "topic name changed");
    } else {
        FUZZ_CHECK(t.error().status == 400, "create topic refusal is not a 400");
    }
    if (auto a = parse_alter_configs(*body)) {
        FUZZ_CHECK(a->ops.size() == body->at("data").size(), "config ops lost");
    } else {
        FUZZ_CHECK(a.error().status == 400, "alter configs refusal is not a 400");
    }
    if (auto p = parse_produce(*body)) {
        check_data_roundtrip(p->key);
        check_data_roundtrip(p->value);
        if (p->partition_id) FUZZ_CHECK(!p->partition_text.empty(), "no partition text");
    } else {
        FUZZ_CHECK(p.error().status == 400, "produce refusal is not a 400");
    }
    // Whatever the body is, serializing it (as error messages and config values do) is bounded.
    (void)body->dump();
    return 0;
}
