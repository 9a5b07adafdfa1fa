#include "protocol/frame.h"

#include <gtest/gtest.h>

#include "protocol/generated/api.h"
#include "protocol/generated/api_versions.h"
#include "protocol/generated/error_code.h"
#include "protocol/generated/metadata.h"

namespace rill::protocol {
namespace {

using messages::find_api;

TEST(api_table, header_versions) {
    const auto* produce = find_api(0);
    ASSERT_NE(produce, nullptr);
    EXPECT_EQ(produce->name, "Produce");
    EXPECT_EQ(produce->request_header_version(8), 1);
    EXPECT_EQ(produce->request_header_version(9), 2);
    EXPECT_EQ(produce->response_header_version(8), 0);
    EXPECT_EQ(produce->response_header_version(9), 1);

    const auto* api_versions = find_api(18);
    ASSERT_NE(api_versions, nullptr);
    EXPECT_EQ(api_versions->first_flexible_version, 3);
    EXPECT_EQ(api_versions->request_header_version(3), 2);
    EXPECT_EQ(api_versions->response_header_version(3), 0);  // always v0

    const auto* shutdown = find_api(7);
    ASSERT_NE(shutdown, nullptr);
    EXPECT_EQ(shutdown->request_header_version(0), 0);
    EXPECT_EQ(shutdown->request_header_version(1), 1);

    const auto* offset_delete = find_api(47);  // never flexible
    ASSERT_NE(offset_delete, nullptr);
    EXPECT_EQ(offset_delete->first_flexible_version, -1);
    EXPECT_EQ(offset_delete->request_header_version(0), 1);

    EXPECT_EQ(find_api(-1), nullptr);
    EXPECT_EQ(find_api(1000), nullptr);
    EXPECT_EQ(find_api(88), nullptr);
}

TEST(error_codes, names_and_retriable) {
    EXPECT_EQ(static_cast<int16_t>(error_code::none), 0);
    EXPECT_EQ(static_cast<int16_t>(error_code::unknown_server_error), -1);
    EXPECT_EQ(static_cast<int16_t>(error_code::offset_out_of_range), 1);
    EXPECT_EQ(static_cast<int16_t>(error_code::unsupported_version), 35);
    EXPECT_EQ(error_name(error_code::not_leader_or_follower), "NOT_LEADER_OR_FOLLOWER");
    EXPECT_TRUE(error_retriable(error_code::not_leader_or_follower));
    EXPECT_FALSE(error_retriable(error_code::unsupported_version));
    EXPECT_FALSE(error_message(error_code::corrupt_message).empty());
    EXPECT_EQ(error_name(static_cast<error_code>(-100)), "UNKNOWN");
    EXPECT_EQ(error_name(static_cast<error_code>(30000)), "UNKNOWN");
}

bytes request_bytes(int16_t key, int16_t version, int32_t correlation, int16_t header_version,
                    const std::optional<std::string>& client_id) {
    writer w;
    encode_request_header(w, key, version, correlation, client_id, header_version);
    return w.take();
}

TEST(frame, request_header_v1) {
    // Metadata v1: key 3, version 1, correlation 7, client "ab".
    const bytes expected = {0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00,
                            0x07, 0x00, 0x02, 'a',  'b',  0xaa /* body */};
    reader r(expected);
    request_header_info h;
    ASSERT_EQ(decode_request_header(r, h), header_status::ok);
    EXPECT_EQ(h.api_key, 3);
    EXPECT_EQ(h.api_version, 1);
    EXPECT_EQ(h.correlation_id, 7);
    EXPECT_EQ(h.client_id, "ab");
    EXPECT_EQ(h.header_version, 1);
    EXPECT_EQ(r.remaining(), 1u);
    EXPECT_EQ(request_bytes(3, 1, 7, 1, "ab"), bytes(expected.begin(), expected.end() - 1));
}

TEST(frame, request_header_v2_keeps_int16_client_id) {
    // Metadata v9 (flexible): client id keeps its int16 length; then an empty tag section.
    const bytes expected = {0x00, 0x03, 0x00, 0x09, 0x00, 0x00, 0x01, 0x00, 0xff, 0xff, 0x00};
    reader r(expected);
    request_header_info h;
    ASSERT_EQ(decode_request_header(r, h), header_status::ok);
    EXPECT_EQ(h.correlation_id, 256);
    EXPECT_EQ(h.client_id, std::nullopt);
    EXPECT_EQ(h.header_version, 2);
    EXPECT_EQ(r.remaining(), 0u);
    EXPECT_EQ(request_bytes(3, 9, 256, 2, std::nullopt), expected);
}

TEST(frame, request_header_v0_for_controlled_shutdown_v0) {
    const bytes expected = {0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x01};
    reader r(expected);
    request_header_info h;
    ASSERT_EQ(decode_request_header(r, h), header_status::ok);
    EXPECT_EQ(h.header_version, 0);
    EXPECT_EQ(h.client_id, std::nullopt);
    EXPECT_EQ(r.remaining(), 4u);  // the body: broker id 1
}

TEST(frame, unknown_api_and_unsupported_version_detected_before_body) {
    {
        const bytes b = {0x03, 0xe7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09};  // key 999
        reader r(b);
        request_header_info h;
        EXPECT_EQ(decode_request_header(r, h), header_status::unknown_api);
        EXPECT_EQ(h.api_key, 999);
        EXPECT_EQ(h.correlation_id, 9);
    }
    {
        // ApiVersions v99 with a v2 header (client id "c", empty tags).
        const bytes b = {0x00, 0x12, 0x00, 0x63, 0x00, 0x00, 0x00,
                         0x0a, 0x00, 0x01, 'c',  0x00, 0x00};
        reader r(b);
        request_header_info h;
        EXPECT_EQ(decode_request_header(r, h), header_status::unsupported_version);
        EXPECT_EQ(h.api_key, 18);
        EXPECT_EQ(h.api_version, 99);
        EXPECT_EQ(h.correlation_id, 10);
        EXPECT_EQ(h.client_id, "c");
    }
}

TEST(frame, truncated_headers_are_malformed) {
    const bytes full = request_bytes(3, 9, 1, 2, "client");
    for (size_t n = 0; n < full.size(); ++n) {
        const bytes prefix(full.begin(), full.begin() + static_cast<ptrdiff_t>(n));
        reader r(prefix);
        request_header_info h;
        EXPECT_EQ(decode_request_header(r, h), header_status::malformed) << n;
    }
}

TEST(frame, response_frame_v0_and_v1) {
    messages::metadata_response body;
    body.throttle_time_ms = 5;
    {
        writer w;
        encode_response_frame(w, 42, 1, body);  // Metadata v1: response header v0
        const bytes expected = {
            0x00, 0x00, 0x00, 0x10,  // frame size 16
            0x00, 0x00, 0x00, 0x2a,  // correlation id 42
            0x00, 0x00, 0x00, 0x00,  // brokers: 0 entries
            0xff, 0xff, 0xff, 0xff,  // controller_id -1 (default)
            0x00, 0x00, 0x00, 0x00,  // topics: 0 entries (throttle and cluster id are v2+/v3+)
        };
        EXPECT_EQ(w.buffer(), expected);
    }
    {
        writer w;
        encode_response_frame(w, 42, 9, body);  // v9: header v1 (tag section)
        EXPECT_EQ(w.size(), 4u + 5u + body.encoded_size(9));
        EXPECT_EQ(decode_frame_size(w.buffer().data()), static_cast<int32_t>(w.size() - 4));
        EXPECT_EQ(w.buffer()[8], 0x00);  // empty header tags
    }
    {
        messages::api_versions_response av;
        writer w;
        encode_response_frame(w, 1, 3, av);  // ApiVersions v3: still header v0
        EXPECT_EQ(w.size(), 4u + 4u + av.encoded_size(3));
    }
}

TEST(frame, frame_size_counts_spliced_regions) {
    writer w;
    const frame_mark m = begin_frame(w);
    w.write_records(record_data::from_regions({file_region{3, 0, 1000, nullptr}}), false);
    end_frame(w, m);
    EXPECT_EQ(decode_frame_size(w.buffer().data()), 1004);
}

}  // namespace
}  // namespace rill::protocol
