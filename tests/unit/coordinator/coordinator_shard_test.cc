// The classic group state machine and the offsets manager of one coordinator shard, against
// a fake host (no broker, no sockets): commits become visible only once their records are
// committed, failed writes change nothing, loading replays the partition.
#include "coordinator/coordinator_shard.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "coordinator/offsets_records.h"
#include "fake_shard_host.h"

namespace rill::coordinator {
namespace {

namespace m = protocol::messages;
using protocol::error_code;
using testing::fake_partition;
using testing::fake_shard_host;

constexpr int32_t kSession = 10'000;
constexpr int32_t kRebalance = 20'000;

broker_config test_config() {
    config_values v;
    v.set("group.initial.rebalance.delay.ms", "0");
    v.set("offsets.retention.minutes", "1");
    v.set("offsets.retention.check.interval.ms", "1000");
    auto c = broker_config::make(v);
    EXPECT_TRUE(c.has_value());
    return std::move(*c);
}

class CoordinatorShardTest : public ::testing::Test {
  protected:
    broker_config config = test_config();
    std::shared_ptr<fake_partition> log = std::make_shared<fake_partition>();
    std::shared_ptr<coordinator_shard> shard = make_shard();

    std::shared_ptr<coordinator_shard> make_shard() {
        return std::make_shared<coordinator_shard>(topic_partition{"__consumer_offsets", 0},
                                                   std::make_unique<fake_shard_host>(log), config);
    }

    static m::join_group_request join_req(const std::string& member_id = "") {
        m::join_group_request r;
        r.group_id = "g";
        r.member_id = member_id;
        r.session_timeout_ms = kSession;
        r.rebalance_timeout_ms = kRebalance;
        r.protocol_type = "consumer";
        auto& p = r.protocols.emplace_back();
        p.name = "range";
        p.metadata = {1, 2, 3};
        return r;
    }

    // JoinGroup; the answer (nullopt while the join waits).
    std::shared_ptr<std::optional<m::join_group_response>> join(m::join_group_request r,
                                                                bool known_id = false) {
        auto out = std::make_shared<std::optional<m::join_group_response>>();
        join_options o;
        o.require_known_member_id = known_id;
        shard->join(std::move(r), o, client_info{"client", "/127.0.0.1"},
                    [out](m::join_group_response resp) { *out = std::move(resp); });
        return out;
    }

    std::shared_ptr<std::optional<m::sync_group_response>> sync(
        const std::string& member, int32_t generation,
        std::vector<std::pair<std::string, protocol::bytes>> assignments = {}) {
        m::sync_group_request r;
        r.group_id = "g";
        r.member_id = member;
        r.generation_id = generation;
        for (auto& [id, bytes] : assignments) {
            auto& a = r.assignments.emplace_back();
            a.member_id = id;
            a.assignment = bytes;
        }
        auto out = std::make_shared<std::optional<m::sync_group_response>>();
        shard->sync(std::move(r), [out](m::sync_group_response resp) { *out = std::move(resp); });
        return out;
    }

    error_code heartbeat(const std::string& member, int32_t generation) {
        m::heartbeat_request r;
        r.group_id = "g";
        r.member_id = member;
        r.generation_id = generation;
        return shard->heartbeat(r);
    }

    // One member joined and synced: {member id, generation}.
    std::pair<std::string, int32_t> stable_group_of_one() {
        auto j = join(join_req());
        EXPECT_TRUE(j->has_value());
        const std::string id = (*j)->member_id;
        const int32_t gen = (*j)->generation_id;
        auto s = sync(id, gen, {{id, {9, 9}}});
        EXPECT_TRUE(s->has_value());
        EXPECT_EQ(group().state(), group_state::stable);
        return {id, gen};
    }

    classic_group& group() {
        auto* g = shard->find_classic("g");
        if (!g) throw std::runtime_error("group g does not exist");
        return *g;
    }

    std::shared_ptr<std::optional<m::offset_commit_response>> commit(const std::string& group_id,
                                                                     const std::string& topic,
                                                                     int32_t partition,
                                                                     int64_t offset) {
        m::offset_commit_request r;
        r.group_id = group_id;
        auto& t = r.topics.emplace_back();
        t.name = topic;
        auto& p = t.partitions.emplace_back();
        p.partition_index = partition;
        p.committed_offset = offset;
        auto out = std::make_shared<std::optional<m::offset_commit_response>>();
        shard->commit(r, [out](m::offset_commit_response resp) { *out = std::move(resp); });
        return out;
    }

    int64_t fetched(const std::string& group_id, const std::string& topic, int32_t partition) {
        auto g = shard->fetch(group_id, std::vector<std::pair<std::string, std::vector<int32_t>>>{
                                            {topic, {partition}}});
        EXPECT_EQ(g.error_code, 0);
        return g.topics.at(0).partitions.at(0).committed_offset;
    }
};

int16_t wire(error_code e) {
    return static_cast<int16_t>(e);
}

TEST(ClassicGroupStates, TransitionTableIsKafkas) {
    using s = group_state;
    EXPECT_TRUE(valid_transition(s::empty, s::preparing_rebalance));
    EXPECT_TRUE(valid_transition(s::preparing_rebalance, s::completing_rebalance));
    EXPECT_TRUE(valid_transition(s::preparing_rebalance, s::empty));
    EXPECT_TRUE(valid_transition(s::completing_rebalance, s::stable));
    EXPECT_TRUE(valid_transition(s::completing_rebalance, s::preparing_rebalance));
    EXPECT_TRUE(valid_transition(s::stable, s::preparing_rebalance));
    for (auto from :
         {s::empty, s::preparing_rebalance, s::completing_rebalance, s::stable, s::dead})
        EXPECT_TRUE(valid_transition(from, s::dead));
    EXPECT_FALSE(valid_transition(s::empty, s::stable));
    EXPECT_FALSE(valid_transition(s::empty, s::completing_rebalance));
    EXPECT_FALSE(valid_transition(s::stable, s::completing_rebalance));
    EXPECT_FALSE(valid_transition(s::stable, s::empty));
    EXPECT_FALSE(valid_transition(s::completing_rebalance, s::empty));
    EXPECT_FALSE(valid_transition(s::preparing_rebalance, s::stable));
    EXPECT_FALSE(valid_transition(s::dead, s::empty));
    EXPECT_FALSE(valid_transition(s::dead, s::preparing_rebalance));
}

TEST(ClassicGroupStates, RefusedTransitionChangesNothing) {
    classic_group g("g", 5);
    EXPECT_FALSE(g.transition_to(group_state::stable, 7));
    EXPECT_EQ(g.state(), group_state::empty);
    EXPECT_EQ(g.state_timestamp, 5);
    EXPECT_TRUE(g.transition_to(group_state::preparing_rebalance, 8));
    EXPECT_EQ(g.state(), group_state::preparing_rebalance);
    EXPECT_EQ(g.state_timestamp, 8);
    EXPECT_EQ(g.type(), group_type::classic);
    EXPECT_STREQ(type_name(g.type()), "classic");
}

TEST_F(CoordinatorShardTest, JoinSyncHeartbeatLeave) {
    // KIP-394: a new member first gets its id.
    auto first = join(join_req(), true);
    ASSERT_TRUE(first->has_value());
    EXPECT_EQ((*first)->error_code, wire(error_code::member_id_required));
    const std::string id = (*first)->member_id;
    auto j = join(join_req(id), true);
    ASSERT_TRUE(j->has_value());
    EXPECT_EQ((*j)->error_code, 0);
    EXPECT_EQ((*j)->leader, id);
    EXPECT_EQ((*j)->generation_id, 1);
    ASSERT_EQ((*j)->members.size(), 1u);
    EXPECT_EQ(group().state(), group_state::completing_rebalance);

    auto s = sync(id, 1, {{id, {4, 2}}});
    ASSERT_TRUE(s->has_value());
    EXPECT_EQ((*s)->error_code, 0);
    EXPECT_EQ((*s)->assignment, (protocol::bytes{4, 2}));
    EXPECT_EQ(group().state(), group_state::stable);
    EXPECT_EQ(heartbeat(id, 1), error_code::none);
    EXPECT_EQ(heartbeat(id, 2), error_code::illegal_generation);
    EXPECT_EQ(heartbeat("nobody", 1), error_code::unknown_member_id);

    m::leave_group_request l;
    l.group_id = "g";
    l.members.emplace_back().member_id = id;
    auto resp = shard->leave(l);
    ASSERT_EQ(resp.members.size(), 1u);
    EXPECT_EQ(resp.members[0].error_code, 0);
    EXPECT_EQ(group().state(), group_state::empty);
    EXPECT_EQ(group().generation, 2);
    // The emptied group is written.
    auto recs = log->records();
    ASSERT_FALSE(recs.empty());
    auto v = decode_group_value(*recs.back().value);
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->generation, 2);
    EXPECT_TRUE(v->members.empty());
}

TEST_F(CoordinatorShardTest, SyncAnswersOnlyOnceTheAssignmentIsCommitted) {
    log->auto_commit = false;
    auto j = join(join_req());
    ASSERT_TRUE(j->has_value());
    const std::string id = (*j)->member_id;
    auto s = sync(id, 1, {{id, {7}}});
    EXPECT_FALSE(s->has_value());
    EXPECT_EQ(group().state(), group_state::completing_rebalance);
    EXPECT_TRUE(group().find(id)->assignment.empty());
    EXPECT_EQ(shard->pending_writes(), 1u);
    // The record is in the log, with the assignment.
    auto v = decode_group_value(*log->records().back().value);
    ASSERT_TRUE(v.has_value());
    ASSERT_EQ(v->members.size(), 1u);
    EXPECT_EQ(v->members[0].assignment, (protocol::bytes{7}));

    log->commit_all();
    ASSERT_TRUE(s->has_value());
    EXPECT_EQ((*s)->error_code, 0);
    EXPECT_EQ((*s)->assignment, (protocol::bytes{7}));
    EXPECT_EQ(group().state(), group_state::stable);
    EXPECT_EQ(shard->pending_writes(), 0u);
}

TEST_F(CoordinatorShardTest, FailedAssignmentWriteRebalancesWithNoAssignment) {
    log->auto_commit = false;
    auto j = join(join_req());
    const std::string id = (*j)->member_id;
    auto s = sync(id, 1, {{id, {7}}});
    log->fail_waiting(error_code::not_leader_or_follower);
    ASSERT_TRUE(s->has_value());
    EXPECT_EQ((*s)->error_code, wire(error_code::not_coordinator));
    EXPECT_EQ(group().state(), group_state::preparing_rebalance);
    EXPECT_TRUE(group().find(id)->assignment.empty());
}

TEST_F(CoordinatorShardTest, FailedAppendOfTheAssignment) {
    auto j = join(join_req());
    const std::string id = (*j)->member_id;
    log->fail_appends = error_code::not_enough_replicas;
    auto s = sync(id, 1, {{id, {7}}});
    ASSERT_TRUE(s->has_value());
    EXPECT_EQ((*s)->error_code, wire(error_code::coordinator_not_available));
    EXPECT_NE(group().state(), group_state::stable);
}

TEST_F(CoordinatorShardTest, ASecondMemberRebalancesTheGroup) {
    auto [a, gen] = stable_group_of_one();
    auto jb = join(join_req());
    EXPECT_FALSE(jb->has_value());  // waits for the others to rejoin
    EXPECT_EQ(group().state(), group_state::preparing_rebalance);
    EXPECT_EQ(heartbeat(a, gen), error_code::rebalance_in_progress);
    auto ja = join(join_req(a));
    ASSERT_TRUE(ja->has_value());
    ASSERT_TRUE(jb->has_value());
    EXPECT_EQ((*ja)->generation_id, gen + 1);
    EXPECT_EQ((*jb)->generation_id, gen + 1);
    EXPECT_EQ((*ja)->leader, a);
    EXPECT_EQ((*ja)->members.size(), 2u);  // the leader gets the members
    EXPECT_TRUE((*jb)->members.empty());
    EXPECT_EQ(group().state(), group_state::completing_rebalance);
    // A follower's SyncGroup waits for the leader's.
    auto sb = sync((*jb)->member_id, gen + 1);
    EXPECT_FALSE(sb->has_value());
    auto sa = sync(a, gen + 1, {{a, {1}}, {(*jb)->member_id, {2}}});
    ASSERT_TRUE(sb->has_value());
    EXPECT_EQ((*sb)->assignment, (protocol::bytes{2}));
    EXPECT_EQ((*sa)->assignment, (protocol::bytes{1}));
}

TEST_F(CoordinatorShardTest, SessionExpiryRemovesTheMember) {
    commit("g", "t", 0, 1);  // offsets keep the emptied group (else the expiry check drops it)
    auto [id, gen] = stable_group_of_one();
    log->now += kSession - 1;
    shard->tick();
    EXPECT_EQ(group().members.size(), 1u);
    EXPECT_EQ(heartbeat(id, gen), error_code::none);  // the session restarts
    log->now += kSession + 1;
    shard->tick();
    EXPECT_TRUE(group().members.empty());
    EXPECT_EQ(group().state(), group_state::empty);
    EXPECT_EQ(heartbeat(id, gen), error_code::unknown_member_id);
}

TEST_F(CoordinatorShardTest, MembersThatDoNotRejoinByTheRebalanceTimeoutAreRemoved) {
    auto [a, gen] = stable_group_of_one();
    auto jb = join(join_req());  // a rebalance; member a does not rejoin
    EXPECT_FALSE(jb->has_value());
    log->now += kRebalance - 1;
    EXPECT_EQ(heartbeat(a, gen), error_code::rebalance_in_progress);  // keeps a's session
    shard->tick();
    EXPECT_FALSE(jb->has_value());
    log->now += 2;
    shard->tick();
    ASSERT_TRUE(jb->has_value());
    EXPECT_EQ((*jb)->error_code, 0);
    EXPECT_EQ((*jb)->generation_id, gen + 1);
    EXPECT_EQ(group().members.size(), 1u);
    EXPECT_EQ(group().find(a), nullptr);
    EXPECT_EQ((*jb)->leader, (*jb)->member_id);
}

TEST_F(CoordinatorShardTest, CommitIsVisibleOnlyOnceCommitted) {
    log->auto_commit = false;
    auto c = commit("g", "t", 1, 42);
    EXPECT_FALSE(c->has_value());  // waits for the ISR
    EXPECT_EQ(fetched("g", "t", 1), -1);
    EXPECT_EQ(shard->pending_writes(), 1u);
    log->commit_all();
    ASSERT_TRUE(c->has_value());
    EXPECT_EQ((*c)->topics[0].partitions[0].error_code, 0);
    EXPECT_EQ(fetched("g", "t", 1), 42);
    // The offsets-only group exists now.
    ASSERT_NE(shard->find_group("g"), nullptr);
    EXPECT_TRUE(shard->find_group("g")->is_empty());
}

TEST_F(CoordinatorShardTest, CommitsApplyInOrder) {
    log->auto_commit = false;
    auto c1 = commit("g", "t", 0, 10);
    auto c2 = commit("g", "t", 0, 20);
    log->commit_to(log->log_end - 1);  // only the first
    ASSERT_TRUE(c1->has_value());
    EXPECT_FALSE(c2->has_value());
    EXPECT_EQ(fetched("g", "t", 0), 10);
    log->commit_all();
    EXPECT_EQ(fetched("g", "t", 0), 20);
}

TEST_F(CoordinatorShardTest, FailedCommitLeavesTheOffsetUnchanged) {
    auto c1 = commit("g", "t", 0, 10);
    ASSERT_TRUE(c1->has_value());
    EXPECT_EQ(fetched("g", "t", 0), 10);
    // The write does not reach the ISR.
    log->auto_commit = false;
    auto c2 = commit("g", "t", 0, 20);
    log->fail_waiting(error_code::not_enough_replicas_after_append);
    ASSERT_TRUE(c2->has_value());
    EXPECT_EQ((*c2)->topics[0].partitions[0].error_code,
              wire(error_code::coordinator_not_available));
    EXPECT_EQ(fetched("g", "t", 0), 10);
    // The append is refused.
    log->fail_appends = error_code::not_leader_or_follower;
    auto c3 = commit("g", "t", 0, 30);
    ASSERT_TRUE(c3->has_value());
    EXPECT_EQ((*c3)->topics[0].partitions[0].error_code, wire(error_code::not_coordinator));
    EXPECT_EQ(fetched("g", "t", 0), 10);
}

TEST_F(CoordinatorShardTest, CommitChecksTopicsAndGenerations) {
    auto c = commit("g", "missing", 0, 1);
    EXPECT_EQ((*c)->topics[0].partitions[0].error_code,
              wire(error_code::unknown_topic_or_partition));
    c = commit("g", "u", 2, 1);  // u has partitions 0 and 1
    EXPECT_EQ((*c)->topics[0].partitions[0].error_code,
              wire(error_code::unknown_topic_or_partition));
    EXPECT_TRUE(log->records().empty());

    auto [id, gen] = stable_group_of_one();
    m::offset_commit_request r;
    r.group_id = "g";
    r.member_id = id;
    r.generation_id_or_member_epoch = gen + 1;
    auto& p = r.topics.emplace_back();
    p.name = "t";
    p.partitions.emplace_back().committed_offset = 5;
    std::optional<m::offset_commit_response> out;
    shard->commit(r, [&](m::offset_commit_response resp) { out = std::move(resp); });
    EXPECT_EQ(out->topics[0].partitions[0].error_code, wire(error_code::illegal_generation));
    r.generation_id_or_member_epoch = gen;
    shard->commit(r, [&](m::offset_commit_response resp) { out = std::move(resp); });
    EXPECT_EQ(out->topics[0].partitions[0].error_code, 0);
    EXPECT_EQ(fetched("g", "t", 0), 5);
}

TEST_F(CoordinatorShardTest, LoadReplaysRecordsTombstonesAndGroups) {
    auto offset_rec = [](const std::string& g, const std::string& t, int32_t p, int64_t off) {
        return offsets_manager::commit_record(g, {t, p}, committed_offset{off, 3, "md", 100, -1});
    };
    classic_group g2("g2", 50);
    g2.protocol_type = "consumer";
    g2.protocol = "range";
    g2.generation = 4;
    g2.leader = "m1";
    auto mem = std::make_unique<member>();
    mem->id = "m1";
    mem->session_timeout_ms = kSession;
    mem->protocols.emplace_back("range", protocol::bytes{1});
    mem->assignment = {5};
    g2.members.emplace("m1", std::move(mem));
    protocol::record group_rec;
    group_rec.key = encode_group_key("g2");
    group_rec.value = encode_group_value(g2.to_record());
    protocol::record group_tombstone;
    group_tombstone.key = encode_group_key("g3");
    protocol::record garbage;
    garbage.key = protocol::bytes{0x7f};  // not a key of any version

    log->append_records({offset_rec("g1", "t", 0, 5), offset_rec("g1", "t", 1, 7)});
    log->append_records(
        {offset_rec("g1", "t", 0, 9), offsets_manager::tombstone("g1", {"t", 1}), garbage});
    log->append_records({group_rec, offset_rec("g3", "t", 0, 1), group_tombstone});

    auto loaded = make_shard();
    shard = loaded;
    EXPECT_EQ(shard->ready(), error_code::none);
    EXPECT_EQ(fetched("g1", "t", 0), 9);
    EXPECT_EQ(fetched("g1", "t", 1), -1);
    EXPECT_EQ(fetched("g3", "t", 0), -1);
    EXPECT_EQ(shard->find_group("g3"), nullptr);
    auto* g = shard->find_classic("g2");
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->state(), group_state::stable);
    EXPECT_EQ(g->generation, 4);
    ASSERT_NE(g->find("m1"), nullptr);
    EXPECT_EQ(g->find("m1")->assignment, (protocol::bytes{5}));
    const auto* co = shard->offsets().find("g1", {"t", 0});
    ASSERT_NE(co, nullptr);
    EXPECT_EQ(co->leader_epoch, 3);
    EXPECT_EQ(co->metadata, "md");
    EXPECT_EQ(shard->offsets().count(), 1u);
}

TEST_F(CoordinatorShardTest, NotLeaderMeansNotCoordinator) {
    log->epoch = -1;
    EXPECT_EQ(shard->ready(), error_code::not_coordinator);
    auto c = commit("g", "t", 0, 1);
    EXPECT_EQ((*c)->topics[0].partitions[0].error_code, wire(error_code::not_coordinator));
}

TEST_F(CoordinatorShardTest, ANewLeaderEpochDropsPendingWritesAndReloads) {
    log->auto_commit = false;
    auto c = commit("g", "t", 0, 11);
    log->epoch = 2;                               // leadership moved and came back
    EXPECT_EQ(shard->ready(), error_code::none);  // reloaded from the log
    log->commit_all();
    ASSERT_TRUE(c->has_value());
    EXPECT_EQ((*c)->topics[0].partitions[0].error_code, wire(error_code::not_coordinator));
    // The reload read the record itself (it is in the log).
    EXPECT_EQ(fetched("g", "t", 0), 11);
}

TEST_F(CoordinatorShardTest, ExpiredOffsetsOfAnEmptyGroupAreTombstonedOnceCommitted) {
    commit("g", "t", 0, 3);
    commit("g", "t", 1, 4);
    log->now += 59'000;
    shard->tick();
    EXPECT_EQ(fetched("g", "t", 0), 3);
    log->auto_commit = false;
    log->now += 2'000;  // past offsets.retention.minutes=1
    const size_t before = log->records().size();
    shard->tick();
    auto recs = log->records();
    ASSERT_EQ(recs.size(), before + 3);  // two offset tombstones and the group's
    EXPECT_FALSE(recs.back().value.has_value());
    EXPECT_EQ(fetched("g", "t", 0), 3);  // not yet committed
    log->commit_all();
    EXPECT_EQ(fetched("g", "t", 0), -1);
    EXPECT_EQ(shard->find_group("g"), nullptr);
}

TEST_F(CoordinatorShardTest, DeleteGroupAppliesOnceCommitted) {
    commit("g", "t", 0, 3);
    auto [id, gen] = stable_group_of_one();
    std::optional<error_code> r;
    shard->delete_group("g", [&](error_code e) { r = e; });
    EXPECT_EQ(r, error_code::non_empty_group);
    m::leave_group_request l;
    l.group_id = "g";
    l.members.emplace_back().member_id = id;
    shard->leave(l);
    log->auto_commit = false;
    r.reset();
    shard->delete_group("g", [&](error_code e) { r = e; });
    EXPECT_FALSE(r.has_value());
    EXPECT_EQ(fetched("g", "t", 0), 3);
    log->commit_all();
    EXPECT_EQ(r, error_code::none);
    EXPECT_EQ(shard->find_group("g"), nullptr);
    EXPECT_EQ(fetched("g", "t", 0), -1);
    shard->delete_group("g", [&](error_code e) { r = e; });
    EXPECT_EQ(r, error_code::group_id_not_found);
}

TEST_F(CoordinatorShardTest, StaticMemberRejoinIsAnsweredOnceItsNewIdIsCommitted) {
    auto r = join_req();
    r.group_instance_id = "instance-1";
    auto j = join(r);
    ASSERT_TRUE(j->has_value());
    const std::string old_id = (*j)->member_id;
    const int32_t gen = (*j)->generation_id;
    sync(old_id, gen, {{old_id, {3}}});
    ASSERT_EQ(group().state(), group_state::stable);

    log->auto_commit = false;
    auto again = join(r);  // KIP-345: same instance, same protocols: no rebalance
    EXPECT_FALSE(again->has_value());
    log->commit_all();
    ASSERT_TRUE(again->has_value());
    EXPECT_EQ((*again)->error_code, 0);
    const std::string new_id = (*again)->member_id;
    EXPECT_NE(new_id, old_id);
    EXPECT_EQ((*again)->generation_id, gen);
    EXPECT_EQ(group().state(), group_state::stable);
    EXPECT_EQ(group().find(old_id), nullptr);
    ASSERT_NE(group().find(new_id), nullptr);
    EXPECT_EQ(group().find(new_id)->assignment, (protocol::bytes{3}));
    EXPECT_EQ(heartbeat(old_id, gen), error_code::unknown_member_id);
    EXPECT_EQ(heartbeat(new_id, gen), error_code::none);
}

TEST_F(CoordinatorShardTest, LosingLeadershipAnswersWaitingMembers) {
    auto [a, gen] = stable_group_of_one();
    auto jb = join(join_req());
    EXPECT_FALSE(jb->has_value());
    log->epoch = -1;
    EXPECT_EQ(heartbeat(a, gen), error_code::not_coordinator);
    ASSERT_TRUE(jb->has_value());
    EXPECT_EQ((*jb)->error_code, wire(error_code::not_coordinator));
    EXPECT_EQ(shard->find_group("g"), nullptr);
}

TEST_F(CoordinatorShardTest, AFailedStaticRejoinRestoresTheOldMemberId) {
    auto r = join_req();
    r.group_instance_id = "instance-1";
    auto j = join(r);
    ASSERT_TRUE(j->has_value());
    const std::string old_id = (*j)->member_id;
    const int32_t gen = (*j)->generation_id;
    sync(old_id, gen, {{old_id, {3}}});
    ASSERT_EQ(group().state(), group_state::stable);

    log->auto_commit = false;
    auto again = join(r);
    EXPECT_FALSE(again->has_value());
    log->fail_waiting(error_code::not_enough_replicas);  // the new id never reaches the ISR
    ASSERT_TRUE(again->has_value());
    EXPECT_EQ((*again)->error_code, wire(error_code::coordinator_not_available));
    EXPECT_EQ((*again)->member_id, "");
    // The old member id is the instance's again: it keeps heartbeating and its assignment.
    ASSERT_EQ(group().members.size(), 1u);
    ASSERT_NE(group().find(old_id), nullptr);
    EXPECT_EQ(group().find(old_id)->assignment, (protocol::bytes{3}));
    EXPECT_EQ(group().static_members.at("instance-1"), old_id);
    EXPECT_EQ(group().leader, old_id);
    EXPECT_EQ(group().state(), group_state::stable);
    EXPECT_EQ(heartbeat(old_id, gen), error_code::none);

    // A failed append (nothing written) restores it the same way.
    log->auto_commit = true;
    log->fail_appends = error_code::not_enough_replicas;
    auto third = join(r);
    ASSERT_TRUE(third->has_value());
    EXPECT_EQ((*third)->error_code, wire(error_code::coordinator_not_available));
    EXPECT_EQ(group().static_members.at("instance-1"), old_id);
    EXPECT_EQ(heartbeat(old_id, gen), error_code::none);

    // And the next rejoin that is committed takes over.
    log->fail_appends.reset();
    auto fourth = join(r);
    ASSERT_TRUE(fourth->has_value());
    EXPECT_EQ((*fourth)->error_code, 0);
    EXPECT_NE((*fourth)->member_id, old_id);
    EXPECT_EQ(heartbeat(old_id, gen), error_code::unknown_member_id);
    EXPECT_EQ(heartbeat((*fourth)->member_id, gen), error_code::none);
}

TEST_F(CoordinatorShardTest, LoadingWaitsForReadsDoneOffTheShard) {
    log->append_records(
        {offsets_manager::commit_record("g", {"t", 0}, committed_offset{42, -1, "", 100, -1})});
    log->defer_reads = true;
    shard = make_shard();
    // The read is handed to the host (a work pool in the broker); the shard answers meanwhile.
    EXPECT_EQ(shard->ready(), error_code::coordinator_load_in_progress);
    EXPECT_EQ(log->reads, 1u);
    auto c = commit("g", "t", 0, 50);
    ASSERT_TRUE(c->has_value());
    EXPECT_EQ((*c)->topics[0].partitions[0].error_code,
              wire(error_code::coordinator_load_in_progress));
    EXPECT_EQ(shard->ready(), error_code::coordinator_load_in_progress);
    EXPECT_EQ(log->reads, 1u);  // still one read in flight, not a second
    log->run_deferred();        // the chunk arrives, then the end of the log
    EXPECT_EQ(shard->load_status(), coordinator_shard::status::loaded);
    EXPECT_EQ(shard->ready(), error_code::none);
    EXPECT_EQ(fetched("g", "t", 0), 42);
}

TEST_F(CoordinatorShardTest, AReadOfAnEarlierLoadIsDropped) {
    log->append_records(
        {offsets_manager::commit_record("g", {"t", 0}, committed_offset{7, -1, "", 100, -1})});
    log->defer_reads = true;
    shard = make_shard();
    EXPECT_EQ(shard->ready(), error_code::coordinator_load_in_progress);
    log->epoch = 2;  // leadership moved and came back before the read answered
    log->append_records(
        {offsets_manager::commit_record("g", {"t", 0}, committed_offset{8, -1, "", 100, -1})});
    EXPECT_EQ(shard->ready(), error_code::coordinator_load_in_progress);
    EXPECT_EQ(log->reads, 2u);
    log->run_deferred();
    // The first load's read was dropped; the second read everything, then hit the end.
    EXPECT_EQ(log->reads, 3u);
    EXPECT_EQ(shard->ready(), error_code::none);
    EXPECT_EQ(fetched("g", "t", 0), 8);
}

// ---- transactional offsets (txn_offsets.cc) ----

m::txn_offset_commit_request txn_req(int64_t pid, int32_t partition, int64_t offset) {
    m::txn_offset_commit_request r;
    r.transactional_id = "tx";
    r.group_id = "g";
    r.producer_id = pid;
    r.producer_epoch = 0;
    auto& t = r.topics.emplace_back();
    t.name = "t";
    auto& p = t.partitions.emplace_back();
    p.partition_index = partition;
    p.committed_offset = offset;
    return r;
}

void append_marker(fake_partition& log, int64_t pid, bool commit) {
    protocol::batch_spec spec;
    spec.producer_id = pid;
    spec.producer_epoch = 0;
    protocol::control_record c;
    c.type = commit ? protocol::control_type::commit : protocol::control_type::abort;
    auto b = protocol::build_control_batch(spec, c, 1);
    ASSERT_TRUE(b);
    protocol::set_base_offset(*b, log.log_end);
    log.log_end += 1;
    log.committed = log.log_end;
    log.batches.push_back(std::move(*b));
}

TEST_F(CoordinatorShardTest, TxnOffsetsWaitForTheCommitMarker) {
    ASSERT_EQ(shard->ready(), error_code::none);
    commit("g", "t", 0, 5);
    std::optional<m::txn_offset_commit_response> out;
    shard->txn_commit(txn_req(7, 0, 10), [&](m::txn_offset_commit_response r) { out = r; });
    ASSERT_TRUE(out);
    EXPECT_EQ(out->topics.at(0).partitions.at(0).error_code, 0);
    // Written as a transactional batch of the producer; not visible yet.
    auto h = protocol::parse_batch_header(log->batches.back());
    ASSERT_TRUE(h);
    EXPECT_TRUE(h->is_transactional());
    EXPECT_EQ(h->producer_id, 7);
    EXPECT_EQ(fetched("g", "t", 0), 5);
    EXPECT_EQ(shard->pending_txn_partitions("g"), (std::set<topic_partition>{{"t", 0}}));
    shard->complete_txn(7, true);
    EXPECT_EQ(fetched("g", "t", 0), 10);
    EXPECT_TRUE(shard->pending_txn_partitions("g").empty());
    // An aborted one is dropped.
    shard->txn_commit(txn_req(8, 0, 20), [&](m::txn_offset_commit_response r) { out = r; });
    shard->complete_txn(8, false);
    EXPECT_EQ(fetched("g", "t", 0), 10);
}

TEST_F(CoordinatorShardTest, LoadingAppliesTxnOffsetsByTheirMarkers) {
    ASSERT_EQ(shard->ready(), error_code::none);
    std::optional<m::txn_offset_commit_response> out;
    auto ignore = [&](m::txn_offset_commit_response r) { out = r; };
    shard->txn_commit(txn_req(1, 0, 11), ignore);  // committed below
    shard->txn_commit(txn_req(2, 1, 22), ignore);  // aborted below
    shard->txn_commit(txn_req(3, 0, 33), ignore);  // still open at the reload
    append_marker(*log, 1, true);
    append_marker(*log, 2, false);
    log->epoch = 2;
    shard = make_shard();
    ASSERT_EQ(shard->ready(), error_code::none);
    EXPECT_EQ(fetched("g", "t", 0), 11);
    EXPECT_EQ(fetched("g", "t", 1), -1);
    EXPECT_EQ(shard->pending_txn_partitions("g"), (std::set<topic_partition>{{"t", 0}}));
    shard->complete_txn(3, true);
    EXPECT_EQ(fetched("g", "t", 0), 33);
}

}  // namespace
}  // namespace rill::coordinator
