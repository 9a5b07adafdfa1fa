// The controller's partition decisions (decide_partition), without a ZooKeeper server.
#include "cluster/zk_controller.h"

#include <gtest/gtest.h>

namespace rill::cluster {
namespace {

struct cluster_view {
    std::map<int32_t, broker_info> live;
    std::set<int32_t> shutting_down;
    explicit cluster_view(std::initializer_list<int32_t> ids) {
        for (int32_t id : ids)
            live[id] = broker_info{id, std::nullopt, {}};
    }
    controller_view view() const { return controller_view{live, shutting_down}; }
};

partition_info part(std::vector<int32_t> replicas, int32_t leader, int32_t epoch,
                    std::vector<int32_t> isr) {
    partition_info p;
    p.replicas = std::move(replicas);
    p.leader = leader;
    p.leader_epoch = epoch;
    p.isr = std::move(isr);
    p.partition_epoch = 4;
    return p;
}

TEST(ControllerDecision, NothingToDoWhenLeaderAndIsrAreHealthy) {
    cluster_view c{1, 2, 3};
    EXPECT_FALSE(decide_partition(part({1, 2, 3}, 1, 5, {1, 2, 3}), c.view(), false, false));
    // A partition without a state znode, or without replicas, is not decided here.
    auto no_state = part({1, 2}, 1, 0, {1, 2});
    no_state.partition_epoch = -1;
    EXPECT_FALSE(decide_partition(no_state, c.view(), false, false));
    EXPECT_FALSE(decide_partition(part({}, -1, 0, {}), c.view(), false, false));
}

TEST(ControllerDecision, LeaderLossElectsTheFirstLiveIsrReplica) {
    cluster_view c{2, 3};
    auto d = decide_partition(part({1, 2, 3}, 1, 5, {1, 3, 2}), c.view(), false, false);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->leader, 2);  // replica order, not ISR order
    EXPECT_EQ(d->leader_epoch, 6);
    EXPECT_EQ(d->isr, (std::vector<int32_t>{3, 2}));
    EXPECT_FALSE(d->unclean);
}

TEST(ControllerDecision, FollowerLossShrinksTheIsrWithoutAnEpochBump) {
    cluster_view c{1, 2};
    auto d = decide_partition(part({1, 2, 3}, 1, 5, {1, 2, 3}), c.view(), false, false);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->leader, 1);
    EXPECT_EQ(d->leader_epoch, 5);
    EXPECT_EQ(d->isr, (std::vector<int32_t>{1, 2}));
}

TEST(ControllerDecision, NoLiveIsrMemberGoesOfflineUnlessUncleanIsAllowed) {
    cluster_view c{3};
    auto clean = decide_partition(part({1, 2, 3}, 1, 5, {1, 2}), c.view(), false, false);
    ASSERT_TRUE(clean);
    EXPECT_EQ(clean->leader, -1);
    EXPECT_EQ(clean->leader_epoch, 6);
    EXPECT_EQ(clean->isr, (std::vector<int32_t>{1, 2}));  // kept: the last known in-sync set
    // Offline stays offline (no new epoch every pass).
    EXPECT_FALSE(decide_partition(part({1, 2, 3}, -1, 6, {1, 2}), c.view(), false, false));
    auto unclean = decide_partition(part({1, 2, 3}, 1, 5, {1, 2}), c.view(), true, false);
    ASSERT_TRUE(unclean);
    EXPECT_EQ(unclean->leader, 3);
    EXPECT_TRUE(unclean->unclean);
    EXPECT_EQ(unclean->isr, (std::vector<int32_t>{3}));
}

TEST(ControllerDecision, AnIsrMemberComingBackLeadsAnOfflinePartition) {
    cluster_view c{2, 3};
    auto d = decide_partition(part({1, 2, 3}, -1, 6, {1, 2}), c.view(), false, false);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->leader, 2);
    EXPECT_EQ(d->leader_epoch, 7);
    EXPECT_EQ(d->isr, (std::vector<int32_t>{2}));
}

TEST(ControllerDecision, ControlledShutdownMovesLeadershipOrKeepsTheOnlyInSyncReplica) {
    cluster_view c{1, 2, 3};
    c.shutting_down = {1};
    auto d = decide_partition(part({1, 2, 3}, 1, 5, {1, 2, 3}), c.view(), false, false);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->leader, 2);
    EXPECT_EQ(d->leader_epoch, 6);
    EXPECT_EQ(d->isr, (std::vector<int32_t>{2, 3}));  // the leaving broker leaves the ISR
    // Alone in the ISR: it keeps leading (nothing better), and stays in the ISR.
    EXPECT_FALSE(decide_partition(part({1, 2, 3}, 1, 5, {1}), c.view(), false, false));
}

TEST(ControllerDecision, AnOfflineReplicaIsNotUp) {
    cluster_view c{1, 2, 3};
    std::set<int32_t> offline{1};
    controller_view v{c.live, c.shutting_down, &offline};
    // The leader's replica is offline (failed log dir): the next in-sync replica leads and
    // the offline one leaves the ISR, though its broker is still registered.
    auto d = decide_partition(part({1, 2, 3}, 1, 5, {1, 2, 3}), v, false, false);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->leader, 2);
    EXPECT_EQ(d->leader_epoch, 6);
    EXPECT_EQ(d->isr, (std::vector<int32_t>{2, 3}));
    // A follower's offline replica only leaves the ISR.
    d = decide_partition(part({2, 1, 3}, 2, 5, {2, 1, 3}), v, false, false);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->leader, 2);
    EXPECT_EQ(d->leader_epoch, 5);
    EXPECT_EQ(d->isr, (std::vector<int32_t>{2, 3}));
    // The only in-sync replica offline: no leader (unless unclean election picks another).
    d = decide_partition(part({1, 2}, 1, 5, {1}), v, false, false);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->leader, -1);
    d = decide_partition(part({1, 2}, 1, 5, {1}), v, true, false);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->leader, 2);
    EXPECT_TRUE(d->unclean);
    // Never elected back while offline, even as the preferred replica.
    EXPECT_FALSE(decide_partition(part({1, 2, 3}, 2, 6, {2, 3}), v, false, true));
}

TEST(ControllerDecision, PreferredLeaderRebalance) {
    cluster_view c{1, 2, 3};
    auto p = part({1, 2, 3}, 2, 5, {2, 3, 1});
    EXPECT_FALSE(decide_partition(p, c.view(), false, false));
    auto d = decide_partition(p, c.view(), false, true);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->leader, 1);
    EXPECT_EQ(d->leader_epoch, 6);
    // Not while the preferred replica is out of the ISR.
    EXPECT_FALSE(decide_partition(part({1, 2, 3}, 2, 5, {2, 3}), c.view(), false, true));
}

TEST(ControllerDecision, ALeaderThatIsNoLongerAReplicaIsReplaced) {
    cluster_view c{1, 2, 3, 4};
    auto d = decide_partition(part({2, 3}, 1, 5, {1, 2, 3}), c.view(), false, false);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->leader, 2);
    EXPECT_EQ(d->isr, (std::vector<int32_t>{2, 3}));
}

TEST(ControllerDecision, ReassignmentWaitsForTheTargetThenFinishes) {
    cluster_view c{1, 2, 3, 4};
    // Moving {1,2} -> {3,4}: full set {3,4,1,2}.
    auto p = part({3, 4, 1, 2}, 1, 5, {1, 2, 3});
    p.adding_replicas = {3, 4};
    p.removing_replicas = {1, 2};
    EXPECT_FALSE(decide_partition(p, c.view(), false, false));  // 4 not in sync yet
    p.isr = {1, 2, 3, 4};
    auto d = decide_partition(p, c.view(), false, false);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->finish_reassignment);
    EXPECT_EQ(d->final_replicas, (std::vector<int32_t>{3, 4}));
    EXPECT_EQ(d->leader, 3);
    EXPECT_EQ(d->leader_epoch, 6);
    EXPECT_EQ(d->isr, (std::vector<int32_t>{3, 4}));
}

TEST(ControllerDecision, ReassignmentKeepsALeaderThatStaysInTheTarget) {
    cluster_view c{1, 2, 3};
    auto p = part({1, 3, 2}, 1, 5, {1, 2, 3});
    p.adding_replicas = {3};
    p.removing_replicas = {2};
    auto d = decide_partition(p, c.view(), false, false);
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->finish_reassignment);
    EXPECT_EQ(d->leader, 1);
    EXPECT_EQ(d->leader_epoch, 5);
    EXPECT_EQ(d->isr, (std::vector<int32_t>{1, 3}));
    EXPECT_EQ(d->final_replicas, (std::vector<int32_t>{1, 3}));
}

}  // namespace
}  // namespace rill::cluster
