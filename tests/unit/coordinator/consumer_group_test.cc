// The consumer group protocol (KIP-848) of one coordinator shard against a fake host: member
// epochs, the target assignment, revoke-before-assign reconciliation, leaving, expiry, the
// records and their replay, and the offset APIs' member epoch checks.
#include <gtest/gtest.h>

#include "coordinator/coordinator_shard.h"
#include "fake_shard_host.h"

namespace rill::coordinator {
namespace {

namespace m = protocol::messages;
using protocol::error_code;
using testing::fake_partition;
using testing::fake_shard_host;
using hb_request = m::consumer_group_heartbeat_request;
using hb_response = m::consumer_group_heartbeat_response;

int16_t wire_of(error_code e) {
    return static_cast<int16_t>(e);
}

broker_config test_config() {
    config_values v;
    v.set("group.initial.rebalance.delay.ms", "0");
    v.set("group.consumer.max.size", "3");
    auto c = broker_config::make(v);
    EXPECT_TRUE(c.has_value());
    return std::move(*c);
}

class ConsumerGroupTest : public ::testing::Test {
  protected:
    broker_config config = test_config();
    std::shared_ptr<fake_partition> log = std::make_shared<fake_partition>();
    std::shared_ptr<coordinator_shard> shard = make_shard();
    const protocol::uuid t_id = fake_partition::id_of("t");

    std::shared_ptr<coordinator_shard> make_shard() {
        return std::make_shared<coordinator_shard>(topic_partition{"__consumer_offsets", 0},
                                                   std::make_unique<fake_shard_host>(log), config);
    }

    static hb_request join_req(const std::string& id, std::vector<std::string> topics = {"t"}) {
        hb_request r;
        r.group_id = "g";
        r.member_id = id;
        r.member_epoch = 0;
        r.rebalance_timeout_ms = 30'000;
        r.subscribed_topic_names = std::move(topics);
        r.topic_partitions.emplace();
        return r;
    }

    hb_request beat_req(const std::string& id, int32_t epoch,
                        std::optional<assignment> owned = std::nullopt) {
        hb_request r;
        r.group_id = "g";
        r.member_id = id;
        r.member_epoch = epoch;
        if (owned) {
            r.topic_partitions.emplace();
            for (const auto& [t, ps] : *owned) {
                auto& tp = r.topic_partitions->emplace_back();
                tp.topic_id = t;
                tp.partitions.assign(ps.begin(), ps.end());
            }
        }
        return r;
    }

    std::shared_ptr<std::optional<hb_response>> send(hb_request r) {
        auto out = std::make_shared<std::optional<hb_response>>();
        shard->consumer_heartbeat(std::move(r), client_info{"client", "/127.0.0.1"},
                                  [out](hb_response resp) { *out = std::move(resp); });
        return out;
    }

    hb_response beat(hb_request r) {
        auto out = send(std::move(r));
        EXPECT_TRUE(out->has_value());
        return out->value_or(hb_response{});
    }

    assignment parts(std::set<int32_t> ps) { return {{t_id, std::move(ps)}}; }

    static std::optional<assignment> given(const hb_response& r) {
        if (!r.assignment) return std::nullopt;
        assignment a;
        for (const auto& tp : r.assignment->topic_partitions)
            a[tp.topic_id].insert(tp.partitions.begin(), tp.partitions.end());
        return a;
    }

    consumer_group& group() {
        auto* g = shard->find_consumer("g");
        if (!g) throw std::runtime_error("consumer group g does not exist");
        return *g;
    }

    // No partition is held by two members at once (assigned or still being revoked).
    void expect_exclusive() {
        std::map<std::pair<protocol::uuid, int32_t>, std::string> holder;
        for (const auto& [id, mem] : group().members)
            for (const auto* a : {&mem.assigned, &mem.pending_revocation})
                for (const auto& [t, ps] : *a)
                    for (int32_t p : ps) {
                        auto [it, fresh] = holder.emplace(std::make_pair(t, p), id);
                        EXPECT_TRUE(fresh)
                            << "partition " << p << " held by " << it->second << " and " << id;
                    }
    }
};

TEST_F(ConsumerGroupTest, FirstMemberGetsEveryPartition) {
    auto r = beat(join_req("a"));
    EXPECT_EQ(r.error_code, 0);
    EXPECT_EQ(r.member_id, "a");
    EXPECT_EQ(r.member_epoch, 1);
    EXPECT_EQ(r.heartbeat_interval_ms, 5000);
    EXPECT_EQ(given(r), parts({0, 1, 2, 3}));
    EXPECT_EQ(group().group_epoch, 1);
    EXPECT_STREQ(group().state_name(), "Stable");
    // A plain heartbeat changes nothing and sends no assignment.
    auto again = beat(beat_req("a", 1));
    EXPECT_EQ(again.member_epoch, 1);
    EXPECT_FALSE(again.assignment.has_value());
}

TEST_F(ConsumerGroupTest, PartitionsMoveOnlyAfterTheOwnerRevokesThem) {
    beat(join_req("a"));
    auto b = beat(join_req("b"));
    EXPECT_EQ(group().group_epoch, 2);
    // b is at the new epoch but a still owns everything: b waits for its partitions.
    EXPECT_EQ(b.member_epoch, 2);
    EXPECT_EQ(given(b), assignment{});
    EXPECT_EQ(group().find("b")->state, member_state::unreleased);
    EXPECT_STREQ(group().state_name(), "Reconciling");
    expect_exclusive();
    // a learns what to give up and keeps its epoch until it has.
    auto a = beat(beat_req("a", 1));
    EXPECT_EQ(a.member_epoch, 1);
    ASSERT_TRUE(given(a));
    const assignment kept = *given(a);
    EXPECT_EQ(partition_count(kept), 2u);
    EXPECT_EQ(group().find("a")->state, member_state::unrevoked);
    expect_exclusive();
    // b still gets nothing while a has not confirmed.
    EXPECT_EQ(given(beat(beat_req("b", 2, assignment{}))), std::nullopt);
    EXPECT_TRUE(group().find("b")->assigned.empty());
    // a confirms by reporting what it owns now: it moves to epoch 2 ...
    a = beat(beat_req("a", 1, kept));
    EXPECT_EQ(a.member_epoch, 2);
    EXPECT_EQ(group().find("a")->state, member_state::stable);
    // ... and b receives the revoked partitions on its next heartbeat.
    b = beat(beat_req("b", 2));
    ASSERT_TRUE(given(b));
    EXPECT_EQ(*given(b), minus(parts({0, 1, 2, 3}), kept));
    expect_exclusive();
    EXPECT_STREQ(group().state_name(), "Stable");
}

TEST_F(ConsumerGroupTest, EpochErrors) {
    beat(join_req("a"));
    EXPECT_EQ(beat(beat_req("a", 7)).error_code, wire_of(error_code::fenced_member_epoch));
    EXPECT_EQ(beat(beat_req("nobody", 1)).error_code, wire_of(error_code::unknown_member_id));
    // An older epoch is fenced unless it is the previous one with a subset of the assignment.
    beat(join_req("b"));
    auto a = beat(beat_req("a", 1));
    auto kept = *given(a);
    beat(beat_req("a", 1, kept));  // a is now at epoch 2, previous 1
    EXPECT_EQ(beat(beat_req("a", 1, kept)).error_code, 0);
    EXPECT_EQ(beat(beat_req("a", 1, parts({0, 1, 2, 3}))).error_code,
              wire_of(error_code::fenced_member_epoch));
    EXPECT_EQ(beat(beat_req("a", 0)).error_code, wire_of(error_code::invalid_request));
}

TEST_F(ConsumerGroupTest, RequestChecks) {
    auto no_topics = join_req("a");
    no_topics.subscribed_topic_names.reset();
    EXPECT_EQ(beat(no_topics).error_code, wire_of(error_code::invalid_request));
    auto no_id = join_req("");
    EXPECT_EQ(beat(no_id).error_code, wire_of(error_code::invalid_request));
    auto bad_assignor = join_req("a");
    bad_assignor.server_assignor = "sticky";
    EXPECT_EQ(beat(bad_assignor).error_code, wire_of(error_code::unsupported_assignor));
    EXPECT_EQ(shard->find_consumer("g"), nullptr);
    // group.consumer.max.size = 3
    for (auto id : {"a", "b", "c"})
        EXPECT_EQ(beat(join_req(id)).error_code, 0);
    EXPECT_EQ(beat(join_req("d")).error_code, wire_of(error_code::group_max_size_reached));
}

TEST_F(ConsumerGroupTest, RangeAssignorOnRequest) {
    auto a = join_req("a");
    a.server_assignor = "range";
    beat(a);
    auto b = join_req("b");
    b.server_assignor = "range";
    beat(b);
    EXPECT_EQ(group().target.at("a"), parts({0, 1}));
    EXPECT_EQ(group().target.at("b"), parts({2, 3}));
}

TEST_F(ConsumerGroupTest, LeavingHandsPartitionsToTheOthers) {
    beat(join_req("a"));
    beat(join_req("b"));
    auto kept = *given(beat(beat_req("a", 1)));
    beat(beat_req("a", 1, kept));
    beat(beat_req("b", 2));
    auto left = beat(beat_req("b", -1));
    EXPECT_EQ(left.error_code, 0);
    EXPECT_EQ(left.member_epoch, -1);
    EXPECT_EQ(group().find("b"), nullptr);
    EXPECT_EQ(group().group_epoch, 3);
    auto a = beat(beat_req("a", 2));
    EXPECT_EQ(a.member_epoch, 3);
    EXPECT_EQ(given(a), parts({0, 1, 2, 3}));
    beat(beat_req("a", -1));
    EXPECT_STREQ(group().state_name(), "Empty");
}

TEST_F(ConsumerGroupTest, SessionTimeoutRemovesTheMember) {
    beat(join_req("a"));
    beat(join_req("b"));
    log->now += 30'000;
    beat(beat_req("a", 1));
    log->now += 20'000;  // b silent for 50 s, a for 20 s
    shard->tick();
    EXPECT_EQ(group().find("b"), nullptr);
    ASSERT_NE(group().find("a"), nullptr);
    EXPECT_EQ(group().target.at("a"), parts({0, 1, 2, 3}));
}

TEST_F(ConsumerGroupTest, AMemberThatDoesNotRevokeInTimeIsRemoved) {
    beat(join_req("a"));
    beat(join_req("b"));
    beat(beat_req("a", 1));  // must revoke two partitions within 30 s
    for (int i = 0; i < 4; ++i) {
        log->now += 10'000;
        beat(beat_req("a", 1));  // keeps heartbeating, never revokes
        beat(beat_req("b", 2));
        shard->tick();
    }
    EXPECT_EQ(group().find("a"), nullptr);
    beat(beat_req("b", group().find("b")->member_epoch));
    EXPECT_EQ(group().find("b")->assigned, parts({0, 1, 2, 3}));
}

TEST_F(ConsumerGroupTest, StateChangesOnlyOnceTheRecordsAreCommitted) {
    log->auto_commit = false;
    auto out = send(join_req("a"));
    EXPECT_FALSE(out->has_value());
    EXPECT_EQ(shard->find_consumer("g"), nullptr);
    // A second request of the group waits for the first.
    auto second = send(join_req("b"));
    EXPECT_FALSE(second->has_value());
    log->commit_all();
    ASSERT_TRUE(out->has_value());
    EXPECT_EQ((*out)->member_epoch, 1);
    EXPECT_FALSE(second->has_value());  // its own write is now pending
    log->commit_all();
    ASSERT_TRUE(second->has_value());
    EXPECT_EQ((*second)->member_epoch, 2);
    EXPECT_EQ(group().members.size(), 2u);
}

TEST_F(ConsumerGroupTest, FailedWriteChangesNothing) {
    beat(join_req("a"));
    log->fail_appends = error_code::not_leader_or_follower;
    auto r = beat(join_req("b"));
    EXPECT_EQ(r.error_code, wire_of(error_code::not_coordinator));
    EXPECT_EQ(group().members.size(), 1u);
    EXPECT_EQ(group().group_epoch, 1);
}

TEST_F(ConsumerGroupTest, ReloadReplaysTheGroup) {
    beat(join_req("a"));
    beat(join_req("b"));
    auto kept = *given(beat(beat_req("a", 1)));  // a is revoking
    const consumer_group before = group();
    shard = make_shard();
    ASSERT_EQ(shard->ready(), error_code::none);
    const auto& after = group();
    EXPECT_EQ(after.group_epoch, before.group_epoch);
    EXPECT_EQ(after.assignment_epoch, before.assignment_epoch);
    EXPECT_EQ(after.target, before.target);
    EXPECT_EQ(after.topics, before.topics);
    ASSERT_EQ(after.members.size(), 2u);
    for (const auto& [id, mem] : before.members) {
        EXPECT_TRUE(after.members.at(id).same_metadata(mem));
        EXPECT_TRUE(after.members.at(id).same_current(mem));
    }
    // The reloaded group continues where it was.
    EXPECT_EQ(beat(beat_req("a", 1, kept)).member_epoch, 2);
    // A member that left stays gone after a reload.
    beat(beat_req("b", -1));
    shard = make_shard();
    ASSERT_EQ(shard->ready(), error_code::none);
    EXPECT_EQ(group().members.size(), 1u);
    EXPECT_EQ(group().group_epoch, 3);
}

TEST_F(ConsumerGroupTest, NewPartitionsBumpTheGroupEpoch) {
    beat(join_req("a"));
    log->topics["t"] = 6;
    auto r = beat(beat_req("a", 1));
    EXPECT_EQ(group().group_epoch, 2);
    EXPECT_EQ(r.member_epoch, 2);
    EXPECT_EQ(given(r), parts({0, 1, 2, 3, 4, 5}));
    // A topic created after subscribing is picked up too.
    auto sub = beat_req("a", 2);
    sub.subscribed_topic_names = std::vector<std::string>{"t", "new"};
    beat(sub);
    log->topics["new"] = 1;
    r = beat(beat_req("a", group().find("a")->member_epoch));
    ASSERT_TRUE(given(r));
    EXPECT_EQ(given(r)->count(fake_partition::id_of("new")), 1u);
}

TEST_F(ConsumerGroupTest, OffsetCommitAndFetchCheckMemberEpochs) {
    beat(join_req("a"));
    auto commit = [&](const std::string& member, int32_t epoch, bool v9 = true) {
        m::offset_commit_request r;
        r.group_id = "g";
        r.member_id = member;
        r.generation_id_or_member_epoch = epoch;
        auto& t = r.topics.emplace_back();
        t.name = "t";
        auto& p = t.partitions.emplace_back();
        p.partition_index = 0;
        p.committed_offset = 42;
        int16_t code = -1;
        commit_options o;
        o.consumer_protocol = v9;
        shard->commit(
            r,
            [&](m::offset_commit_response resp) {
                code = resp.topics.at(0).partitions.at(0).error_code;
            },
            o);
        return code;
    };
    // Below v9 a member of a consumer-protocol group is refused (Kafka's rule), after the
    // member check; an unknown member still gets UNKNOWN_MEMBER_ID.
    EXPECT_EQ(commit("a", 1, false), wire_of(error_code::unsupported_version));
    EXPECT_EQ(commit("x", 1, false), wire_of(error_code::unknown_member_id));
    EXPECT_EQ(commit("a", 0), wire_of(error_code::stale_member_epoch));
    EXPECT_EQ(commit("a", 2), wire_of(error_code::fenced_member_epoch));
    EXPECT_EQ(commit("x", 1), wire_of(error_code::unknown_member_id));
    EXPECT_EQ(commit("", -1), wire_of(error_code::unknown_member_id));  // the group has members
    EXPECT_EQ(commit("a", 1), 0);
    using topics = std::vector<std::pair<std::string, std::vector<int32_t>>>;
    auto f = shard->fetch("g", topics{{"t", {0}}}, std::string("a"), 1);
    EXPECT_EQ(f.error_code, 0);
    EXPECT_EQ(f.topics.at(0).partitions.at(0).committed_offset, 42);
    EXPECT_EQ(shard->fetch("g", topics{{"t", {0}}}, std::string("a"), 0).error_code,
              wire_of(error_code::stale_member_epoch));
    EXPECT_EQ(shard->fetch("g", topics{{"t", {0}}}, std::string("x"), 1).error_code,
              wire_of(error_code::unknown_member_id));
    EXPECT_EQ(shard->fetch("g", topics{{"t", {0}}}).error_code, 0);  // an admin fetch
    // Once empty, the group takes simple commits again.
    beat(beat_req("a", -1));
    EXPECT_EQ(commit("", -1), 0);
    EXPECT_EQ(commit("", -1, false), 0);  // simple commits of an empty group: any version
}

TEST_F(ConsumerGroupTest, DeleteGroupAndDescribe) {
    beat(join_req("a"));
    auto d = shard->consumer_describe("g");
    EXPECT_EQ(d.error_code, 0);
    EXPECT_EQ(d.group_state, "Stable");
    EXPECT_EQ(d.group_epoch, 1);
    EXPECT_EQ(d.assignor_name, "uniform");
    ASSERT_EQ(d.members.size(), 1u);
    EXPECT_EQ(d.members[0].member_epoch, 1);
    EXPECT_EQ(d.members[0].assignment.topic_partitions.at(0).topic_name, "t");
    EXPECT_EQ(d.members[0].target_assignment.topic_partitions.at(0).partitions.size(), 4u);
    EXPECT_EQ(shard->consumer_describe("nope").error_code, wire_of(error_code::group_id_not_found));

    error_code e = error_code::unknown_server_error;
    shard->delete_group("g", [&](error_code r) { e = r; });
    EXPECT_EQ(e, error_code::non_empty_group);
    beat(beat_req("a", -1));
    shard->delete_group("g", [&](error_code r) { e = r; });
    EXPECT_EQ(e, error_code::none);
    EXPECT_EQ(shard->find_group("g"), nullptr);
    shard = make_shard();
    ASSERT_EQ(shard->ready(), error_code::none);
    EXPECT_EQ(shard->find_group("g"), nullptr);
}

TEST_F(ConsumerGroupTest, AClassicGroupWithMembersIsNotAConsumerGroup) {
    m::join_group_request j;
    j.group_id = "g";
    j.session_timeout_ms = 10'000;
    j.rebalance_timeout_ms = 10'000;
    j.protocol_type = "consumer";
    j.protocols.emplace_back().name = "range";
    join_options o;
    o.require_known_member_id = false;
    shard->join(j, o, client_info{}, [](m::join_group_response) {});
    EXPECT_EQ(beat(join_req("a")).error_code, wire_of(error_code::group_id_not_found));
}

TEST_F(ConsumerGroupTest, AnOffsetsOnlyGroupBecomesAConsumerGroup) {
    m::offset_commit_request r;
    r.group_id = "g";
    auto& t = r.topics.emplace_back();
    t.name = "t";
    t.partitions.emplace_back().committed_offset = 5;
    shard->commit(r, [](m::offset_commit_response) {});
    ASSERT_NE(shard->find_classic("g"), nullptr);
    EXPECT_EQ(beat(join_req("a")).error_code, 0);
    EXPECT_NE(shard->find_consumer("g"), nullptr);
    using topics = std::vector<std::pair<std::string, std::vector<int32_t>>>;
    EXPECT_EQ(shard->fetch("g", topics{{"t", {0}}}).topics.at(0).partitions.at(0).committed_offset,
              5);
    shard = make_shard();
    ASSERT_EQ(shard->ready(), error_code::none);
    EXPECT_NE(shard->find_consumer("g"), nullptr);
}

// ---- static members (instance ids) ----

class StaticMemberTest : public ConsumerGroupTest {
  protected:
    static hb_request static_join(const std::string& id, const std::string& instance) {
        auto r = join_req(id);
        r.instance_id = instance;
        return r;
    }
    hb_request static_beat(const std::string& id, const std::string& instance, int32_t epoch,
                           std::optional<assignment> owned = std::nullopt) {
        auto r = beat_req(id, epoch, std::move(owned));
        r.instance_id = instance;
        return r;
    }
    // a (static, instance "i1") and b (dynamic) share the topic, reconciled: a's partitions.
    assignment two_members() {
        beat(static_join("a", "i1"));
        beat(join_req("b"));
        auto kept = *given(beat(static_beat("a", "i1", 1)));
        EXPECT_EQ(beat(static_beat("a", "i1", 1, kept)).member_epoch, 2);
        beat(beat_req("b", 2));
        EXPECT_STREQ(group().state_name(), "Stable");
        return kept;
    }
};

TEST_F(StaticMemberTest, ALeavingStaticMemberKeepsItsPartitionsUntilReplaced) {
    const auto a_parts = two_members();
    const auto b_parts = group().find("b")->assigned;
    // Epoch -2: a leaves for now; the group epoch stays and b gets none of a's partitions.
    auto left = beat(static_beat("a", "i1", -2));
    EXPECT_EQ(left.error_code, 0);
    EXPECT_EQ(left.member_epoch, -2);
    EXPECT_EQ(group().group_epoch, 2);
    ASSERT_NE(group().find("a"), nullptr);
    EXPECT_EQ(group().find("a")->member_epoch, -2);
    EXPECT_EQ(group().find("a")->assigned, a_parts);
    auto b = beat(beat_req("b", 2, b_parts));
    EXPECT_EQ(b.error_code, 0);
    EXPECT_FALSE(b.assignment.has_value());
    EXPECT_EQ(group().find("b")->assigned, b_parts);

    // c comes back as instance i1: it takes a's place and partitions at once.
    auto c = beat(static_join("c", "i1"));
    EXPECT_EQ(c.error_code, 0);
    EXPECT_EQ(c.member_epoch, 2);
    EXPECT_EQ(given(c), a_parts);
    EXPECT_EQ(group().group_epoch, 2);  // same subscription: no new group epoch
    EXPECT_EQ(group().find("a"), nullptr);
    EXPECT_EQ(group().target.count("a"), 0u);
    EXPECT_EQ(group().target.at("c"), a_parts);
    expect_exclusive();
    // The old member id is fenced.
    EXPECT_EQ(beat(static_beat("a", "i1", 2)).error_code, wire_of(error_code::fenced_instance_id));
    EXPECT_EQ(beat(static_beat("c", "i1", 2, a_parts)).error_code, 0);
    EXPECT_STREQ(group().state_name(), "Stable");

    // The replacement survives a reload: a's records were deleted, c's written.
    shard = make_shard();
    ASSERT_EQ(shard->ready(), error_code::none);
    EXPECT_EQ(group().find("a"), nullptr);
    ASSERT_NE(group().find("c"), nullptr);
    EXPECT_EQ(group().find("c")->instance_id, "i1");
    EXPECT_EQ(group().find("c")->assigned, a_parts);
}

TEST_F(StaticMemberTest, AnInstanceIdThatIsStillHeldIsUnreleased) {
    two_members();
    auto c = beat(static_join("c", "i1"));
    EXPECT_EQ(c.error_code, wire_of(error_code::unreleased_instance_id));
    EXPECT_EQ(group().find("c"), nullptr);
    EXPECT_EQ(group().group_epoch, 2);
    // Requests naming an unknown instance, or another member's, are refused.
    EXPECT_EQ(beat(static_beat("b", "i9", 2)).error_code, wire_of(error_code::unknown_member_id));
    EXPECT_EQ(beat(static_beat("b", "i1", 2)).error_code, wire_of(error_code::fenced_instance_id));
    EXPECT_EQ(beat(static_beat("b", "i1", -2)).error_code, wire_of(error_code::fenced_instance_id));
    ASSERT_NE(group().find("a"), nullptr);
    EXPECT_EQ(group().find("a")->member_epoch, 2);
}

TEST_F(StaticMemberTest, ALeftStaticMemberIsRemovedAfterItsSessionTimeout) {
    two_members();
    beat(static_beat("a", "i1", -2));
    shard = make_shard();  // the temporary leave is persisted
    ASSERT_EQ(shard->ready(), error_code::none);
    ASSERT_NE(group().find("a"), nullptr);
    EXPECT_EQ(group().find("a")->member_epoch, -2);
    log->now += 30'000;
    beat(beat_req("b", 2, group().find("b")->assigned));
    shard->tick();
    ASSERT_NE(group().find("a"), nullptr);  // 30 s: still within its session
    log->now += 20'000;
    beat(beat_req("b", 2, group().find("b")->assigned));
    shard->tick();
    EXPECT_EQ(group().find("a"), nullptr);
    EXPECT_EQ(group().group_epoch, 3);
    auto b = beat(beat_req("b", 2, group().find("b")->assigned));
    EXPECT_EQ(b.member_epoch, 3);
    EXPECT_EQ(given(b), parts({0, 1, 2, 3}));
    // Epoch -1 with an instance id is a real leave: the member goes at once.
    beat(static_join("d", "i2"));
    EXPECT_EQ(beat(static_beat("d", "i2", -1)).member_epoch, -1);
    EXPECT_EQ(group().find("d"), nullptr);
}

TEST_F(ConsumerGroupTest, MembersRacksMeetTheReplicasRacks) {
    log->racks["t"] = {{"r1"}, {"r1"}, {"r2"}, {"r2"}};
    auto ra = join_req("a");
    ra.rack_id = "r2";
    auto rb = join_req("b");
    rb.rack_id = "r1";
    beat(ra);
    beat(rb);
    EXPECT_EQ(group().target.at("a"), parts({2, 3}));
    EXPECT_EQ(group().target.at("b"), parts({0, 1}));
}

// ---- regex subscriptions ----

TEST_F(ConsumerGroupTest, ARegexSubscriptionFollowsTheTopicList) {
    auto r = join_req("a");
    r.subscribed_topic_names.reset();
    r.subscribed_topic_regex = "t.*";  // a full match: t and tx, not u
    log->topics["tx"] = 1;
    auto a = beat(r);
    ASSERT_EQ(a.error_code, 0) << a.error_message.value_or("");
    const auto tx = fake_partition::id_of("tx");
    assignment want{{t_id, {0, 1, 2, 3}}, {tx, {0}}};
    EXPECT_EQ(given(a), want);
    EXPECT_EQ(group().find("a")->subscribed_regex, "t.*");
    EXPECT_TRUE(group().subscribed_to("tx"));
    EXPECT_FALSE(group().subscribed_to("u"));
    const int32_t epoch = group().group_epoch;

    // A topic created later that matches: a new group epoch, and the member gets it.
    log->topics["tnew"] = 2;
    auto b = beat(beat_req("a", a.member_epoch, want));
    EXPECT_EQ(group().group_epoch, epoch + 1);
    want[fake_partition::id_of("tnew")] = {0, 1};
    EXPECT_EQ(given(b), want);
    // One that does not match changes nothing.
    log->topics["other"] = 3;
    auto c = beat(beat_req("a", b.member_epoch, want));
    EXPECT_EQ(group().group_epoch, epoch + 1);
    EXPECT_FALSE(c.assignment.has_value());
    // A deleted topic leaves the assignment.
    log->topics.erase("tx");
    auto d = beat(beat_req("a", c.member_epoch, want));
    EXPECT_EQ(group().group_epoch, epoch + 2);
    want.erase(tx);
    EXPECT_EQ(given(d), want);

    // Names and a regex together: the union. An empty regex clears it.
    auto both = beat_req("a", d.member_epoch, want);
    both.subscribed_topic_names = std::vector<std::string>{"u"};
    auto e = beat(both);
    want[fake_partition::id_of("u")] = {0, 1};
    EXPECT_EQ(given(e), want);
    auto clear = beat_req("a", e.member_epoch, want);
    clear.subscribed_topic_regex = "";
    auto f = beat(clear);
    EXPECT_FALSE(group().find("a")->subscribed_regex.has_value());
    EXPECT_EQ(group().target.at("a"), (assignment{{fake_partition::id_of("u"), {0, 1}}}));
    (void)f;

    // The regex survives a reload and resolves again on the next heartbeat.
    auto again = beat_req("a", group().find("a")->member_epoch);
    again.subscribed_topic_regex = "t.*";
    beat(again);
    shard = make_shard();
    ASSERT_EQ(shard->ready(), error_code::none);
    EXPECT_EQ(group().find("a")->subscribed_regex, "t.*");
    EXPECT_TRUE(group().subscribed_to("tnew"));  // resolved at load (offset expiry needs it)
    const int32_t loaded_epoch = group().group_epoch;
    beat(beat_req("a", group().find("a")->member_epoch));
    EXPECT_EQ(group().group_epoch, loaded_epoch);  // same topics: nothing changed
    EXPECT_TRUE(group().subscribed_to("tnew"));
}

TEST_F(ConsumerGroupTest, AnInvalidRegexIsRefused) {
    auto r = join_req("a");
    r.subscribed_topic_names.reset();
    r.subscribed_topic_regex = "t(";
    auto a = beat(r);
    EXPECT_EQ(a.error_code, wire_of(error_code::invalid_regular_expression));
    ASSERT_TRUE(a.error_message.has_value());
    EXPECT_NE(a.error_message->find("t("), std::string::npos);
    EXPECT_EQ(shard->find_consumer("g"), nullptr);
}

}  // namespace
}  // namespace rill::coordinator
