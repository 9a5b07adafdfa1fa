// Golden bytes written by hand from the layouts in the Kafka protocol guide
// (https://kafka.apache.org/protocol): decode, check fields, re-encode, compare.
// Non-flexible versions use int16 string lengths, int32 bytes/array lengths (-1 = null);
// flexible versions use unsigned-varint N+1 lengths (0 = null) and end every struct with a
// tagged-field section (count, then tag/size/value triples).
#include <gtest/gtest.h>

#include "protocol/frame.h"
#include "protocol/generated/api_versions.h"
#include "protocol/generated/fetch.h"
#include "protocol/generated/join_group.h"
#include "protocol/generated/metadata.h"
#include "protocol/generated/produce.h"

namespace rill::protocol::messages {
namespace {

template <typename T>
T decode_exact(const bytes& b, int16_t version) {
    reader r(b);
    T m;
    m.decode(r, version);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
    return m;
}

template <typename T>
void expect_encodes_to(const T& m, int16_t version, const bytes& expected) {
    writer w;
    m.encode(w, version);
    EXPECT_EQ(w.buffer(), expected);
    EXPECT_EQ(m.encoded_size(version), expected.size());
}

bytes records_of(std::initializer_list<uint8_t> b) {
    return bytes(b);
}

// ---------------------------------------------------------------- ApiVersions (key 18)

TEST(golden, api_versions_v0_request_frame) {
    // Full frame: size, header v1 (key 18, version 0, correlation 1, client "c"), empty body.
    const bytes frame = {
        0x00, 0x00, 0x00, 0x0b,  // size 11
        0x00, 0x12,              // api key 18
        0x00, 0x00,              // version 0
        0x00, 0x00, 0x00, 0x01,  // correlation id 1
        0x00, 0x01, 'c',         // client id "c"
    };
    reader r(bytes_view(frame).subspan(4));
    request_header_info h;
    ASSERT_EQ(decode_request_header(r, h), header_status::ok);
    EXPECT_EQ(h.api_key, 18);
    EXPECT_EQ(h.header_version, 1);
    api_versions_request req;
    req.decode(r, 0);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.remaining(), 0u);
    writer w;
    encode_request_frame(w, 1, std::string("c"), 0, req);
    EXPECT_EQ(w.buffer(), frame);
}

TEST(golden, api_versions_v3_request) {
    const bytes b = {
        0x05, 'r', 'i', 'l', 'l',  // client_software_name: compact "rill"
        0x04, '1', '.', '0',       // client_software_version: compact "1.0"
        0x00,                      // no tagged fields
    };
    auto m = decode_exact<api_versions_request>(b, 3);
    EXPECT_EQ(m.client_software_name, "rill");
    EXPECT_EQ(m.client_software_version, "1.0");
    expect_encodes_to(m, 3, b);
}

TEST(golden, api_versions_v0_response) {
    const bytes b = {
        0x00, 0x00,                          // error_code 0
        0x00, 0x00, 0x00, 0x02,              // api_keys: 2 entries
        0x00, 0x00, 0x00, 0x00, 0x00, 0x0b,  // Produce 0..11
        0x00, 0x12, 0x00, 0x00, 0x00, 0x04,  // ApiVersions 0..4
    };
    auto m = decode_exact<api_versions_response>(b, 0);
    EXPECT_EQ(m.error_code, 0);
    ASSERT_EQ(m.api_keys.size(), 2u);
    EXPECT_EQ(m.api_keys[0].max_version, 11);
    EXPECT_EQ(m.api_keys[1].api_key, 18);
    EXPECT_EQ(m.api_keys[1].max_version, 4);
    expect_encodes_to(m, 0, b);

    // As a frame: ApiVersions responses use header v0 (no tag section).
    writer w;
    encode_response_frame(w, 7, 0, m);
    bytes frame = {0x00, 0x00, 0x00, 0x16, 0x00, 0x00, 0x00, 0x07};
    frame.insert(frame.end(), b.begin(), b.end());
    EXPECT_EQ(w.buffer(), frame);
}

TEST(golden, api_versions_v3_response_with_tagged_fields) {
    const bytes b = {
        0x00, 0x00,                                // error_code 0
        0x03,                                      // api_keys: compact, 2 entries
        0x00, 0x00, 0x00, 0x00, 0x00, 0x0b, 0x00,  // Produce 0..11, no tags
        0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00,  // ApiVersions 0..4, no tags
        0x00, 0x00, 0x00, 0x00,                    // throttle_time_ms 0
        0x03,                                      // 3 tagged fields
        0x00, 0x09,                                // tag 0 (supported_features), 9 bytes:
        0x02,                                      //   compact array, 1 entry
        0x03, 'm',  'v',                           //   name "mv"
        0x00, 0x01, 0x00, 0x14, 0x00,              //   min 1, max 20, no tags
        0x01, 0x08,                                // tag 1 (finalized_features_epoch), 8 bytes
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  //   5
        0x03, 0x01, 0x01,                                // tag 3 (zk_migration_ready) true
    };
    auto m = decode_exact<api_versions_response>(b, 3);
    ASSERT_EQ(m.api_keys.size(), 2u);
    ASSERT_EQ(m.supported_features.size(), 1u);
    EXPECT_EQ(m.supported_features[0].name, "mv");
    EXPECT_EQ(m.supported_features[0].max_version, 20);
    EXPECT_EQ(m.finalized_features_epoch, 5);
    EXPECT_TRUE(m.finalized_features.empty());
    EXPECT_TRUE(m.zk_migration_ready);
    expect_encodes_to(m, 3, b);

    // Unknown tags are skipped.
    bytes unknown = b;
    unknown[21] = 0x04;                            // 4 tagged fields
    const bytes extra = {0x1f, 0x02, 0xaa, 0xbb};  // tag 31, 2 bytes
    unknown.insert(unknown.end(), extra.begin(), extra.end());
    EXPECT_EQ(decode_exact<api_versions_response>(unknown, 3), m);
}

// ---------------------------------------------------------------- Metadata (key 3)

TEST(golden, metadata_v1_request) {
    const bytes b = {
        0x00, 0x00, 0x00, 0x01,  // topics: 1 entry
        0x00, 0x03, 'f',  'o',  'o',
    };
    auto m = decode_exact<metadata_request>(b, 1);
    ASSERT_TRUE(m.topics.has_value());
    ASSERT_EQ(m.topics->size(), 1u);
    EXPECT_EQ((*m.topics)[0].name, "foo");
    expect_encodes_to(m, 1, b);

    const bytes all = {0xff, 0xff, 0xff, 0xff};  // null topics: all topics
    auto n = decode_exact<metadata_request>(all, 1);
    EXPECT_FALSE(n.topics.has_value());
    expect_encodes_to(n, 1, all);
}

TEST(golden, metadata_v9_request) {
    const bytes b = {
        0x02,                 // topics: compact, 1 entry
        0x04, 'f', 'o', 'o',  //   name
        0x00,                 //   no tags
        0x01,                 // allow_auto_topic_creation
        0x00,                 // include_cluster_authorized_operations
        0x01,                 // include_topic_authorized_operations
        0x00,                 // no tags
    };
    auto m = decode_exact<metadata_request>(b, 9);
    EXPECT_EQ((*m.topics)[0].name, "foo");
    EXPECT_TRUE(m.allow_auto_topic_creation);
    EXPECT_FALSE(m.include_cluster_authorized_operations);
    EXPECT_TRUE(m.include_topic_authorized_operations);
    expect_encodes_to(m, 9, b);
}

TEST(golden, metadata_v1_response) {
    const bytes b = {
        0x00, 0x00, 0x00, 0x01,                          // brokers: 1
        0x00, 0x00, 0x00, 0x01,                          //   node_id 1
        0x00, 0x01, 'h',                                 //   host "h"
        0x00, 0x00, 0x23, 0x84,                          //   port 9092
        0xff, 0xff,                                      //   rack null
        0x00, 0x00, 0x00, 0x01,                          // controller_id 1
        0x00, 0x00, 0x00, 0x01,                          // topics: 1
        0x00, 0x00,                                      //   error_code 0
        0x00, 0x03, 'f',  'o',  'o',                     // name
        0x00,                                            //   is_internal false
        0x00, 0x00, 0x00, 0x01,                          //   partitions: 1
        0x00, 0x00,                                      //     error_code
        0x00, 0x00, 0x00, 0x00,                          //     partition_index 0
        0x00, 0x00, 0x00, 0x01,                          //     leader_id 1
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,  // replica_nodes [1]
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,  // isr_nodes [1]
    };
    auto m = decode_exact<metadata_response>(b, 1);
    ASSERT_EQ(m.brokers.size(), 1u);
    EXPECT_EQ(m.brokers[0].host, "h");
    EXPECT_EQ(m.brokers[0].port, 9092);
    EXPECT_FALSE(m.brokers[0].rack.has_value());
    EXPECT_EQ(m.controller_id, 1);
    ASSERT_EQ(m.topics.size(), 1u);
    EXPECT_EQ(m.topics[0].name, "foo");
    ASSERT_EQ(m.topics[0].partitions.size(), 1u);
    EXPECT_EQ(m.topics[0].partitions[0].leader_id, 1);
    EXPECT_EQ(m.topics[0].partitions[0].isr_nodes, std::vector<int32_t>{1});
    expect_encodes_to(m, 1, b);
}

TEST(golden, metadata_v9_response) {
    const bytes b = {
        0x00, 0x00, 0x00, 0x00,        // throttle_time_ms
        0x02,                          // brokers: compact, 1
        0x00, 0x00, 0x00, 0x01,        //   node_id 1
        0x02, 'h',                     //   host "h"
        0x00, 0x00, 0x23, 0x84,        //   port 9092
        0x00,                          //   rack null
        0x00,                          //   no tags
        0x03, 'c',  '1',               // cluster_id "c1"
        0x00, 0x00, 0x00, 0x01,        // controller_id 1
        0x02,                          // topics: 1
        0x00, 0x00,                    //   error_code
        0x04, 'f',  'o',  'o',         //   name
        0x00,                          //   is_internal
        0x02,                          //   partitions: 1
        0x00, 0x00,                    //     error_code
        0x00, 0x00, 0x00, 0x00,        //     partition_index 0
        0x00, 0x00, 0x00, 0x01,        //     leader_id 1
        0x00, 0x00, 0x00, 0x05,        //     leader_epoch 5
        0x02, 0x00, 0x00, 0x00, 0x01,  // replica_nodes [1]
        0x02, 0x00, 0x00, 0x00, 0x01,  // isr_nodes [1]
        0x01,                          // offline_replicas []
        0x00,                          //     no tags
        0x80, 0x00, 0x00, 0x00,        //   topic_authorized_operations (INT32_MIN: not requested)
        0x00,                          //   no tags
        0x80, 0x00, 0x00, 0x00,        // cluster_authorized_operations
        0x00,                          // no tags
    };
    auto m = decode_exact<metadata_response>(b, 9);
    EXPECT_EQ(m.cluster_id, "c1");
    EXPECT_EQ(m.topics[0].partitions[0].leader_epoch, 5);
    EXPECT_TRUE(m.topics[0].partitions[0].offline_replicas.empty());
    EXPECT_EQ(m.topics[0].topic_authorized_operations, INT32_MIN);
    expect_encodes_to(m, 9, b);

    // The defaults alone produce the same INT32_MIN fields.
    metadata_response d = m;
    d.topics[0].topic_authorized_operations =
        metadata_response::metadata_response_topic{}.topic_authorized_operations;
    EXPECT_EQ(d, m);
}

// ---------------------------------------------------------------- Produce (key 0)

TEST(golden, produce_v3_request) {
    const bytes b = {
        0xff, 0xff,                                      // transactional_id null
        0xff, 0xff,                                      // acks -1
        0x00, 0x00, 0x75, 0x30,                          // timeout_ms 30000
        0x00, 0x00, 0x00, 0x01,                          // topic_data: 1
        0x00, 0x01, 't',                                 //   name "t"
        0x00, 0x00, 0x00, 0x01,                          //   partition_data: 1
        0x00, 0x00, 0x00, 0x00,                          //     index 0
        0x00, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef,  // records (4 bytes)
    };
    auto m = decode_exact<produce_request>(b, 3);
    EXPECT_FALSE(m.transactional_id.has_value());
    EXPECT_EQ(m.acks, -1);
    EXPECT_EQ(m.timeout_ms, 30000);
    const auto& rec = m.topic_data[0].partition_data[0].records;
    ASSERT_FALSE(rec.is_null());
    EXPECT_EQ(bytes(rec.view().begin(), rec.view().end()), records_of({0xde, 0xad, 0xbe, 0xef}));
    EXPECT_EQ(rec.view().data(), b.data() + 27);  // a view into the input, not a copy
    expect_encodes_to(m, 3, b);
}

TEST(golden, produce_v9_request) {
    const bytes b = {
        0x03, 't',  'x',               // transactional_id "tx"
        0x00, 0x01,                    // acks 1
        0x00, 0x00, 0x03, 0xe8,        // timeout_ms 1000
        0x02,                          // topic_data: compact, 1
        0x02, 't',                     //   name "t"
        0x02,                          //   partition_data: 1
        0x00, 0x00, 0x00, 0x02,        //     index 2
        0x05, 0xde, 0xad, 0xbe, 0xef,  // records: compact, 4 bytes
        0x00,                          //     no tags
        0x00,                          //   no tags
        0x00,                          // no tags
    };
    auto m = decode_exact<produce_request>(b, 9);
    EXPECT_EQ(m.transactional_id, "tx");
    EXPECT_EQ(m.acks, 1);
    EXPECT_EQ(m.topic_data[0].partition_data[0].index, 2);
    EXPECT_EQ(m.topic_data[0].partition_data[0].records.size(), 4u);
    expect_encodes_to(m, 9, b);
}

TEST(golden, produce_v3_response) {
    const bytes b = {
        0x00, 0x00, 0x00, 0x01,                          // responses: 1
        0x00, 0x01, 't',                                 //   name
        0x00, 0x00, 0x00, 0x01,                          //   partition_responses: 1
        0x00, 0x00, 0x00, 0x00,                          //     index 0
        0x00, 0x00,                                      //     error_code 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,  // base_offset 42
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // log_append_time_ms -1
        0x00, 0x00, 0x00, 0x00,                          // throttle_time_ms
    };
    auto m = decode_exact<produce_response>(b, 3);
    EXPECT_EQ(m.responses[0].partition_responses[0].base_offset, 42);
    EXPECT_EQ(m.responses[0].partition_responses[0].log_append_time_ms, -1);
    expect_encodes_to(m, 3, b);
}

TEST(golden, produce_v9_response) {
    const bytes b = {
        0x02,                                            // responses: compact, 1
        0x02, 't',                                       //   name
        0x02,                                            //   partition_responses: 1
        0x00, 0x00, 0x00, 0x00,                          //     index 0
        0x00, 0x00,                                      //     error_code 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,  // base_offset 42
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // log_append_time_ms -1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // log_start_offset 0
        0x01,                                            // record_errors []
        0x00,                                            // error_message null
        0x00,                                            //     no tags
        0x00,                                            //   no tags
        0x00, 0x00, 0x00, 0x00,                          // throttle_time_ms
        0x00,                                            // no tags
    };
    auto m = decode_exact<produce_response>(b, 9);
    const auto& p = m.responses[0].partition_responses[0];
    EXPECT_EQ(p.log_start_offset, 0);
    EXPECT_FALSE(p.error_message.has_value());
    expect_encodes_to(m, 9, b);
}

// ---------------------------------------------------------------- Fetch (key 1)

TEST(golden, fetch_v4_request) {
    const bytes b = {
        0xff, 0xff, 0xff, 0xff,                          // replica_id -1
        0x00, 0x00, 0x01, 0xf4,                          // max_wait_ms 500
        0x00, 0x00, 0x00, 0x01,                          // min_bytes 1
        0x00, 0x10, 0x00, 0x00,                          // max_bytes 1 MiB
        0x01,                                            // isolation_level read_committed
        0x00, 0x00, 0x00, 0x01,                          // topics: 1
        0x00, 0x01, 't',                                 //   topic
        0x00, 0x00, 0x00, 0x01,                          //   partitions: 1
        0x00, 0x00, 0x00, 0x00,                          //     partition 0
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,  // fetch_offset 10
        0x00, 0x10, 0x00, 0x00,                          // partition_max_bytes
    };
    auto m = decode_exact<fetch_request>(b, 4);
    EXPECT_EQ(m.replica_id, -1);
    EXPECT_EQ(m.max_wait_ms, 500);
    EXPECT_EQ(m.isolation_level, 1);
    EXPECT_EQ(m.topics[0].topic, "t");
    EXPECT_EQ(m.topics[0].partitions[0].fetch_offset, 10);
    expect_encodes_to(m, 4, b);
}

TEST(golden, fetch_v12_request) {
    const bytes b = {
        0xff, 0xff, 0xff, 0xff,                          // replica_id -1
        0x00, 0x00, 0x01, 0xf4,                          // max_wait_ms 500
        0x00, 0x00, 0x00, 0x01,                          // min_bytes
        0x7f, 0xff, 0xff, 0xff,                          // max_bytes
        0x00,                                            // isolation_level
        0x00, 0x00, 0x00, 0x00,                          // session_id 0
        0xff, 0xff, 0xff, 0xff,                          // session_epoch -1
        0x02,                                            // topics: compact, 1
        0x02, 't',                                       //   topic
        0x02,                                            //   partitions: 1
        0x00, 0x00, 0x00, 0x00,                          //     partition 0
        0x00, 0x00, 0x00, 0x03,                          //     current_leader_epoch 3
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,  // fetch_offset 10
        0xff, 0xff, 0xff, 0xff,                          // last_fetched_epoch -1
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // log_start_offset -1
        0x00, 0x10, 0x00, 0x00,                          // partition_max_bytes
        0x00,                                            //     no tags
        0x00,                                            //   no tags
        0x01,                                            // forgotten_topics_data []
        0x01,                                            // rack_id ""
        0x01,                                            // 1 tagged field:
        0x00, 0x02, 0x02, 'c',                           //   tag 0 cluster_id "c"
    };
    auto m = decode_exact<fetch_request>(b, 12);
    EXPECT_EQ(m.cluster_id, "c");
    EXPECT_EQ(m.session_epoch, -1);
    EXPECT_EQ(m.topics[0].partitions[0].current_leader_epoch, 3);
    EXPECT_TRUE(m.forgotten_topics_data.empty());
    EXPECT_EQ(m.rack_id, "");
    expect_encodes_to(m, 12, b);
}

TEST(golden, fetch_v4_response) {
    const bytes b = {
        0x00, 0x00, 0x00, 0x00,                          // throttle_time_ms
        0x00, 0x00, 0x00, 0x01,                          // responses: 1
        0x00, 0x01, 't',                                 //   topic
        0x00, 0x00, 0x00, 0x01,                          //   partitions: 1
        0x00, 0x00, 0x00, 0x00,                          //     partition_index 0
        0x00, 0x00,                                      //     error_code
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,  // high_watermark 100
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,  // last_stable_offset 100
        0xff, 0xff, 0xff, 0xff,                          // aborted_transactions null
        0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03,        // records (3 bytes)
    };
    auto m = decode_exact<fetch_response>(b, 4);
    const auto& p = m.responses[0].partitions[0];
    EXPECT_EQ(p.high_watermark, 100);
    EXPECT_FALSE(p.aborted_transactions.has_value());
    EXPECT_EQ(p.records.size(), 3u);
    expect_encodes_to(m, 4, b);
}

TEST(golden, fetch_v12_response) {
    const bytes b = {
        0x00, 0x00, 0x00, 0x00,                                // throttle_time_ms
        0x00, 0x00,                                            // error_code
        0x00, 0x00, 0x00, 0x07,                                // session_id 7
        0x02,                                                  // responses: compact, 1
        0x02, 't',                                             //   topic
        0x02,                                                  //   partitions: 1
        0x00, 0x00, 0x00, 0x01,                                //     partition_index 1
        0x00, 0x00,                                            //     error_code
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,        // high_watermark 100
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64,        // last_stable_offset 100
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,        // log_start_offset 0
        0x02,                                                  // aborted_transactions: 1
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,        //   producer_id 5
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a,        //   first_offset 10
        0x00,                                                  //   no tags
        0xff, 0xff, 0xff, 0xff,                                // preferred_read_replica -1
        0x04, 0x01, 0x02, 0x03,                                // records: compact, 3 bytes
        0x01,                                                  // 1 tagged field:
        0x01, 0x09,                                            //   tag 1 current_leader, 9 bytes
        0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x09, 0x00,  // leader 2, epoch 9
        0x00,                                                  //   topic: no tags
        0x00,                                                  // no tags
    };
    auto m = decode_exact<fetch_response>(b, 12);
    EXPECT_EQ(m.session_id, 7);
    const auto& p = m.responses[0].partitions[0];
    ASSERT_TRUE(p.aborted_transactions.has_value());
    EXPECT_EQ((*p.aborted_transactions)[0].first_offset, 10);
    EXPECT_EQ(p.current_leader.leader_id, 2);
    EXPECT_EQ(p.current_leader.leader_epoch, 9);
    EXPECT_EQ(p.diverging_epoch.epoch, -1);  // absent tag: default
    expect_encodes_to(m, 12, b);
}

// ---------------------------------------------------------------- JoinGroup (key 11)

TEST(golden, join_group_v5_request) {
    const bytes b = {
        0x00, 0x01, 'g',                                         // group_id
        0x00, 0x00, 0x27, 0x10,                                  // session_timeout_ms 10000
        0x00, 0x00, 0x75, 0x30,                                  // rebalance_timeout_ms 30000
        0x00, 0x00,                                              // member_id ""
        0xff, 0xff,                                              // group_instance_id null
        0x00, 0x08, 'c',  'o',  'n',  's',  'u', 'm', 'e', 'r',  // protocol_type
        0x00, 0x00, 0x00, 0x01,                                  // protocols: 1
        0x00, 0x05, 'r',  'a',  'n',  'g',  'e',                 //   name
        0x00, 0x00, 0x00, 0x02, 0x00, 0x01,                      //   metadata (2 bytes)
    };
    auto m = decode_exact<join_group_request>(b, 5);
    EXPECT_EQ(m.group_id, "g");
    EXPECT_EQ(m.rebalance_timeout_ms, 30000);
    EXPECT_FALSE(m.group_instance_id.has_value());
    EXPECT_EQ(m.protocols[0].name, "range");
    EXPECT_EQ(m.protocols[0].metadata, (bytes{0x00, 0x01}));
    expect_encodes_to(m, 5, b);
}

TEST(golden, join_group_v6_request) {
    const bytes b = {
        0x02, 'g',                                        // group_id
        0x00, 0x00, 0x27, 0x10,                           // session_timeout_ms
        0x00, 0x00, 0x75, 0x30,                           // rebalance_timeout_ms
        0x01,                                             // member_id ""
        0x02, 'i',                                        // group_instance_id "i"
        0x09, 'c',  'o',  'n',  's', 'u', 'm', 'e', 'r',  // protocol_type
        0x02,                                             // protocols: 1
        0x06, 'r',  'a',  'n',  'g', 'e',                 //   name
        0x03, 0x00, 0x01,                                 //   metadata: compact, 2 bytes
        0x00,                                             //   no tags
        0x00,                                             // no tags
    };
    auto m = decode_exact<join_group_request>(b, 6);
    EXPECT_EQ(m.group_instance_id, "i");
    EXPECT_EQ(m.member_id, "");
    expect_encodes_to(m, 6, b);
}

TEST(golden, join_group_v5_response) {
    const bytes b = {
        0x00, 0x00, 0x00, 0x00,                  // throttle_time_ms
        0x00, 0x00,                              // error_code
        0x00, 0x00, 0x00, 0x01,                  // generation_id 1
        0x00, 0x05, 'r',  'a',  'n',  'g', 'e',  // protocol_name
        0x00, 0x02, 'm',  '1',                   // leader
        0x00, 0x02, 'm',  '1',                   // member_id
        0x00, 0x00, 0x00, 0x01,                  // members: 1
        0x00, 0x02, 'm',  '1',                   //   member_id
        0xff, 0xff,                              //   group_instance_id null
        0x00, 0x00, 0x00, 0x01, 0x07,            //   metadata (1 byte)
    };
    auto m = decode_exact<join_group_response>(b, 5);
    EXPECT_EQ(m.generation_id, 1);
    EXPECT_EQ(m.protocol_name, "range");
    EXPECT_EQ(m.leader, "m1");
    EXPECT_EQ(m.members[0].metadata, bytes{0x07});
    expect_encodes_to(m, 5, b);
}

TEST(golden, join_group_v6_response) {
    const bytes b = {
        0x00, 0x00, 0x00, 0x00,            // throttle_time_ms
        0x00, 0x00,                        // error_code
        0x00, 0x00, 0x00, 0x01,            // generation_id 1
        0x06, 'r',  'a',  'n',  'g', 'e',  // protocol_name
        0x03, 'm',  '1',                   // leader
        0x03, 'm',  '1',                   // member_id
        0x02,                              // members: 1
        0x03, 'm',  '1',                   //   member_id
        0x02, 'i',                         //   group_instance_id "i"
        0x02, 0x07,                        //   metadata: compact, 1 byte
        0x00,                              //   no tags
        0x00,                              // no tags
    };
    auto m = decode_exact<join_group_response>(b, 6);
    EXPECT_EQ(m.members[0].group_instance_id, "i");
    expect_encodes_to(m, 6, b);
}

}  // namespace
}  // namespace rill::protocol::messages
