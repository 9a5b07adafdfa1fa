// The admin routes' JSON bodies (admin/v3_bodies.h): fields of the wrong type are 400 answers,
// never exceptions (nlohmann's value() throws on a type mismatch, which answered 500 before);
// deep nesting is refused before parsing.
#include <gtest/gtest.h>

#include <string>

#include "admin/v3_bodies.h"

namespace rill::admin {
namespace {

json object(const std::string& text) {
    auto j = parse_json_object(text);
    EXPECT_TRUE(j) << text;
    return j ? *j : json::object();
}

TEST(AdminBodies, ParsesObjectsAndRefusesOtherBodies) {
    EXPECT_TRUE(parse_json_object(R"({"a": 1})"));
    for (const char* bad : {"", "[1]", "3", "{", R"({"a": })"}) {
        auto j = parse_json_object(bad);
        ASSERT_FALSE(j) << bad;
        EXPECT_EQ(j.error().status, 400);
    }
}

TEST(AdminBodies, RefusesDeepNestingBeforeParsing) {
    const std::string ok =
        "{\"v\":" + std::string(kMaxJsonDepth - 1, '[') + std::string(kMaxJsonDepth - 1, ']') + "}";
    EXPECT_TRUE(parse_json_object(ok));
    const std::string deep = "{\"v\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
    auto j = parse_json_object(deep);
    ASSERT_FALSE(j);
    EXPECT_EQ(j.error().status, 400);
    EXPECT_NE(j.error().body.find("nests deeper"), std::string::npos);
    // Brackets inside strings do not count.
    EXPECT_TRUE(parse_json_object("{\"v\":\"" + std::string(1000, '[') + "\"}"));
}

TEST(AdminBodies, CreateTopic) {
    auto t = parse_create_topic(object(
        R"({"topic_name": "t", "partitions_count": 3, "replication_factor": 1,
            "configs": [{"name": "cleanup.policy", "value": "compact"},
                        {"name": "retention.ms", "value": 1000}, {"name": "x", "value": null}],
            "validate_only": true})"));
    ASSERT_TRUE(t);
    EXPECT_EQ(t->name, "t");
    EXPECT_EQ(t->partitions, 3);
    EXPECT_EQ(t->replication_factor, 1);
    ASSERT_EQ(t->configs.size(), 2u);
    EXPECT_EQ(t->configs[1], (std::pair<std::string, std::string>("retention.ms", "1000")));
    EXPECT_TRUE(t->validate_only);
    auto d = parse_create_topic(object(R"({"topic_name": "t"})"));
    ASSERT_TRUE(d);
    EXPECT_FALSE(d->partitions);
    EXPECT_FALSE(d->validate_only);
}

TEST(AdminBodies, WrongTypesAreBadRequests) {
    for (const char* body : {
             R"({"topic_name": "t", "validate_only": "yes"})",
             R"({"topic_name": "t", "partitions_count": 2.5})",
             R"({"topic_name": "t", "partitions_count": 18446744073709551615})",
             R"({"topic_name": "t", "replication_factor": 40000})",
             R"({"topic_name": "t", "configs": {"a": 1}})",
             R"({"topic_name": "t", "configs": [{"name": 7}]})",
             R"({"topic_name": 1})",
         }) {
        auto t = parse_create_topic(object(body));
        ASSERT_FALSE(t) << body;
        EXPECT_EQ(t.error().status, 400) << body;
    }
    for (const char* body : {
             R"({"data": [{"name": "a", "operation": 1}]})",
             R"({"data": [{"name": "a", "value": "1"}], "validate_only": 1})",
             R"({"data": [{"name": "a"}]})",
             R"({"data": [{"name": "a", "operation": "MERGE", "value": "1"}]})",
             R"({"data": {}})",
         }) {
        auto a = parse_alter_configs(object(body));
        ASSERT_FALSE(a) << body;
        EXPECT_EQ(a.error().status, 400) << body;
    }
    for (const char* body : {
             R"({"timestamp": "now"})",
             R"({"timestamp": 18446744073709551615})",
             R"({"headers": [{"name": "h", "value": 5}]})",
             R"({"headers": [{"name": "h", "value": "!!"}]})",
             R"({"key": {"type": "BINARY", "data": "%"}})",
         }) {
        auto p = parse_produce(object(body));
        ASSERT_FALSE(p) << body;
        EXPECT_EQ(p.error().status, 400) << body;
    }
}

TEST(AdminBodies, ConfigOps) {
    auto a = parse_alter_configs(object(
        R"({"data": [{"name": "a", "value": "1"}, {"name": "b", "operation": "delete"},
                     {"name": "c", "value": true, "operation": "SET"}]})"));
    ASSERT_TRUE(a);
    ASSERT_EQ(a->ops.size(), 3u);
    EXPECT_EQ(a->ops[0].value, "1");
    EXPECT_TRUE(a->ops[1].remove);
    EXPECT_EQ(a->ops[2].value, "true");
    EXPECT_FALSE(a->validate_only);
}

TEST(AdminBodies, Produce) {
    auto p = parse_produce(object(
        R"({"key": {"type": "STRING", "data": "k"}, "value": {"type": "JSON", "data": {"a": 1}},
            "headers": [{"name": "h", "value": "aGk="}, {"name": "n"}],
            "partition_id": 2, "timestamp": 1700000000000})"));
    ASSERT_TRUE(p);
    EXPECT_EQ(*p->key, protocol::bytes({'k'}));
    EXPECT_EQ(std::string(p->value->begin(), p->value->end()), R"({"a":1})");
    ASSERT_EQ(p->headers.size(), 2u);
    EXPECT_EQ(*p->headers[0].value, protocol::bytes({'h', 'i'}));
    EXPECT_FALSE(p->headers[1].value);
    EXPECT_EQ(p->partition_id, 2);
    EXPECT_EQ(p->timestamp, 1700000000000);
    // A partition that is not an integer becomes -1 (the route's 404), named as given.
    auto q = parse_produce(object(R"({"partition_id": "x"})"));
    ASSERT_TRUE(q);
    EXPECT_EQ(q->partition_id, -1);
    EXPECT_EQ(q->partition_text, "\"x\"");
    EXPECT_FALSE(q->key);
    EXPECT_FALSE(q->timestamp);
}

}  // namespace
}  // namespace rill::admin
