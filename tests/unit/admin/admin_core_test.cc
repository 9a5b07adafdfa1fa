// The admin endpoint's pure pieces: target parsing, routing, encodings, Prometheus text.
#include <gtest/gtest.h>

#include "admin/encoding.h"
#include "admin/http.h"
#include "admin/prometheus.h"

namespace rill::admin {
namespace {

boost::asio::awaitable<response> ok(request&) {
    co_return response::text("ok", "text/plain");
}

TEST(AdminTarget, SplitsPathAndDecodesQuery) {
    auto t = parse_target("/v1/config/log_level/broker?level=debug&expires=60&flag&x=a%20b+c");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->path, "/v1/config/log_level/broker");
    EXPECT_EQ(t->query.at("level"), "debug");
    EXPECT_EQ(t->query.at("expires"), "60");
    EXPECT_EQ(t->query.at("flag"), "");
    EXPECT_EQ(t->query.at("x"), "a b c");
}

TEST(AdminTarget, RejectsBadEscapesAndRelativePaths) {
    EXPECT_FALSE(parse_target("/topics/%zz"));
    EXPECT_FALSE(parse_target("/topics/%4"));
    EXPECT_FALSE(parse_target("topics"));
    EXPECT_FALSE(parse_target(""));
    auto t = parse_target("/topics/a%2Eb");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->path, "/topics/a.b");
}

TEST(AdminRouter, MatchesParamsMethodsAndRoot) {
    router r;
    r.add("GET", "/", ok);
    r.add("GET", "/v3/clusters/{cluster_id}/topics/{topic}", ok);
    r.add("DELETE", "/v3/clusters/{cluster_id}/topics/{topic}", ok, true);
    r.add("POST", "/v3/clusters/{cluster_id}/topics/{topic}/configs:alter", ok, true);

    auto m = r.find("GET", "/v3/clusters/c1/topics/orders");
    ASSERT_TRUE(m.r);
    EXPECT_EQ(m.params.at("cluster_id"), "c1");
    EXPECT_EQ(m.params.at("topic"), "orders");
    EXPECT_FALSE(m.r->mutating);

    m = r.find("DELETE", "/v3/clusters/c1/topics/orders");
    ASSERT_TRUE(m.r);
    EXPECT_TRUE(m.r->mutating);

    m = r.find("PUT", "/v3/clusters/c1/topics/orders");
    EXPECT_FALSE(m.r);
    EXPECT_TRUE(m.method_mismatch);

    EXPECT_TRUE(r.find("POST", "/v3/clusters/c1/topics/t/configs:alter").r);
    EXPECT_TRUE(r.find("GET", "/").r);
    EXPECT_FALSE(r.find("GET", "/v3/clusters/c1/topics/").r);  // empty segment
    EXPECT_FALSE(r.find("GET", "/v3/clusters/c1/topics/a/b").r);
    auto none = r.find("GET", "/nope");
    EXPECT_FALSE(none.r);
    EXPECT_FALSE(none.method_mismatch);
}

TEST(AdminErrors, ConfluentShape) {
    auto r = error_response(404, "Topic 'x' does not exist");
    EXPECT_EQ(r.status, 404);
    auto j = json::parse(r.body);
    EXPECT_EQ(j["error_code"], 40401);
    EXPECT_EQ(j["message"], "Topic 'x' does not exist");
    EXPECT_EQ(j["code"], 404);
    EXPECT_EQ(json::parse(error_response(401, "no", 40101).body)["error_code"], 40101);
}

TEST(AdminEncoding, Base64RoundTrip) {
    for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
        protocol::bytes b(s.begin(), s.end());
        auto enc = base64_encode(b);
        auto dec = base64_decode(enc);
        ASSERT_TRUE(dec) << enc;
        EXPECT_EQ(*dec, b);
    }
    EXPECT_EQ(base64_encode(protocol::bytes{'f', 'o', 'o', 'b'}), "Zm9vYg==");
    EXPECT_FALSE(base64_decode("Zm9v!"));
    EXPECT_FALSE(base64_decode("Z"));
}

TEST(AdminEncoding, Utf8Validation) {
    auto v = [](std::string s) {
        return valid_utf8(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
    };
    EXPECT_TRUE(v("hello"));
    EXPECT_TRUE(v("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"));
    EXPECT_FALSE(v("\xc3"));          // truncated
    EXPECT_FALSE(v("\xc0\xaf"));      // overlong
    EXPECT_FALSE(v("\xed\xa0\x80"));  // surrogate
    EXPECT_FALSE(v("\xff"));
}

TEST(AdminEncoding, Murmur2MatchesKafka) {
    // Values from Kafka's UtilsTest.testMurmur2.
    auto h = [](std::string s) {
        return murmur2(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
    };
    EXPECT_EQ(h("21"), -973932308);
    EXPECT_EQ(h("foobar"), -790332482);
    EXPECT_EQ(h("a-little-bit-long-string"), -985981536);
    EXPECT_EQ(h("a-little-bit-longer-string"), -1486304829);
    EXPECT_EQ(h("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
    EXPECT_EQ(h(std::string{'a', 'b', 'c'}), 479470107);
}

TEST(AdminEncoding, ProduceData) {
    auto j = json::parse(R"({"type":"BINARY","data":"aGVsbG8="})");
    auto r = decode_produce_data(&j, "value");
    ASSERT_TRUE(r);
    EXPECT_EQ(std::string(r->value().begin(), r->value().end()), "hello");

    j = json::parse(R"({"type":"JSON","data":{"a":1}})");
    r = decode_produce_data(&j, "value");
    ASSERT_TRUE(r);
    EXPECT_EQ(std::string(r->value().begin(), r->value().end()), R"({"a":1})");

    j = json::parse(R"({"type":"STRING","data":"x"})");
    EXPECT_TRUE(decode_produce_data(&j, "key"));
    EXPECT_FALSE(decode_produce_data(nullptr, "key")->has_value());

    j = json::parse(R"({"type":"AVRO","data":"x"})");
    EXPECT_FALSE(decode_produce_data(&j, "key"));
    j = json::parse(R"({"type":"BINARY","data":"***"})");
    EXPECT_FALSE(decode_produce_data(&j, "key"));
    j = json::parse(R"("plain")");
    EXPECT_FALSE(decode_produce_data(&j, "key"));
}

TEST(AdminEncoding, RecordData) {
    protocol::bytes text{'h', 'i'};
    auto j = encode_record_data(protocol::bytes_view(text));
    EXPECT_EQ(j["type"], "STRING");
    EXPECT_EQ(j["data"], "hi");
    protocol::bytes bin{0xff, 0x00};
    j = encode_record_data(protocol::bytes_view(bin));
    EXPECT_EQ(j["type"], "BINARY");
    EXPECT_EQ(j["data"], "/wA=");
    EXPECT_TRUE(encode_record_data(std::nullopt).is_null());
}

TEST(AdminPrometheus, FamiliesSamplesAndEscaping) {
    prom_writer w;
    w.family("kafka_server_brokertopicmetrics_messagesin_total", "counter", "Records\nin.");
    w.sample("kafka_server_brokertopicmetrics_messagesin_total", {}, uint64_t{3});
    w.sample("kafka_server_brokertopicmetrics_messagesin_total", {{"topic", "a\"b\\c\nd"}},
             uint64_t{2});
    w.family("x_seconds", "gauge", "x");
    w.sample("x_seconds", {{"le", "+Inf"}}, 1.5);
    w.sample("x_seconds", {}, int64_t{-1});
    EXPECT_EQ(w.text(),
              "# HELP kafka_server_brokertopicmetrics_messagesin_total Records\\nin.\n"
              "# TYPE kafka_server_brokertopicmetrics_messagesin_total counter\n"
              "kafka_server_brokertopicmetrics_messagesin_total 3\n"
              "kafka_server_brokertopicmetrics_messagesin_total{topic=\"a\\\"b\\\\c\\nd\"} 2\n"
              "# HELP x_seconds x\n"
              "# TYPE x_seconds gauge\n"
              "x_seconds{le=\"+Inf\"} 1.5\n"
              "x_seconds -1\n");
    EXPECT_EQ(format_value(1.0 / 0.0), "+Inf");
    EXPECT_EQ(format_value(0.5), "0.5");
}

}  // namespace
}  // namespace rill::admin
