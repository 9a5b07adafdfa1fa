// The server-side assignors of the consumer protocol: balance, stickiness, subscriptions.
#include "coordinator/assignors.h"

#include <gtest/gtest.h>

namespace rill::coordinator {
namespace {

protocol::uuid topic(uint8_t n) {
    protocol::uuid u;
    u.b[0] = n;
    return u;
}

assignor_member member(std::string id, std::set<protocol::uuid> topics, assignment prev = {}) {
    return assignor_member{std::move(id), std::move(topics), std::move(prev)};
}

// Every partition of `in` is assigned exactly once, and only to a subscriber.
void expect_complete(const assignor_input& in, const std::map<std::string, assignment>& out) {
    std::map<std::pair<protocol::uuid, int32_t>, int> seen;
    for (const auto& m : in.members) {
        ASSERT_TRUE(out.count(m.id));
        for (const auto& [t, ps] : out.at(m.id)) {
            EXPECT_TRUE(m.topics.count(t)) << m.id << " got a topic it does not subscribe to";
            for (int32_t p : ps)
                ++seen[std::make_pair(t, p)];
        }
    }
    for (const auto& [t, n] : in.topics)
        for (int32_t p = 0; p < n; ++p)
            EXPECT_EQ(seen[std::make_pair(t, p)], 1) << "partition " << p;
}

TEST(UniformAssignor, BalancesIdenticalSubscriptions) {
    assignor_input in;
    in.topics = {{topic(1), 8}};
    for (auto id : {"a", "b", "c"})
        in.members.push_back(member(id, {topic(1)}));
    auto out = assign_uniform(in);
    expect_complete(in, out);
    std::multiset<size_t> counts;
    for (const auto& [id, a] : out)
        counts.insert(partition_count(a));
    EXPECT_EQ(counts, (std::multiset<size_t>{2, 3, 3}));
}

TEST(UniformAssignor, KeepsPreviousAssignmentsWhenAMemberJoins) {
    assignor_input in;
    in.topics = {{topic(1), 8}};
    in.members.push_back(member("a", {topic(1)}, {{topic(1), {0, 1, 2, 3}}}));
    in.members.push_back(member("b", {topic(1)}, {{topic(1), {4, 5, 6, 7}}}));
    in.members.push_back(member("c", {topic(1)}));
    auto out = assign_uniform(in);
    expect_complete(in, out);
    // a and b only give partitions up; two move in all (8 = 3 + 3 + 2).
    EXPECT_TRUE(contains_all(in.members[0].previous, out["a"]));
    EXPECT_TRUE(contains_all(in.members[1].previous, out["b"]));
    EXPECT_GE(partition_count(out["a"]), 2u);
    EXPECT_GE(partition_count(out["b"]), 2u);
    EXPECT_EQ(partition_count(out["c"]),
              8u - partition_count(out["a"]) - partition_count(out["b"]));
    EXPECT_GE(partition_count(out["c"]), 2u);
}

TEST(UniformAssignor, DropsPartitionsOfTopicsNoLongerSubscribedOrGone) {
    assignor_input in;
    in.topics = {{topic(1), 2}};
    in.members.push_back(
        member("a", {topic(1)}, {{topic(1), {0, 1, 5}}, {topic(2), {0}}}));  // 5 and t2 gone
    auto out = assign_uniform(in);
    expect_complete(in, out);
    EXPECT_EQ(out["a"], (assignment{{topic(1), {0, 1}}}));
}

TEST(UniformAssignor, HeterogeneousSubscriptions) {
    assignor_input in;
    in.topics = {{topic(1), 4}, {topic(2), 4}};
    in.members.push_back(member("a", {topic(1)}));
    in.members.push_back(member("b", {topic(1), topic(2)}));
    auto out = assign_uniform(in);
    expect_complete(in, out);
    // Only b takes topic 2; topic 1 then goes to a so both hold four.
    EXPECT_EQ(partition_count(out["a"]), 4u);
    EXPECT_EQ(partition_count(out["b"]), 4u);
}

TEST(UniformAssignor, MembersWithoutTopicsGetNothing) {
    assignor_input in;
    in.topics = {{topic(1), 3}};
    in.members.push_back(member("a", {topic(1)}));
    in.members.push_back(member("b", {}));
    auto out = assign_uniform(in);
    expect_complete(in, out);
    EXPECT_TRUE(out["b"].empty());
}

// ---- rack awareness ----

assignor_member racked(std::string id, std::string rack, assignment prev = {}) {
    auto m = member(std::move(id), {topic(1)}, std::move(prev));
    m.rack = std::move(rack);
    return m;
}

TEST(UniformAssignor, RackAwarePrefersMembersInTheReplicasRacks) {
    assignor_input in;
    in.topics = {{topic(1), 6}};
    in.racks[topic(1)] = {{"r1"}, {"r1"}, {"r1"}, {"r2"}, {"r2"}, {"r2"}};
    in.members.push_back(racked("a", "r2"));
    in.members.push_back(racked("b", "r1"));
    auto out = assign_uniform(in);
    expect_complete(in, out);
    EXPECT_EQ(out["a"], (assignment{{topic(1), {3, 4, 5}}}));
    EXPECT_EQ(out["b"], (assignment{{topic(1), {0, 1, 2}}}));
}

TEST(UniformAssignor, RackAwareKeepsBalanceFirst) {
    assignor_input in;
    in.topics = {{topic(1), 4}};
    in.racks[topic(1)] = {{"r1"}, {"r1"}, {"r1"}, {"r1"}};  // every replica in r1
    in.members.push_back(racked("a", "r1"));
    in.members.push_back(racked("b", "r2"));
    auto out = assign_uniform(in);
    expect_complete(in, out);
    EXPECT_EQ(partition_count(out["a"]), 2u);
    EXPECT_EQ(partition_count(out["b"]), 2u);
}

TEST(UniformAssignor, RackAwareMovesTheRemotePartitionsWhenAMemberJoins) {
    assignor_input in;
    in.topics = {{topic(1), 4}};
    in.racks[topic(1)] = {{"r1", "r3"}, {"r2"}, {"r1"}, {"r2", "r3"}};
    in.members.push_back(racked("a", "r1", {{topic(1), {0, 1, 2, 3}}}));
    in.members.push_back(racked("b", "r2"));
    auto out = assign_uniform(in);
    expect_complete(in, out);
    // a keeps its local partitions; the ones with replicas in r2 move to b.
    EXPECT_EQ(out["a"], (assignment{{topic(1), {0, 2}}}));
    EXPECT_EQ(out["b"], (assignment{{topic(1), {1, 3}}}));
    // Without racks the same input only balances (a keeps a sticky half).
    in.racks.clear();
    auto plain = assign_uniform(in);
    EXPECT_EQ(partition_count(plain["b"]), 2u);
}

TEST(RangeAssignor, ContiguousRangesPerTopic) {
    assignor_input in;
    in.topics = {{topic(1), 5}, {topic(2), 2}};
    in.members.push_back(member("m2", {topic(1), topic(2)}));
    in.members.push_back(member("m1", {topic(1)}));
    auto out = assign_range(in);
    expect_complete(in, out);
    EXPECT_EQ(out["m1"], (assignment{{topic(1), {0, 1, 2}}}));
    EXPECT_EQ(out["m2"], (assignment{{topic(1), {3, 4}}, {topic(2), {0, 1}}}));
}

TEST(Assignors, Names) {
    EXPECT_EQ(assignor_name("uniform"), "uniform");
    EXPECT_EQ(assignor_name("org.apache.kafka.coordinator.group.assignor.RangeAssignor"), "range");
    EXPECT_EQ(assignor_name("roundrobin"), std::nullopt);
}

}  // namespace
}  // namespace rill::coordinator
