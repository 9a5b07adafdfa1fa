// visit_api: one switch-free dispatcher over every API key.
#include <gtest/gtest.h>

#include "protocol/frame.h"
#include "protocol/generated/visit_api.h"

namespace rill::protocol::messages {
namespace {

TEST(visit_api, every_key_reaches_its_types) {
    for (const auto& a : all_apis()) {
        bool called = false;
        const bool known = visit_api(a.key, [&]<typename Req, typename Resp>(
                                                std::type_identity<Req>, std::type_identity<Resp>) {
            called = true;
            EXPECT_EQ(Req::api_key, a.key);
            EXPECT_EQ(Resp::api_key, a.key);
            EXPECT_EQ(Req::min_version, a.min_version);
            EXPECT_EQ(Req::max_version, a.max_version);
            EXPECT_EQ(Req::first_flexible_version, a.first_flexible_version);
            // A default request survives a frame round trip at every version.
            for (int16_t v = a.min_version; v <= a.max_version; ++v) {
                writer w;
                encode_request_frame(w, 5, std::string("client"), v, Req{});
                reader r(bytes_view(w.buffer()).subspan(frame_size_prefix));
                request_header_info h;
                ASSERT_EQ(decode_request_header(r, h), header_status::ok) << a.name << v;
                EXPECT_EQ(h.api_key, a.key);
                EXPECT_EQ(h.api_version, v);
                EXPECT_EQ(h.header_version, a.request_header_version(v));
                EXPECT_EQ(h.client_id, a.key == 7 && v == 0 ? std::nullopt
                                                            : std::optional<std::string>("client"));
                Req req;
                req.decode(r, v);
                EXPECT_TRUE(r.ok()) << a.name << " v" << v;
                EXPECT_EQ(r.remaining(), 0u) << a.name << " v" << v;
                // (Not req == Req{}: a field that defaults to null but is not nullable in v
                // goes out as empty and comes back as an empty, non-null value.)
                writer again;
                req.encode(again, v);
                writer expected;
                Req{}.encode(expected, v);
                EXPECT_EQ(again.buffer(), expected.buffer()) << a.name << " v" << v;

                writer out;
                encode_response_frame(out, h.correlation_id, v, Resp{});
                EXPECT_EQ(out.size(), frame_size_prefix +
                                          response_header_size(a.response_header_version(v)) +
                                          Resp{}.encoded_size(v));
            }
        });
        EXPECT_TRUE(known);
        EXPECT_TRUE(called);
    }
    EXPECT_FALSE(visit_api(-1, [](auto, auto) { FAIL(); }));
    EXPECT_FALSE(visit_api(1000, [](auto, auto) { FAIL(); }));
}

}  // namespace
}  // namespace rill::protocol::messages
