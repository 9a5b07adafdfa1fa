#include "protocol/frame.h"

#include "protocol/generated/request_header.h"

namespace rill::protocol {

int32_t decode_frame_size(const uint8_t* p) {
    return static_cast<int32_t>((uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
                                (uint32_t{p[2]} << 8) | uint32_t{p[3]});
}

header_status decode_request_header(reader& r, request_header_info& out) {
    out = {};
    // api_key, api_version and correlation_id sit at the same place in every header version.
    reader peek = r;
    out.api_key = peek.read_int16();
    out.api_version = peek.read_int16();
    out.correlation_id = peek.read_int32();
    if (!peek.ok()) {
        r.fail();
        return header_status::malformed;
    }
    out.api = messages::find_api(out.api_key);
    if (!out.api) return header_status::unknown_api;

    const bool supported = out.api->supports(out.api_version);
    if (supported) {
        out.header_version = out.api->request_header_version(out.api_version);
    } else {
        // A client probing a newer version still sends a header we can read up to client_id.
        out.header_version = out.api_version == 0 && out.api_key == 7 ? 0 : 1;
    }
    messages::request_header h;
    h.decode(r, out.header_version);
    if (!r.ok()) return supported ? header_status::malformed : header_status::unsupported_version;
    out.client_id = std::move(h.client_id);
    return supported ? header_status::ok : header_status::unsupported_version;
}

void encode_request_header(writer& w, int16_t api_key, int16_t api_version, int32_t correlation_id,
                           const std::optional<std::string>& client_id, int16_t header_version) {
    messages::request_header h;
    h.request_api_key = api_key;
    h.request_api_version = api_version;
    h.correlation_id = correlation_id;
    h.client_id = client_id;
    h.encode(w, header_version);
}

void encode_response_header(writer& w, int32_t correlation_id, int16_t header_version) {
    w.write_int32(correlation_id);
    if (header_version >= 1) w.write_uvarint(0);  // empty tagged-field section
}

size_t response_header_size(int16_t header_version) {
    return header_version >= 1 ? 5 : 4;
}

frame_mark begin_frame(writer& w) {
    frame_mark m{w.size(), w.wire_size()};
    w.write_int32(0);
    return m;
}

void end_frame(writer& w, frame_mark m) {
    w.patch_int32(m.prefix_pos,
                  static_cast<int32_t>(w.wire_size() - m.wire_start - frame_size_prefix));
}

}  // namespace rill::protocol
