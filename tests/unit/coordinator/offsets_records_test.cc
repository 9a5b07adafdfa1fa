#include "coordinator/offsets_records.h"

#include <gtest/gtest.h>

#include "coordinator/group_coordinator.h"

namespace rill::coordinator {
namespace {

namespace m = protocol::messages;

TEST(GroupPlacement, JavaStringHashMatchesJava) {
    EXPECT_EQ(java_string_hash(""), 0);
    EXPECT_EQ(java_string_hash("a"), 97);
    EXPECT_EQ(java_string_hash("hello"), 99162322);
    // The one ASCII string whose hashCode is Integer.MIN_VALUE.
    EXPECT_EQ(java_string_hash("polygenelubricants"), std::numeric_limits<int32_t>::min());
    EXPECT_EQ(java_string_hash("\xC3\xA9"), 0xE9);  // U+00E9, one UTF-16 unit
    // U+1F600 is the surrogate pair D83D DE00.
    EXPECT_EQ(java_string_hash("\xF0\x9F\x98\x80"), 0xD83D * 31 + 0xDE00);
    // Invalid UTF-8 counts as U+FFFD.
    EXPECT_EQ(java_string_hash("\xFF"), 0xFFFD);
}

TEST(GroupPlacement, PartitionForGroupUsesKafkasAbs) {
    EXPECT_EQ(partition_for_group("polygenelubricants", 50), 0);  // abs(MIN_VALUE) -> 0
    EXPECT_EQ(partition_for_group("hello", 50), 99162322 % 50);
    int32_t h = java_string_hash("my-group");
    EXPECT_EQ(partition_for_group("my-group", 50), (h < 0 ? -h : h) % 50);
    for (const char* g : {"", "a", "consumer-group-17", "\xE2\x82\xAC"}) {
        int32_t p = partition_for_group(g, 7);
        EXPECT_GE(p, 0);
        EXPECT_LT(p, 7);
    }
}

TEST(OffsetsRecords, KeysRoundTripInKafkasVersions) {
    auto k = encode_offset_key({"g", "orders", 3});
    ASSERT_GE(k.size(), 2u);
    EXPECT_EQ(k[0], 0);
    EXPECT_EQ(k[1], 1);  // OffsetCommitKey version 1
    auto dk = decode_key(k);
    ASSERT_TRUE(dk);
    auto* ok = std::get_if<offset_key>(&*dk);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->group, "g");
    EXPECT_EQ(ok->topic, "orders");
    EXPECT_EQ(ok->partition, 3);

    auto gk = encode_group_key("g");
    EXPECT_EQ(gk[1], 2);  // GroupMetadataKey version 2
    auto dg = decode_key(gk);
    ASSERT_TRUE(dg);
    ASSERT_TRUE(std::get_if<group_key>(&*dg));
    EXPECT_EQ(std::get<group_key>(*dg).group, "g");

    protocol::bytes other{0, 7, 1, 2};
    auto d7 = decode_key(other);
    ASSERT_TRUE(d7);
    EXPECT_EQ(std::get<other_key>(*d7).version, 7);
    EXPECT_FALSE(decode_key(protocol::bytes{0}));
    EXPECT_FALSE(decode_key(protocol::bytes{0, 1, 0, 9}));  // truncated group string
}

TEST(OffsetsRecords, OffsetValueVersionFollowsExpireTimestamp) {
    m::offset_commit_value v;
    v.offset = 42;
    v.leader_epoch = 5;
    v.metadata = "meta";
    v.commit_timestamp = 1000;
    auto b = encode_offset_value(v);
    EXPECT_EQ(b[1], 3);
    auto d = decode_offset_value(b);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, v);

    v.expire_timestamp = 5000;
    v.leader_epoch = -1;  // not in version 1
    b = encode_offset_value(v);
    EXPECT_EQ(b[1], 1);
    d = decode_offset_value(b);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->offset, 42);
    EXPECT_EQ(d->expire_timestamp, 5000);
    EXPECT_FALSE(decode_offset_value(protocol::bytes{0, 9, 1}));
}

TEST(OffsetsRecords, GroupValueRoundTrip) {
    m::group_metadata_value v;
    v.protocol_type = "consumer";
    v.generation = 7;
    v.protocol = "range";
    v.leader = "m1";
    v.current_state_timestamp = 123;
    auto& mm = v.members.emplace_back();
    mm.member_id = "m1";
    mm.group_instance_id = "i1";
    mm.client_id = "c";
    mm.client_host = "/127.0.0.1";
    mm.rebalance_timeout = 30000;
    mm.session_timeout = 10000;
    mm.subscription = {1, 2};
    mm.assignment = {3};
    auto b = encode_group_value(v);
    EXPECT_EQ(b[1], 3);
    auto d = decode_group_value(b);
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, v);
    b.resize(b.size() - 3);
    EXPECT_FALSE(decode_group_value(b));
}

}  // namespace
}  // namespace rill::coordinator
