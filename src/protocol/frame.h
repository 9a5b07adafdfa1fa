// Kafka request/response framing around the generated message codecs.
//
// A frame on the wire is an int32 big-endian size followed by that many bytes:
//
//   request:  size | api_key int16 | api_version int16 | correlation_id int32
//                  | client_id (nullable int16-length string; header v1+)
//                  | tagged fields (header v2) | body
//   response: size | correlation_id int32 | tagged fields (header v1) | body
//
// Header versions follow the API version (messages::api_info::request_header_version /
// response_header_version): request v2 when the API version is flexible, else v1 (v0 only for
// ControlledShutdown v0); response v1 when flexible, else v0 (ApiVersions always v0).
//
// Typical broker use:
//
//   reader r(frame_without_size_prefix, keepalive);
//   request_header_info h;
//   switch (decode_request_header(r, h)) {
//       case header_status::ok: break;                   // r now points at the body
//       case header_status::unsupported_version: ...;   // answer UNSUPPORTED_VERSION
//       case header_status::unknown_api: ...;           // close the connection
//       case header_status::malformed: ...;             // close the connection
//   }
//   ... decode the body with h.api_version (see protocol/generated/visit_api.h), handle it ...
//   writer out;
//   encode_response_frame(out, h.correlation_id, h.api_version, response);
//
// Thread-safety: free functions over caller-owned values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "protocol/generated/api.h"
#include "protocol/wire.h"

namespace rill::protocol {

// Size of the int32 length prefix in front of every frame.
inline constexpr size_t frame_size_prefix = 4;

// The frame length announced by the 4 bytes at p (may be negative: reject such frames).
int32_t decode_frame_size(const uint8_t* p);

struct request_header_info {
    int16_t api_key = 0;
    int16_t api_version = 0;
    int32_t correlation_id = 0;
    std::optional<std::string> client_id;
    int16_t header_version = 0;               // 0, 1 or 2
    const messages::api_info* api = nullptr;  // nullptr when api_key is unknown
};

enum class header_status {
    ok,                   // header decoded; the reader is at the body
    malformed,            // too short or invalid; only fields read before the fault are set
    unknown_api,          // api_key not in the table; api_key/api_version/correlation_id set
    unsupported_version,  // api known, version outside [min, max]; key/version/correlation_id
                          // set, and client_id when it could be read
};

// Decodes the request header at the start of `r` (the frame without its size prefix). Unknown
// API keys and versions are reported before any body decoding.
header_status decode_request_header(reader& r, request_header_info& out);

// Writes a request header of `header_version` (0, 1 or 2).
void encode_request_header(writer& w, int16_t api_key, int16_t api_version, int32_t correlation_id,
                           const std::optional<std::string>& client_id, int16_t header_version);

// Writes a response header of `header_version` (0 or 1).
void encode_response_header(writer& w, int32_t correlation_id, int16_t header_version);
size_t response_header_size(int16_t header_version);

// Size-prefixed frames: begin_frame() reserves the prefix, end_frame() fills it in with the wire
// bytes written since (spliced file regions included).
struct frame_mark {
    size_t prefix_pos;  // buffer offset of the size prefix
    size_t wire_start;  // writer.wire_size() before the prefix
};
frame_mark begin_frame(writer& w);
void end_frame(writer& w, frame_mark m);

// Appends a complete response frame (size + header + body) for `Response` at `version`.
template <typename Response>
void encode_response_frame(writer& w, int32_t correlation_id, int16_t version,
                           const Response& body) {
    const frame_mark m = begin_frame(w);
    encode_response_header(w, correlation_id,
                           messages::response_header_version(Response::api_key, version,
                                                             Response::first_flexible_version));
    body.encode(w, version);
    end_frame(w, m);
}

// Appends a complete request frame (size + header + body); for clients and tests.
template <typename Request>
void encode_request_frame(writer& w, int32_t correlation_id,
                          const std::optional<std::string>& client_id, int16_t version,
                          const Request& body) {
    const frame_mark m = begin_frame(w);
    encode_request_header(w, Request::api_key, version, correlation_id, client_id,
                          messages::request_header_version(Request::api_key, version,
                                                           Request::first_flexible_version));
    body.encode(w, version);
    end_frame(w, m);
}

}  // namespace rill::protocol
