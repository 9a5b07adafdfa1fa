// The znode payloads of the ZooKeeper store: round trips, Kafka's JSON shapes (the keys and
// value types Kafka's ZooKeeper-era brokers write and read) and malformed input. No server.
#include "cluster/zk_codecs.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "cluster/topic_rules.h"

namespace rill::cluster::zk_codec {
namespace {

using json = nlohmann::json;

protocol::uuid some_uuid() {
    protocol::uuid u;
    for (size_t i = 0; i < u.b.size(); ++i)
        u.b[i] = static_cast<uint8_t>(i * 17 + 3);
    return u;
}

TEST(ZkCodecs, Paths) {
    EXPECT_EQ(broker_path(3), "/brokers/ids/3");
    EXPECT_EQ(topic_path("t"), "/brokers/topics/t");
    EXPECT_EQ(partitions_path("t"), "/brokers/topics/t/partitions");
    EXPECT_EQ(partition_path("t", 7), "/brokers/topics/t/partitions/7");
    EXPECT_EQ(state_path("t", 7), "/brokers/topics/t/partitions/7/state");
    EXPECT_EQ(config_path("t"), "/config/topics/t");
    EXPECT_EQ(shutdown_path(2), "/rill/controlled_shutdown/2");
}

TEST(ZkCodecs, ClassifiesWatchedPaths) {
    using k = watched_path::kind;
    EXPECT_EQ(classify("/brokers/ids").what, k::broker_list);
    EXPECT_EQ(classify("/brokers/topics").what, k::topic_list);
    auto t = classify("/brokers/topics/orders");
    EXPECT_EQ(t.what, k::topic);
    EXPECT_EQ(t.topic, "orders");
    auto st = classify("/brokers/topics/orders/partitions/12/state");
    EXPECT_EQ(st.what, k::state);
    EXPECT_EQ(st.topic, "orders");
    EXPECT_EQ(st.partition, 12);
    EXPECT_EQ(classify("/brokers/topics/orders/partitions").what, k::other);
    EXPECT_EQ(classify("/brokers/topics/orders/partitions/12").what, k::other);
    EXPECT_EQ(classify("/brokers/topics/orders/partitions/x/state").what, k::other);
    EXPECT_EQ(classify("/brokers/topics/orders/partitions//state").what, k::other);
    EXPECT_EQ(classify("/config/topics").what, k::config_list);
    auto c = classify("/config/topics/orders");
    EXPECT_EQ(c.what, k::config);
    EXPECT_EQ(c.topic, "orders");
    EXPECT_EQ(classify("/config/groups").what, k::group_config_list);
    auto g = classify("/config/groups/orders-app");
    EXPECT_EQ(g.what, k::group_config);
    EXPECT_EQ(g.topic, "orders-app");
    EXPECT_EQ(group_config_path("g"), "/config/groups/g");
    EXPECT_EQ(classify("/controller").what, k::controller);
    EXPECT_EQ(classify("/controller_epoch").what, k::other);
    EXPECT_EQ(classify("/rill/controlled_shutdown").what, k::shutdowns);
    EXPECT_EQ(classify("/latest_producer_id_block").what, k::pid_block);
    EXPECT_EQ(classify("/admin/delete_topics").what, k::other);
}

// ---- /brokers/ids/<id> ------------------------------------------------------------------------

TEST(ZkCodecs, BrokerRegistrationHasKafkasV5Shape) {
    broker_info b;
    b.id = 2;
    b.rack = "rack-a";
    b.endpoints = {{"PLAINTEXT", "10.0.0.2", 9092}, {"INTERNAL", "10.0.0.2", 9192}};
    auto j = json::parse(encode_broker(b, 1700000000123));
    EXPECT_EQ(j["version"], 5);
    EXPECT_EQ(j["host"], "10.0.0.2");
    EXPECT_EQ(j["port"], 9092);
    EXPECT_EQ(j["jmx_port"], -1);
    EXPECT_EQ(j["timestamp"], "1700000000123");  // a string, as Kafka writes it
    EXPECT_EQ(j["rack"], "rack-a");
    EXPECT_EQ(j["endpoints"], json::parse(R"(["PLAINTEXT://10.0.0.2:9092",
                                                "INTERNAL://10.0.0.2:9192"])"));
    EXPECT_EQ(j["listener_security_protocol_map"],
              json::parse(R"({"PLAINTEXT":"PLAINTEXT","INTERNAL":"PLAINTEXT"})"));
    broker_info no_rack;
    no_rack.id = 1;
    EXPECT_TRUE(json::parse(encode_broker(no_rack, 1))["rack"].is_null());
    EXPECT_EQ(json::parse(encode_broker(no_rack, 1))["port"], -1);
}

TEST(ZkCodecs, BrokerRoundTrip) {
    broker_info b;
    b.id = 7;
    b.rack = "r1";
    b.endpoints = {{"PLAINTEXT", "host-7", 9092}, {"SSL", "::1", 9093}};
    auto back = decode_broker(7, encode_broker(b, 5));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->id, 7);
    EXPECT_EQ(back->rack, b.rack);
    ASSERT_EQ(back->endpoints.size(), 2u);
    EXPECT_EQ(back->endpoints[0].listener_name, "PLAINTEXT");
    EXPECT_EQ(back->endpoints[0].host, "host-7");
    EXPECT_EQ(back->endpoints[0].port, 9092);
    EXPECT_EQ(back->endpoints[1].listener_name, "SSL");
    EXPECT_EQ(back->endpoints[1].host, "::1");
    EXPECT_EQ(back->endpoints[1].port, 9093);
}

TEST(ZkCodecs, DecodesKafkaWrittenBrokerRegistrations) {
    // As a Kafka 3.x broker writes it (v5 with features, bracketed IPv6 host).
    auto b = decode_broker(1, R"({"features":{},"listener_security_protocol_map":{"PLAINTEXT":
        "PLAINTEXT"},"endpoints":["PLAINTEXT://[fe80::1]:9092"],"jmx_port":-1,"port":9092,
        "host":"fe80::1","version":5,"timestamp":"1700000000000"})");
    ASSERT_TRUE(b);
    EXPECT_FALSE(b->rack);
    ASSERT_EQ(b->endpoints.size(), 1u);
    EXPECT_EQ(b->endpoints[0].host, "fe80::1");
    EXPECT_EQ(b->endpoints[0].port, 9092);
    // Version 1: only host and port.
    auto v1 = decode_broker(4, R"({"version":1,"host":"old","port":9000,"jmx_port":-1})");
    ASSERT_TRUE(v1);
    ASSERT_EQ(v1->endpoints.size(), 1u);
    EXPECT_EQ(v1->endpoints[0].listener_name, "PLAINTEXT");
    EXPECT_EQ(v1->endpoints[0].host, "old");
    EXPECT_EQ(v1->endpoints[0].port, 9000);
    // An endpoint that does not parse is skipped.
    auto bad = decode_broker(5, R"({"version":5,"endpoints":["nonsense","PLAINTEXT://h:1"]})");
    ASSERT_TRUE(bad);
    ASSERT_EQ(bad->endpoints.size(), 1u);
    EXPECT_EQ(bad->endpoints[0].host, "h");
}

TEST(ZkCodecs, MalformedBrokerRegistrations) {
    EXPECT_FALSE(decode_broker(1, ""));
    EXPECT_FALSE(decode_broker(1, "{"));
    EXPECT_FALSE(decode_broker(1, R"({"endpoints":[7]})"));
    EXPECT_FALSE(decode_broker(1, R"({"endpoints":["PLAINTEXT://h:notaport"]})"));
}

// ---- /brokers/topics/<t> ----------------------------------------------------------------------

TEST(ZkCodecs, TopicZnodeHasKafkasV3Shape) {
    topic_znode t;
    t.id = some_uuid();
    t.partitions = {{0, {1, 2, 3}}, {1, {2, 3, 1}}};
    t.adding = {{1, {3}}};
    t.removing = {{1, {1}}};
    auto j = json::parse(encode_topic(t));
    EXPECT_EQ(j["version"], 3);
    EXPECT_EQ(j["topic_id"], uuid_to_base64url(t.id));
    EXPECT_EQ(j["partitions"], json::parse(R"({"0":[1,2,3],"1":[2,3,1]})"));
    EXPECT_EQ(j["adding_replicas"], json::parse(R"({"1":[3]})"));
    EXPECT_EQ(j["removing_replicas"], json::parse(R"({"1":[1]})"));
    EXPECT_EQ(j.size(), 5u);
    // No reassignment: Kafka still writes the two (empty) objects.
    topic_znode plain;
    plain.partitions = {{0, {1}}};
    auto p = json::parse(encode_topic(plain));
    EXPECT_TRUE(p["adding_replicas"].is_object() && p["adding_replicas"].empty());
    EXPECT_TRUE(p["removing_replicas"].is_object() && p["removing_replicas"].empty());
}

TEST(ZkCodecs, TopicRoundTrip) {
    topic_znode t;
    t.id = some_uuid();
    t.partitions = {{0, {1, 2}}, {1, {2, 3}}, {2, {3, 1}}};
    t.adding = {{2, {1}}};
    t.removing = {{2, {2}}};
    auto back = decode_topic(encode_topic(t));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, t);
}

TEST(ZkCodecs, DecodesOlderTopicZnodes) {
    // Version 1 (before topic ids and KIP-455): a zero id, no reassignment.
    auto t = decode_topic(R"({"version":1,"partitions":{"1":[2,1],"0":[1,2]}})");
    ASSERT_TRUE(t);
    EXPECT_TRUE(t->id.is_zero());
    EXPECT_EQ(t->partitions, (std::map<int32_t, std::vector<int32_t>>{{0, {1, 2}}, {1, {2, 1}}}));
    EXPECT_TRUE(t->adding.empty());
    // An unreadable topic id reads as none.
    auto bad_id = decode_topic(R"({"version":3,"topic_id":"!!","partitions":{"0":[1]}})");
    ASSERT_TRUE(bad_id);
    EXPECT_TRUE(bad_id->id.is_zero());
}

TEST(ZkCodecs, MalformedTopicZnodes) {
    EXPECT_FALSE(decode_topic("not json"));
    EXPECT_FALSE(decode_topic(R"({"partitions":{"x":[1]}})"));
    EXPECT_FALSE(decode_topic(R"({"partitions":{"0":"1,2"}})"));
    EXPECT_FALSE(decode_topic(R"({"partitions":{"0":[1,"two"]}})"));
}

TEST(ZkCodecs, TopicZnodeOfATopic) {
    topic_info t;
    t.id = some_uuid();
    partition_info p0;
    p0.id = 0;
    p0.replicas = {1, 2};
    partition_info p1;
    p1.id = 1;
    p1.replicas = {3, 2, 1};
    p1.adding_replicas = {3};
    p1.removing_replicas = {1};
    t.partitions = {p0, p1};
    auto tz = topic_znode_of(t);
    EXPECT_EQ(tz.id, t.id);
    EXPECT_EQ(tz.partitions,
              (std::map<int32_t, std::vector<int32_t>>{{0, {1, 2}}, {1, {3, 2, 1}}}));
    EXPECT_EQ(tz.adding, (std::map<int32_t, std::vector<int32_t>>{{1, {3}}}));
    EXPECT_EQ(tz.removing, (std::map<int32_t, std::vector<int32_t>>{{1, {1}}}));
}

// ---- reassignment (KIP-455 layout in the topic znode) -----------------------------------------

TEST(ZkCodecs, ReassignmentLayout) {
    topic_znode t;
    t.partitions = {{0, {1, 2, 3}}, {1, {2, 3, 1}}};
    ASSERT_TRUE(reassign(t, 0, {4, 2, 5}));
    // Target first, then the replicas leaving.
    EXPECT_EQ(t.partitions[0], (std::vector<int32_t>{4, 2, 5, 1, 3}));
    EXPECT_EQ(t.adding[0], (std::vector<int32_t>{4, 5}));
    EXPECT_EQ(t.removing[0], (std::vector<int32_t>{1, 3}));
    EXPECT_EQ(t.partitions[1], (std::vector<int32_t>{2, 3, 1}));  // untouched
    EXPECT_FALSE(t.adding.contains(1));
    // The JSON a Kafka controller reads.
    auto j = json::parse(encode_topic(t));
    EXPECT_EQ(j["partitions"]["0"], json::parse("[4,2,5,1,3]"));
    EXPECT_EQ(j["adding_replicas"], json::parse(R"({"0":[4,5]})"));
    EXPECT_EQ(j["removing_replicas"], json::parse(R"({"0":[1,3]})"));
}

TEST(ZkCodecs, ReassignmentReplacedKeepsTheOriginalSet) {
    topic_znode t;
    t.partitions = {{0, {1, 2}}};
    ASSERT_TRUE(reassign(t, 0, {3, 4}));
    ASSERT_TRUE(reassign(t, 0, {2, 5}));
    // Original {1,2}; new target {2,5}: 5 added, 1 removed; 3 and 4 are forgotten.
    EXPECT_EQ(t.partitions[0], (std::vector<int32_t>{2, 5, 1}));
    EXPECT_EQ(t.adding[0], (std::vector<int32_t>{5}));
    EXPECT_EQ(t.removing[0], (std::vector<int32_t>{1}));
}

TEST(ZkCodecs, ReassignmentCancelRestoresTheOriginalSet) {
    topic_znode t;
    t.partitions = {{0, {1, 2, 3}}};
    topic_znode untouched = t;
    EXPECT_FALSE(reassign(t, 0, {}));  // nothing in progress
    EXPECT_EQ(t, untouched);
    ASSERT_TRUE(reassign(t, 0, {3, 4}));
    ASSERT_TRUE(reassign(t, 0, {}));
    // Kafka's origin replicas: the full set minus the adding ones, in the full set's order.
    EXPECT_EQ(t.partitions[0], (std::vector<int32_t>{3, 1, 2}));
    EXPECT_TRUE(t.adding.empty());
    EXPECT_TRUE(t.removing.empty());
}

TEST(ZkCodecs, ReassignmentToTheSameSetIsANoOpLayout) {
    topic_znode t;
    t.partitions = {{0, {1, 2}}};
    ASSERT_TRUE(reassign(t, 0, {2, 1}));
    EXPECT_EQ(t.partitions[0], (std::vector<int32_t>{2, 1}));
    EXPECT_TRUE(t.adding.empty());
    EXPECT_TRUE(t.removing.empty());
}

// ---- partition state --------------------------------------------------------------------------

TEST(ZkCodecs, PartitionStateHasKafkasShape) {
    auto j = json::parse(encode_state(2, 5, {2, 1}, 9));
    EXPECT_EQ(j, json::parse(R"({"controller_epoch":9,"leader":2,"version":1,
                                 "leader_epoch":5,"isr":[2,1]})"));
    partition_state offline{-1, 6, 9, {}};
    EXPECT_EQ(json::parse(encode_state(offline))["isr"], json::array());
    EXPECT_EQ(json::parse(encode_state(offline))["leader"], -1);
}

TEST(ZkCodecs, PartitionStateRoundTripAndMalformed) {
    partition_state s{3, 12, 4, {3, 1, 2}};
    auto back = decode_state(encode_state(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
    // Kafka's version 2 (leader_recovery_state) reads the same.
    auto v2 = decode_state(R"({"controller_epoch":1,"leader":1,"version":2,"leader_epoch":0,
                               "isr":[1],"leader_recovery_state":1})");
    ASSERT_TRUE(v2);
    EXPECT_EQ(v2->leader, 1);
    auto no_cepoch = decode_state(R"({"leader":1,"leader_epoch":2,"isr":[1]})");
    ASSERT_TRUE(no_cepoch);
    EXPECT_EQ(no_cepoch->controller_epoch, 0);
    EXPECT_FALSE(decode_state(""));
    EXPECT_FALSE(decode_state(R"({"leader":1,"isr":[1]})"));                    // no leader_epoch
    EXPECT_FALSE(decode_state(R"({"leader":1,"leader_epoch":0})"));             // no isr
    EXPECT_FALSE(decode_state(R"({"leader":"1","leader_epoch":0,"isr":[]})"));  // wrong type
}

// ---- /config/topics/<t> -----------------------------------------------------------------------

TEST(ZkCodecs, TopicConfigShapeAndRoundTrip) {
    config_values v;
    v.set("cleanup.policy", "compact");
    v.set("retention.ms", "1000");
    auto j = json::parse(encode_topic_config(v));
    EXPECT_EQ(j, json::parse(R"({"version":1,"config":{"cleanup.policy":"compact",
                                                        "retention.ms":"1000"}})"));
    auto back = decode_topic_config(encode_topic_config(v));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->all(), v.all());
    auto empty = json::parse(encode_topic_config(config_values{}));
    EXPECT_TRUE(empty["config"].is_object() && empty["config"].empty());
}

TEST(ZkCodecs, TopicConfigFromOtherTools) {
    // Non-string values keep their JSON text.
    auto v = decode_topic_config(R"({"version":1,"config":{"retention.ms":1000,"x":true}})");
    ASSERT_TRUE(v);
    EXPECT_EQ(*v->get("retention.ms"), "1000");
    EXPECT_EQ(*v->get("x"), "true");
    auto none = decode_topic_config(R"({"version":1})");
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->empty());
    EXPECT_FALSE(decode_topic_config("{oops"));
}

// ---- /controller, /controller_epoch -----------------------------------------------------------

TEST(ZkCodecs, ControllerZnode) {
    auto j = json::parse(encode_controller(3, 1700000000000));
    EXPECT_EQ(j["version"], 2);
    EXPECT_EQ(j["brokerid"], 3);
    EXPECT_EQ(j["timestamp"], "1700000000000");
    EXPECT_EQ(j["kraftControllerEpoch"], -1);
    EXPECT_EQ(j.size(), 4u);
    EXPECT_EQ(decode_controller(encode_controller(3, 1)), 3);
    // As Kafka 2.x wrote it (version 1).
    EXPECT_EQ(decode_controller(R"({"version":1,"brokerid":5,"timestamp":"1"})"), 5);
    EXPECT_FALSE(decode_controller(R"({"version":1})"));
    EXPECT_FALSE(decode_controller(""));
}

TEST(ZkCodecs, ControllerEpochIsABareNumber) {
    EXPECT_EQ(encode_controller_epoch(17), "17");
    EXPECT_EQ(decode_controller_epoch("17"), 17);
    EXPECT_FALSE(decode_controller_epoch(""));
    EXPECT_FALSE(decode_controller_epoch("epoch"));
}

// ---- /latest_producer_id_block, /cluster/id ---------------------------------------------------

TEST(ZkCodecs, LogDirFailures) {
    EXPECT_EQ(offline_replicas_path(4), "/rill/offline_replicas/4");
    EXPECT_EQ(classify("/rill/offline_replicas").what, watched_path::kind::offline_replicas);
    EXPECT_EQ(classify("/rill/offline_replicas/4").what, watched_path::kind::offline_replicas);
    EXPECT_EQ(classify("/log_dir_event_notification").what, watched_path::kind::log_dir_events);
    partition_set parts{{"a", 1}, {"b", 0}};
    auto enc = encode_offline_replicas(parts);
    EXPECT_EQ(
        enc,
        R"({"partitions":[{"partition":1,"topic":"a"},{"partition":0,"topic":"b"}],"version":1})");
    EXPECT_EQ(decode_offline_replicas(enc), parts);
    EXPECT_FALSE(decode_offline_replicas("{"));
    EXPECT_FALSE(decode_offline_replicas(R"({"partitions":[{"topic":1}]})"));
    // Kafka's LogDirEventNotification (version 1, event 1 = log dir failure).
    EXPECT_EQ(encode_log_dir_event(3), R"({"broker":3,"event":1,"version":1})");
    EXPECT_EQ(decode_log_dir_event(R"({"version":1,"broker":7,"event":1})"), 7);
    EXPECT_FALSE(decode_log_dir_event("[]"));
}

TEST(ZkCodecs, ProducerIdBlock) {
    auto j = json::parse(encode_pid_block(2, 1000, 1999));
    EXPECT_EQ(j, json::parse(R"({"version":1,"broker":2,"block_start":"1000",
                                 "block_end":"1999"})"));
    auto end = decode_pid_block_end(encode_pid_block(2, 1000, 1999));
    ASSERT_TRUE(end);
    EXPECT_EQ(*end, 1999);
    EXPECT_TRUE(decode_pid_block_end(encode_pid_block(1, 0, int64_t{1} << 40)));
    EXPECT_FALSE(decode_pid_block_end(R"({"version":1,"block_end":1999})"));  // not a string
    EXPECT_FALSE(decode_pid_block_end(R"({"version":1,"block_end":"x"})"));
    EXPECT_FALSE(decode_pid_block_end("[]"));
}

TEST(ZkCodecs, ClusterId) {
    auto j = json::parse(encode_cluster_id("abcDEF123_-xyz0123456w"));
    EXPECT_EQ(j, json::parse(R"({"version":"1","id":"abcDEF123_-xyz0123456w"})"));
    auto id = decode_cluster_id(encode_cluster_id("abc"));
    ASSERT_TRUE(id);
    EXPECT_EQ(*id, "abc");
    auto bad = decode_cluster_id(R"({"version":"1"})");
    ASSERT_FALSE(bad);
    EXPECT_FALSE(bad.error().empty());
}

}  // namespace
}  // namespace rill::cluster::zk_codec
