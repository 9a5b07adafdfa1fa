// librdkafka's C API against the real rill binary (started per test suite on a free port).
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.h"

namespace {

// One broker process for the whole suite.
class broker_env : public ::testing::Environment {
  public:
    void SetUp() override {
        ASSERT_TRUE(broker.start({"num.partitions=2"})) << "broker did not start";
    }
    void TearDown() override { EXPECT_TRUE(broker.stop()) << "unclean broker exit"; }
    rill::compat::broker_process broker;
};

broker_env* env = nullptr;

std::string bootstrap() {
    return env->broker.bootstrap();
}

rd_kafka_conf_t* make_conf(const std::map<std::string, std::string>& extra = {}) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap().c_str(), err, sizeof err);
    for (const auto& [k, v] : extra)
        EXPECT_EQ(rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err), RD_KAFKA_CONF_OK)
            << k << ": " << err;
    return conf;
}

struct delivery_stats {
    int ok = 0;
    int failed = 0;
    std::vector<int64_t> offsets;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* st = static_cast<delivery_stats*>(opaque);
    if (m->err) {
        st->failed++;
    } else {
        st->ok++;
        st->offsets.push_back(m->offset);
    }
}

rd_kafka_t* make_producer(const std::map<std::string, std::string>& extra, delivery_stats* st) {
    rd_kafka_conf_t* conf = make_conf(extra);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, st);
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    EXPECT_NE(rk, nullptr) << err;
    return rk;
}

rd_kafka_t* make_consumer() {
    rd_kafka_conf_t* conf =
        make_conf({{"group.id", "rdkafka-test"}, {"enable.auto.commit", "false"}});
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    EXPECT_NE(rk, nullptr) << err;
    return rk;
}

// Consumes from the assigned partitions until `n` messages arrived or 20 s passed.
std::vector<rd_kafka_message_t*> consume_n(rd_kafka_t* c, size_t n) {
    std::vector<rd_kafka_message_t*> out;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (out.size() < n && std::chrono::steady_clock::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(c, 200);
        if (!m) continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        out.push_back(m);
    }
    return out;
}

void assign_from(rd_kafka_t* c, const std::string& topic, int partitions, int64_t offset) {
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p)
        rd_kafka_topic_partition_list_add(l, topic.c_str(), p)->offset = offset;
    ASSERT_EQ(rd_kafka_assign(c, l), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_topic_partition_list_destroy(l);
}

// Runs an admin operation and returns its result event (caller destroys).
rd_kafka_event_t* wait_admin(rd_kafka_queue_t* q) {
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 20000);
    EXPECT_NE(ev, nullptr);
    return ev;
}

class rdkafka : public ::testing::Test {};

TEST_F(rdkafka, producers_with_every_acks_setting_and_idempotence) {
    struct setting {
        std::map<std::string, std::string> conf;
        bool expect_offsets;
    };
    std::vector<setting> settings = {
        {{{"acks", "0"}}, false},
        {{{"acks", "1"}}, true},
        {{{"acks", "all"}}, true},
        {{{"enable.idempotence", "true"}}, true},
        {{{"enable.idempotence", "true"}, {"compression.codec", "zstd"}}, true},
    };
    int idx = 0;
    for (auto& s : settings) {
        std::string topic = "rdk-acks-" + std::to_string(idx++);
        delivery_stats st;
        rd_kafka_t* p = make_producer(s.conf, &st);
        for (int i = 0; i < 2000; ++i) {
            std::string v = "v" + std::to_string(i);
            ASSERT_EQ(rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic.c_str()),
                                        RD_KAFKA_V_VALUE(v.data(), v.size()),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                      RD_KAFKA_RESP_ERR_NO_ERROR);
            rd_kafka_poll(p, 0);
        }
        ASSERT_EQ(rd_kafka_flush(p, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
        EXPECT_EQ(st.ok, 2000) << topic;
        EXPECT_EQ(st.failed, 0) << topic;
        if (s.expect_offsets) {
            std::set<int64_t> uniq(st.offsets.begin(), st.offsets.end());
            EXPECT_GT(uniq.size(), 900u);  // two partitions: offsets 0..~1000 each
        }
        rd_kafka_destroy(p);

        rd_kafka_t* c = make_consumer();
        assign_from(c, topic, 2, RD_KAFKA_OFFSET_BEGINNING);
        auto msgs = consume_n(c, 2000);
        EXPECT_EQ(msgs.size(), 2000u) << topic;
        for (auto* m : msgs)
            rd_kafka_message_destroy(m);
        rd_kafka_consumer_close(c);
        rd_kafka_destroy(c);
    }
}

TEST_F(rdkafka, headers_null_keys_and_values_seek_and_offsets_for_times) {
    const std::string topic = "rdk-records";
    delivery_stats st;
    rd_kafka_t* p = make_producer({{"acks", "all"}}, &st);
    int64_t t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
    for (int i = 0; i < 100; ++i) {
        std::string k = "key" + std::to_string(i);
        std::string v = "value" + std::to_string(i);
        rd_kafka_headers_t* h = rd_kafka_headers_new(2);
        rd_kafka_header_add(h, "idx", -1, std::to_string(i).c_str(), -1);
        rd_kafka_header_add(h, "nullval", -1, nullptr, 0);
        bool null_key = i % 10 == 3, null_value = i % 10 == 7;
        ASSERT_EQ(rd_kafka_producev(
                      p, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                      RD_KAFKA_V_KEY(null_key ? nullptr : k.data(), null_key ? 0 : k.size()),
                      RD_KAFKA_V_VALUE(null_value ? nullptr : v.data(), null_value ? 0 : v.size()),
                      RD_KAFKA_V_TIMESTAMP(t0 + i * 1000), RD_KAFKA_V_HEADERS(h),
                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END),
                  RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    ASSERT_EQ(rd_kafka_flush(p, 20000), RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(st.ok, 100);
    rd_kafka_destroy(p);

    rd_kafka_t* c = make_consumer();
    assign_from(c, topic, 1, RD_KAFKA_OFFSET_BEGINNING);
    auto msgs = consume_n(c, 100);
    ASSERT_EQ(msgs.size(), 100u);
    for (int i = 0; i < 100; ++i) {
        rd_kafka_message_t* m = msgs[static_cast<size_t>(i)];
        EXPECT_EQ(m->offset, i);
        if (i % 10 == 3)
            EXPECT_EQ(m->key, nullptr);
        else
            EXPECT_EQ(std::string(static_cast<char*>(m->key), m->key_len),
                      "key" + std::to_string(i));
        if (i % 10 == 7)
            EXPECT_EQ(m->payload, nullptr);
        else
            EXPECT_EQ(std::string(static_cast<char*>(m->payload), m->len),
                      "value" + std::to_string(i));
        EXPECT_EQ(rd_kafka_message_timestamp(m, nullptr), t0 + i * 1000);
        rd_kafka_headers_t* h = nullptr;
        ASSERT_EQ(rd_kafka_message_headers(m, &h), RD_KAFKA_RESP_ERR_NO_ERROR);
        const void* val;
        size_t size;
        ASSERT_EQ(rd_kafka_header_get_last(h, "idx", &val, &size), RD_KAFKA_RESP_ERR_NO_ERROR);
        EXPECT_EQ(std::string(static_cast<const char*>(val), size), std::to_string(i));
        ASSERT_EQ(rd_kafka_header_get_last(h, "nullval", &val, &size), RD_KAFKA_RESP_ERR_NO_ERROR);
        EXPECT_EQ(val, nullptr);
        rd_kafka_message_destroy(m);
    }

    // offsets_for_times: the first record at or after t0 + 42.5 s is offset 43.
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic.c_str(), 0)->offset = t0 + 42500;
    ASSERT_EQ(rd_kafka_offsets_for_times(c, l, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    EXPECT_EQ(l->elems[0].offset, 43);
    rd_kafka_topic_partition_list_destroy(l);

    // seek back to 90 and read the tail again.
    rd_kafka_topic_partition_list_t* s = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(s, topic.c_str(), 0)->offset = 90;
    rd_kafka_error_t* e = rd_kafka_seek_partitions(c, s, 10000);
    ASSERT_EQ(e, nullptr);
    rd_kafka_topic_partition_list_destroy(s);
    auto tail = consume_n(c, 10);
    ASSERT_EQ(tail.size(), 10u);
    EXPECT_EQ(tail[0]->offset, 90);
    for (auto* m : tail)
        rd_kafka_message_destroy(m);
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

TEST_F(rdkafka, admin_api) {
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, make_conf(), err, sizeof err);
    ASSERT_NE(rk, nullptr);
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    const std::string topic = "rdk-admin";

    // CreateTopics with a config.
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), 2, 1, err, sizeof err);
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
    rd_kafka_NewTopic_set_config(nt, "max.message.bytes", "200000");
    rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
    rd_kafka_event_t* ev = wait_admin(q);
    size_t n;
    const rd_kafka_topic_result_t** tr =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    ASSERT_EQ(n, 1u);
    EXPECT_EQ(rd_kafka_topic_result_error(tr[0]), RD_KAFKA_RESP_ERR_NO_ERROR)
        << rd_kafka_topic_result_error_string(tr[0]);
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);

    // Creating it again fails with TOPIC_ALREADY_EXISTS.
    nt = rd_kafka_NewTopic_new(topic.c_str(), 2, 1, err, sizeof err);
    rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
    ev = wait_admin(q);
    tr = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    EXPECT_EQ(rd_kafka_topic_result_error(tr[0]), RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS);
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);

    // CreatePartitions 2 -> 5.
    rd_kafka_NewPartitions_t* np = rd_kafka_NewPartitions_new(topic.c_str(), 5, err, sizeof err);
    rd_kafka_CreatePartitions(rk, &np, 1, nullptr, q);
    ev = wait_admin(q);
    tr = rd_kafka_CreatePartitions_result_topics(rd_kafka_event_CreatePartitions_result(ev), &n);
    ASSERT_EQ(n, 1u);
    EXPECT_EQ(rd_kafka_topic_result_error(tr[0]), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_destroy(ev);
    rd_kafka_NewPartitions_destroy(np);

    // AlterConfigs (which replaces the whole set of overrides) then DescribeConfigs sees the
    // change, with defaults for the rest.
    rd_kafka_ConfigResource_t* cr =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
    rd_kafka_ConfigResource_set_config(cr, "retention.ms", "123456789");
    rd_kafka_ConfigResource_set_config(cr, "max.message.bytes", "200000");
    rd_kafka_AlterConfigs(rk, &cr, 1, nullptr, q);
    ev = wait_admin(q);
    const rd_kafka_ConfigResource_t** rs =
        rd_kafka_AlterConfigs_result_resources(rd_kafka_event_AlterConfigs_result(ev), &n);
    ASSERT_EQ(n, 1u);
    EXPECT_EQ(rd_kafka_ConfigResource_error(rs[0]), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(cr);

    cr = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str());
    rd_kafka_DescribeConfigs(rk, &cr, 1, nullptr, q);
    ev = wait_admin(q);
    rs = rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &n);
    ASSERT_EQ(n, 1u);
    size_t cnt;
    const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(rs[0], &cnt);
    std::map<std::string, std::string> values;
    std::map<std::string, int> sources;
    for (size_t i = 0; i < cnt; ++i) {
        const char* v = rd_kafka_ConfigEntry_value(entries[i]);
        values[rd_kafka_ConfigEntry_name(entries[i])] = v ? v : "(null)";
        sources[rd_kafka_ConfigEntry_name(entries[i])] = rd_kafka_ConfigEntry_source(entries[i]);
    }
    EXPECT_EQ(values["retention.ms"], "123456789");
    EXPECT_EQ(sources["retention.ms"], RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG);
    EXPECT_EQ(values["segment.bytes"], "1073741824");
    EXPECT_EQ(sources["segment.bytes"], RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG);
    EXPECT_EQ(values["cleanup.policy"], "delete");
    EXPECT_EQ(sources["cleanup.policy"], RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG);
    EXPECT_GT(cnt, 15u);
    rd_kafka_event_destroy(ev);
    rd_kafka_ConfigResource_destroy(cr);

    // max.message.bytes is applied: a 300 kB record is refused, a 100 kB one accepted.
    {
        delivery_stats st;
        rd_kafka_t* p = make_producer({{"acks", "1"}, {"message.max.bytes", "1000000"}}, &st);
        std::string big(300000, 'x'), ok(100000, 'y');
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_VALUE(big.data(), big.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        rd_kafka_flush(p, 20000);  // separate batches: the limit applies per batch
        rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                          RD_KAFKA_V_VALUE(ok.data(), ok.size()),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        rd_kafka_flush(p, 20000);
        EXPECT_EQ(st.ok, 1);
        EXPECT_EQ(st.failed, 1);
        rd_kafka_destroy(p);
    }

    // DeleteRecords up to offset 1 of partition 0.
    {
        delivery_stats st;
        rd_kafka_t* p = make_producer({{"acks", "all"}}, &st);
        for (int i = 0; i < 5; ++i)
            rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_VALUE(const_cast<char*>("z"), 1),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        rd_kafka_flush(p, 20000);
        rd_kafka_destroy(p);
    }
    rd_kafka_topic_partition_list_t* del = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(del, topic.c_str(), 0)->offset = 3;
    rd_kafka_DeleteRecords_t* dr = rd_kafka_DeleteRecords_new(del);
    rd_kafka_DeleteRecords(rk, &dr, 1, nullptr, q);
    ev = wait_admin(q);
    const rd_kafka_topic_partition_list_t* offs =
        rd_kafka_DeleteRecords_result_offsets(rd_kafka_event_DeleteRecords_result(ev));
    ASSERT_EQ(offs->cnt, 1);
    EXPECT_EQ(offs->elems[0].err, RD_KAFKA_RESP_ERR_NO_ERROR);
    EXPECT_EQ(offs->elems[0].offset, 3);
    rd_kafka_event_destroy(ev);
    rd_kafka_DeleteRecords_destroy(dr);
    rd_kafka_topic_partition_list_destroy(del);
    int64_t lo = -1, hi = -1;
    ASSERT_EQ(rd_kafka_query_watermark_offsets(rk, topic.c_str(), 0, &lo, &hi, 10000),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    EXPECT_EQ(lo, 3);
    EXPECT_EQ(hi, 6);

    // DeleteTopics, then metadata no longer lists it.
    rd_kafka_DeleteTopic_t* dt = rd_kafka_DeleteTopic_new(topic.c_str());
    rd_kafka_DeleteTopics(rk, &dt, 1, nullptr, q);
    ev = wait_admin(q);
    tr = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(ev), &n);
    ASSERT_EQ(n, 1u);
    EXPECT_EQ(rd_kafka_topic_result_error(tr[0]), RD_KAFKA_RESP_ERR_NO_ERROR);
    rd_kafka_event_destroy(ev);
    rd_kafka_DeleteTopic_destroy(dt);
    const rd_kafka_metadata_t* md = nullptr;
    ASSERT_EQ(rd_kafka_metadata(rk, 1, nullptr, &md, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
    for (int i = 0; i < md->topic_cnt; ++i)
        EXPECT_NE(std::string(md->topics[i].topic), topic);
    rd_kafka_metadata_destroy(md);

    rd_kafka_queue_destroy(q);
    rd_kafka_destroy(rk);
}

}  // namespace

int main(int argc, char** argv) {
    ::testing::InitGoogleTest(&argc, argv);
    env = new broker_env;
    ::testing::AddGlobalTestEnvironment(env);
    return RUN_ALL_TESTS();
}
