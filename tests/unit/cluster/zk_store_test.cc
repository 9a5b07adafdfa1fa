// The ZooKeeper metadata store against a real ZooKeeper server (one per test binary; each test
// uses its own chroot).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "cluster/zk_client.h"
#include "cluster/zk_store.h"
#include "zk_server.h"

namespace rill::cluster {
namespace {

using namespace std::chrono_literals;

rill::testing::zk_server* g_zk = nullptr;

class zk_env : public ::testing::Environment {
  public:
    void SetUp() override {
        server_ = std::make_unique<rill::testing::zk_server>();
        ASSERT_TRUE(server_->start()) << server_->error();
        g_zk = server_.get();
    }
    void TearDown() override {
        g_zk = nullptr;
        server_.reset();
    }

  private:
    std::unique_ptr<rill::testing::zk_server> server_;
};

const auto* const g_env = ::testing::AddGlobalTestEnvironment(new zk_env);

bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (pred()) return true;
        std::this_thread::sleep_for(20ms);
    }
    return pred();
}

struct node {
    std::unique_ptr<broker_config> config;
    std::unique_ptr<metadata_store> store;
    std::string dir;
    int32_t id = 0;

    std::shared_ptr<const metadata_snapshot> snap() const { return store->snapshot(); }
    const partition_info* part(const std::string& t, int32_t p) const {
        // Keeps the snapshot alive for the caller through `last`.
        last = snap();
        const topic_info* ti = last->find_topic(t);
        if (!ti || p >= static_cast<int32_t>(ti->partitions.size())) return nullptr;
        return &ti->partitions[static_cast<size_t>(p)];
    }
    mutable std::shared_ptr<const metadata_snapshot> last;
};

class ZkStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_NE(g_zk, nullptr);
        static std::atomic<int> seq{0};
        chroot_ = "/rill-test-" + std::to_string(::getpid()) + "-" + std::to_string(++seq);
        char tmpl[] = "/tmp/rill-zk-store-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        base_ = tmpl;
    }
    void TearDown() override {
        nodes_.clear();
        std::error_code ec;
        std::filesystem::remove_all(base_, ec);
    }

    std::string connect() const { return g_zk->connect_string() + chroot_; }

    std::unique_ptr<node> make_node(int32_t id, std::optional<std::string> rack = std::nullopt,
                                    std::map<std::string, std::string> extra = {},
                                    std::string* error = nullptr) {
        config_values v;
        v.set("broker.id", std::to_string(id));
        v.set("zookeeper.connect", connect());
        v.set("zookeeper.session.timeout.ms", "4000");
        v.set("zookeeper.connection.timeout.ms", "5000");
        v.set("auto.leader.rebalance.enable", "false");
        if (rack) v.set("broker.rack", *rack);
        for (auto& [k, val] : extra)
            v.set(k, val);
        auto cfg = broker_config::make(v);
        EXPECT_TRUE(cfg.has_value()) << (cfg ? "" : cfg.error());
        if (!cfg) return nullptr;
        auto n = std::make_unique<node>();
        n->id = id;
        n->config = std::make_unique<broker_config>(*cfg);
        n->dir = base_ + "/broker-" + std::to_string(id);
        broker_info self;
        self.id = id;
        self.rack = rack;
        self.endpoints.push_back(
            broker_endpoint{"PLAINTEXT", "127.0.0.1", static_cast<uint16_t>(19000 + id)});
        std::string err;
        n->store = make_zookeeper_store(*n->config, self, n->dir, &err);
        if (error) *error = err;
        if (!n->store) {
            if (!error) ADD_FAILURE() << "store " << id << ": " << err;
            return nullptr;
        }
        return n;
    }

    // Starts brokers 1..count (racks given or none) and waits until all see each other.
    void start(int count, std::vector<std::string> racks = {}) {
        for (int i = 1; i <= count; ++i) {
            std::optional<std::string> rack;
            if (!racks.empty()) rack = racks[static_cast<size_t>(i - 1)];
            auto n = make_node(i, rack);
            ASSERT_NE(n, nullptr);
            nodes_[i] = std::move(n);
        }
        ASSERT_TRUE(all_agree());
    }

    bool all_agree(std::chrono::milliseconds timeout = 10s) {
        return wait_for(
            [&] {
                int32_t controller = -2;
                for (auto& [id, n] : nodes_) {
                    auto s = n->snap();
                    if (s->brokers.size() != nodes_.size()) return false;
                    if (s->controller_id < 0) return false;
                    if (controller != -2 && s->controller_id != controller) return false;
                    controller = s->controller_id;
                }
                return true;
            },
            timeout);
    }

    int controllers() const {
        int c = 0;
        for (auto& [id, n] : nodes_)
            if (zk_testing::is_controller(*n->store)) ++c;
        return c;
    }

    node& n(int32_t id) { return *nodes_.at(id); }

    void create(int32_t via, const std::string& topic,
                std::map<int32_t, std::vector<int32_t>> assignment, config_values configs = {}) {
        new_topic t;
        t.name = topic;
        t.assignments = std::move(assignment);
        t.configs = std::move(configs);
        auto r = n(via).store->create_topic(t, false);
        ASSERT_TRUE(r.has_value()) << r.error().message;
        // The other stores learn of the topic through their watches: wait until every store
        // has it, so that a test reading another store's view never finds it missing.
        ASSERT_TRUE(wait_for([&] {
            return std::all_of(nodes_.begin(), nodes_.end(),
                               [&](const auto& e) { return e.second->part(topic, 0) != nullptr; });
        })) << "not every store sees topic "
            << topic;
    }

    std::string chroot_;
    std::string base_;
    std::map<int32_t, std::unique_ptr<node>> nodes_;
};

TEST_F(ZkStoreTest, ThreeStoresRegisterAndAgree) {
    start(3);
    auto s1 = n(1).snap();
    EXPECT_TRUE(s1->cluster_mode);
    EXPECT_EQ(s1->cluster_id.size(), 22u);
    for (int id = 1; id <= 3; ++id) {
        auto s = n(id).snap();
        EXPECT_EQ(s->cluster_id, s1->cluster_id);
        ASSERT_TRUE(s->brokers.contains(2));
        ASSERT_EQ(s->brokers.at(2).endpoints.size(), 1u);
        EXPECT_EQ(s->brokers.at(2).endpoints[0].port, 19002);
        EXPECT_EQ(s->brokers.at(2).endpoints[0].host, "127.0.0.1");
    }
    EXPECT_EQ(controllers(), 1);
    // meta.properties records the cluster and broker ids.
    std::ifstream in(n(2).dir + "/meta.properties");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_NE(text.find("cluster.id=" + s1->cluster_id), std::string::npos) << text;
    EXPECT_NE(text.find("broker.id=2"), std::string::npos) << text;
}

TEST_F(ZkStoreTest, ControllerFailover) {
    start(3);
    int32_t old = n(1).snap()->controller_id;
    ASSERT_GE(old, 1);
    nodes_.erase(old);
    ASSERT_TRUE(all_agree());
    int32_t now = nodes_.begin()->second->snap()->controller_id;
    EXPECT_NE(now, old);
    EXPECT_TRUE(nodes_.contains(now));
    EXPECT_TRUE(wait_for([&] { return controllers() == 1; }));
}

TEST_F(ZkStoreTest, CreateTopicRackAwareAndVisibleEverywhere) {
    start(4, {"a", "a", "b", "b"});
    new_topic t;
    t.name = "orders";
    t.partitions = 8;
    t.replication_factor = 3;
    auto r = n(2).store->create_topic(t, false);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    // Visible at once on the creating broker.
    auto created = n(2).snap();
    const topic_info* ti = created->find_topic("orders");
    ASSERT_NE(ti, nullptr);
    ASSERT_EQ(ti->partitions.size(), 8u);
    EXPECT_FALSE(ti->id.is_zero());
    std::map<int32_t, std::string> rack = {{1, "a"}, {2, "a"}, {3, "b"}, {4, "b"}};
    std::map<int32_t, int> leaders;
    for (const auto& p : ti->partitions) {
        ASSERT_EQ(p.replicas.size(), 3u);
        std::set<int32_t> distinct(p.replicas.begin(), p.replicas.end());
        EXPECT_EQ(distinct.size(), 3u);
        std::set<std::string> racks;
        for (int32_t b : p.replicas)
            racks.insert(rack[b]);
        EXPECT_EQ(racks.size(), 2u);
        // The first two replicas alternate racks.
        EXPECT_NE(rack[p.replicas[0]], rack[p.replicas[1]]);
        EXPECT_EQ(p.leader, p.replicas[0]);
        EXPECT_EQ(p.isr, p.replicas);
        EXPECT_EQ(p.leader_epoch, 0);
        EXPECT_EQ(p.partition_epoch, 0);
        leaders[p.leader]++;
    }
    EXPECT_EQ(leaders.size(), 4u);  // leadership spread over all brokers
    for (int id = 1; id <= 4; ++id)
        ASSERT_TRUE(wait_for([&] {
            const topic_info* o = n(id).snap()->find_topic("orders");
            return o && o->id == ti->id && o->partitions.size() == 8 &&
                   o->partitions[5].replicas == ti->partitions[5].replicas;
        }));

    auto dup = n(3).store->create_topic(t, false);
    ASSERT_FALSE(dup.has_value());
    EXPECT_EQ(dup.error().code, meta_errc::topic_exists);
    t.name = "too-many";
    t.replication_factor = 5;
    auto rf = n(1).store->create_topic(t, false);
    ASSERT_FALSE(rf.has_value());
    EXPECT_EQ(rf.error().code, meta_errc::invalid_replication_factor);
    new_topic bad;
    bad.name = "bad-assignment";
    bad.assignments = {{0, {1, 1}}};
    auto ba = n(1).store->create_topic(bad, false);
    ASSERT_FALSE(ba.has_value());
    EXPECT_EQ(ba.error().code, meta_errc::invalid_replica_assignment);
    bad.assignments = {{0, {1, 9}}};
    ba = n(1).store->create_topic(bad, false);
    ASSERT_FALSE(ba.has_value());
    EXPECT_EQ(ba.error().code, meta_errc::invalid_replica_assignment);
}

TEST_F(ZkStoreTest, TopicLifecycleConfigsPartitionsAndProducerIds) {
    start(2);
    config_values cfg;
    cfg.set("retention.ms", "1000");
    create(1, "life", {{0, {1, 2}}}, cfg);
    ASSERT_TRUE(wait_for([&] { return n(2).snap()->find_topic("life") != nullptr; }));
    EXPECT_EQ(*n(2).snap()->find_topic("life")->configs.get("retention.ms"), "1000");

    config_values cfg2;
    cfg2.set("cleanup.policy", "compact");
    ASSERT_TRUE(n(2).store->set_topic_configs("life", cfg2, false).has_value());
    EXPECT_EQ(n(2).snap()->find_topic("life")->configs.get("retention.ms"), nullptr);
    ASSERT_TRUE(wait_for([&] {
        auto snap = n(1).snap();
        const std::string* v = snap->find_topic("life")->configs.get("cleanup.policy");
        return v && *v == "compact";
    }));
    config_values bad;
    bad.set("no.such.config", "1");
    auto r = n(1).store->set_topic_configs("life", bad, false);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, meta_errc::invalid_config);

    ASSERT_TRUE(n(1).store->create_partitions("life", 3, false).has_value());
    auto grown = n(1).snap();
    const topic_info* ti = grown->find_topic("life");
    ASSERT_EQ(ti->partitions.size(), 3u);
    EXPECT_EQ(ti->partitions[2].replicas.size(), 2u);
    EXPECT_GE(ti->partitions[2].leader, 1);
    auto cp = n(1).store->create_partitions("life", 2, false);
    ASSERT_FALSE(cp.has_value());
    EXPECT_EQ(cp.error().code, meta_errc::invalid_partitions);

    auto a = n(1).store->allocate_producer_ids(1000);
    auto b = n(2).store->allocate_producer_ids(1000);
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_NE(*a, *b);
    EXPECT_GE(std::max(*a, *b), std::min(*a, *b) + 1000);
    EXPECT_EQ(n(2).snap()->next_producer_id, std::max(*a, *b) + 1000);

    ASSERT_TRUE(n(2).store->delete_topic("life").has_value());
    EXPECT_EQ(n(2).snap()->find_topic("life"), nullptr);
    ASSERT_TRUE(wait_for([&] { return n(1).snap()->find_topic("life") == nullptr; }));
    auto del = n(1).store->delete_topic("life");
    ASSERT_FALSE(del.has_value());
    EXPECT_EQ(del.error().code, meta_errc::unknown_topic);
    // The name can be used again.
    create(1, "life", {{0, {2}}});
}

// Group configs (KIP-848): /config/groups/<group>, written by one broker, watched by all; an
// empty set removes the znode. A broker started later reads them at start-up.
TEST_F(ZkStoreTest, GroupConfigsAreSharedAndRemoved) {
    start(2);
    config_values cfg;
    cfg.set("group.consumer.heartbeat.interval.ms", "6000");
    ASSERT_TRUE(n(1).store->set_group_configs("app", cfg).has_value());
    auto own = n(1).snap();
    ASSERT_TRUE(own->group_configs.contains("app"));
    EXPECT_EQ(*own->group_configs.at("app").get("group.consumer.heartbeat.interval.ms"), "6000");
    ASSERT_TRUE(wait_for([&] {
        auto snap = n(2).snap();
        auto it = snap->group_configs.find("app");
        return it != snap->group_configs.end() &&
               it->second.get("group.consumer.heartbeat.interval.ms") &&
               *it->second.get("group.consumer.heartbeat.interval.ms") == "6000";
    }));
    cfg.set("group.consumer.heartbeat.interval.ms", "7000");
    ASSERT_TRUE(n(2).store->set_group_configs("app", cfg).has_value());
    ASSERT_TRUE(wait_for([&] {
        auto snap = n(1).snap();
        auto it = snap->group_configs.find("app");
        return it != snap->group_configs.end() &&
               *it->second.get("group.consumer.heartbeat.interval.ms") == "7000";
    }));
    ASSERT_TRUE(n(1).store->set_group_configs("app", config_values{}).has_value());
    EXPECT_FALSE(n(1).snap()->group_configs.contains("app"));
    ASSERT_TRUE(wait_for([&] { return !n(2).snap()->group_configs.contains("app"); }));
    // Deleting what is not there is fine.
    EXPECT_TRUE(n(2).store->set_group_configs("none", config_values{}).has_value());
}

TEST_F(ZkStoreTest, LeaderLossElectsFromIsrWithEpochBump) {
    start(3);
    create(1, "t", {{0, {2, 3, 1}}, {1, {1, 2, 3}}});
    nodes_.erase(2);
    ASSERT_TRUE(wait_for([&] {
        const partition_info* p = n(1).part("t", 0);
        return p && p->leader == 3;
    }));
    const partition_info* p = n(1).part("t", 0);
    EXPECT_EQ(p->leader_epoch, 1);
    EXPECT_EQ(p->isr, (std::vector<int32_t>{3, 1}));
    EXPECT_GT(p->partition_epoch, 0);
    // Partition 1: broker 2 was only a follower; it leaves the ISR, epoch unchanged.
    ASSERT_TRUE(wait_for([&] {
        const partition_info* q = n(3).part("t", 1);
        return q && q->isr == std::vector<int32_t>{1, 3};
    }));
    EXPECT_EQ(n(3).part("t", 1)->leader, 1);
    EXPECT_EQ(n(3).part("t", 1)->leader_epoch, 0);
    EXPECT_FALSE(n(3).snap()->brokers.contains(2));
}

TEST_F(ZkStoreTest, OfflineReplicasMoveLeadershipAndLeaveTheIsr) {
    start(3);
    create(1, "t", {{0, {2, 3, 1}}, {1, {1, 2, 3}}, {2, {3, 1, 2}}});
    ASSERT_TRUE(wait_for([&] {
        const partition_info* p = n(1).part("t", 0);
        return p && p->leader == 2 && p->isr.size() == 3;
    }));
    // Broker 2's log dir holding t-0 and t-1 failed: it reports them (its registration stays).
    ASSERT_TRUE(n(2).store->report_offline_replicas({{"t", 0}, {"t", 1}}));
    ASSERT_TRUE(wait_for([&] {
        const partition_info* p = n(1).part("t", 0);
        return p && p->leader == 3;
    }));
    const partition_info* p = n(1).part("t", 0);
    EXPECT_EQ(p->leader_epoch, 1);
    EXPECT_EQ(p->isr, (std::vector<int32_t>{3, 1}));
    // A follower replica leaves the ISR, the leader stays.
    ASSERT_TRUE(wait_for([&] {
        const partition_info* q = n(3).part("t", 1);
        return q && q->isr == std::vector<int32_t>{1, 3};
    }));
    EXPECT_EQ(n(3).part("t", 1)->leader, 1);
    // t-2 is untouched; broker 2 is still registered.
    EXPECT_EQ(n(3).part("t", 2)->isr.size(), 3u);
    EXPECT_TRUE(n(3).snap()->brokers.contains(2));
    EXPECT_TRUE(n(3).snap()->replica_offline(2, "t", 0));
    EXPECT_FALSE(n(3).snap()->replica_offline(2, "t", 2));
    // Kafka's notification was consumed by the controller.
    EXPECT_TRUE(wait_for(
        [&] { return zk_testing::children(*n(1).store, "/log_dir_event_notification").empty(); }));
    // Broker 2 restarts with the dir repaired: its stale set is gone.
    nodes_.erase(2);
    auto again = make_node(2);
    ASSERT_NE(again, nullptr);
    nodes_[2] = std::move(again);
    EXPECT_TRUE(wait_for([&] { return !n(3).snap()->replica_offline(2, "t", 0); }));
}

TEST_F(ZkStoreTest, NoLiveIsrMemberGoesOfflineAndRecovers) {
    start(2);
    create(1, "t", {{0, {2, 1}}});
    const partition_info* p = n(1).part("t", 0);
    ASSERT_NE(p, nullptr);
    auto shrunk = n(2).store->alter_isr("t", 0, 2, 0, p->partition_epoch, {2});
    ASSERT_TRUE(shrunk.has_value()) << shrunk.error().message;
    nodes_.erase(2);
    ASSERT_TRUE(wait_for([&] {
        const partition_info* q = n(1).part("t", 0);
        return q && q->leader == -1;
    }));
    EXPECT_EQ(n(1).part("t", 0)->isr, std::vector<int32_t>{2});
    EXPECT_EQ(n(1).part("t", 0)->leader_epoch, 1);
    // The last leader comes back and leads again.
    auto again = make_node(2);
    ASSERT_NE(again, nullptr);
    nodes_[2] = std::move(again);
    ASSERT_TRUE(wait_for([&] {
        const partition_info* q = n(1).part("t", 0);
        return q && q->leader == 2;
    }));
    EXPECT_EQ(n(1).part("t", 0)->leader_epoch, 2);
}

TEST_F(ZkStoreTest, UncleanElectionWhenEnabledForTheTopic) {
    start(2);
    config_values cfg;
    cfg.set("unclean.leader.election.enable", "true");
    create(1, "u", {{0, {2, 1}}}, cfg);
    const partition_info* p = n(1).part("u", 0);
    ASSERT_TRUE(n(2).store->alter_isr("u", 0, 2, 0, p->partition_epoch, {2}).has_value());
    nodes_.erase(2);
    ASSERT_TRUE(wait_for([&] {
        const partition_info* q = n(1).part("u", 0);
        return q && q->leader == 1;
    }));
    EXPECT_EQ(n(1).part("u", 0)->isr, std::vector<int32_t>{1});
    EXPECT_EQ(n(1).part("u", 0)->leader_epoch, 1);
}

TEST_F(ZkStoreTest, AlterIsrIsConditional) {
    start(3);
    create(1, "t", {{0, {1, 2, 3}}});
    const partition_info* p = n(1).part("t", 0);
    ASSERT_NE(p, nullptr);
    int32_t pe = p->partition_epoch;
    auto ok = n(1).store->alter_isr("t", 0, 1, 0, pe, {1, 2});
    ASSERT_TRUE(ok.has_value()) << ok.error().message;
    EXPECT_EQ(ok->isr, (std::vector<int32_t>{1, 2}));
    EXPECT_EQ(ok->partition_epoch, pe + 1);
    EXPECT_EQ(n(1).part("t", 0)->isr, (std::vector<int32_t>{1, 2}));  // own snapshot at once
    auto stale = n(1).store->alter_isr("t", 0, 1, 0, pe, {1});
    ASSERT_FALSE(stale.has_value());
    EXPECT_EQ(stale.error().code, meta_errc::stale_state);
    auto not_leader = n(2).store->alter_isr("t", 0, 2, 0, pe + 1, {2});
    ASSERT_FALSE(not_leader.has_value());
    EXPECT_EQ(not_leader.error().code, meta_errc::not_leader);
    auto old_epoch = n(1).store->alter_isr("t", 0, 1, 7, pe + 1, {1});
    ASSERT_FALSE(old_epoch.has_value());
    EXPECT_EQ(old_epoch.error().code, meta_errc::not_leader);
    auto back = n(1).store->alter_isr("t", 0, 1, 0, pe + 1, {1, 2, 3});
    ASSERT_TRUE(back.has_value()) << back.error().message;
    ASSERT_TRUE(wait_for([&] { return n(3).part("t", 0)->isr.size() == 3; }));
}

TEST_F(ZkStoreTest, ControlledShutdownMovesLeadership) {
    start(3);
    new_topic t;
    t.name = "cs";
    t.partitions = 6;
    t.replication_factor = 3;
    ASSERT_TRUE(n(1).store->create_topic(t, false).has_value());
    int led = 0;
    ASSERT_TRUE(wait_for([&] { return n(2).snap()->find_topic("cs") != nullptr; }));
    auto before = n(2).snap();
    for (const auto& p : before->find_topic("cs")->partitions)
        if (p.leader == 2) ++led;
    EXPECT_GT(led, 0);
    int left = n(2).store->controlled_shutdown(10s);
    EXPECT_EQ(left, 0);
    auto after = n(2).snap();
    for (const auto& p : after->find_topic("cs")->partitions) {
        EXPECT_NE(p.leader, 2);
        EXPECT_GE(p.leader, 1);
    }
    ASSERT_TRUE(wait_for([&] {
        auto s1 = n(1).snap();
        for (const auto& p : s1->find_topic("cs")->partitions)
            if (p.leader == 2 || std::find(p.isr.begin(), p.isr.end(), 2) != p.isr.end())
                return false;
        return true;
    }));
}

TEST_F(ZkStoreTest, PreferredLeaderElection) {
    start(2);
    create(2, "p", {{0, {1, 2}}});
    auto r = n(2).store->elect_preferred_leader("p", 0);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, meta_errc::election_not_needed);
    nodes_.erase(1);
    ASSERT_TRUE(wait_for([&] { return n(2).part("p", 0)->leader == 2; }));
    EXPECT_EQ(n(2).part("p", 0)->isr, std::vector<int32_t>{2});
    auto again = make_node(1);
    ASSERT_NE(again, nullptr);
    nodes_[1] = std::move(again);
    ASSERT_TRUE(all_agree());
    r = n(2).store->elect_preferred_leader("p", 0);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, meta_errc::preferred_leader_not_available);
    // The leader adds the caught-up follower; then the preferred replica can lead.
    const partition_info* p = n(2).part("p", 0);
    ASSERT_TRUE(
        n(2).store->alter_isr("p", 0, 2, p->leader_epoch, p->partition_epoch, {2, 1}).has_value());
    r = n(1).store->elect_preferred_leader("p", 0);
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(n(1).part("p", 0)->leader, 1);
    EXPECT_EQ(n(1).part("p", 0)->leader_epoch, 2);
}

TEST_F(ZkStoreTest, AutoLeaderRebalance) {
    for (int id = 1; id <= 2; ++id) {
        auto nd = make_node(id, std::nullopt,
                            {{"auto.leader.rebalance.enable", "true"},
                             {"leader.imbalance.check.interval.seconds", "1"}});
        ASSERT_NE(nd, nullptr);
        nodes_[id] = std::move(nd);
    }
    ASSERT_TRUE(all_agree());
    create(1, "r", {{0, {1, 2}}});
    // Move leadership away from the preferred replica.
    int32_t ctl = n(1).snap()->controller_id;
    (void)ctl;
    const partition_info* p = n(1).part("r", 0);
    ASSERT_EQ(p->leader, 1);
    // Broker 1 leaves; 2 leads; 1 comes back and is re-added to the ISR by the leader.
    nodes_.erase(1);
    ASSERT_TRUE(wait_for([&] { return n(2).part("r", 0)->leader == 2; }));
    auto again = make_node(1, std::nullopt,
                           {{"auto.leader.rebalance.enable", "true"},
                            {"leader.imbalance.check.interval.seconds", "1"}});
    ASSERT_NE(again, nullptr);
    nodes_[1] = std::move(again);
    p = n(2).part("r", 0);
    ASSERT_TRUE(
        n(2).store->alter_isr("r", 0, 2, p->leader_epoch, p->partition_epoch, {2, 1}).has_value());
    ASSERT_TRUE(wait_for([&] { return n(1).part("r", 0)->leader == 1; }, 8s));
}

TEST_F(ZkStoreTest, ReassignmentCompletesWhenTargetsAreInSync) {
    start(4);
    create(1, "m", {{0, {1, 2}}});
    auto none = n(3).store->reassign_partition("m", 0, {});
    ASSERT_FALSE(none.has_value());
    EXPECT_EQ(none.error().code, meta_errc::no_reassignment_in_progress);
    ASSERT_TRUE(n(3).store->reassign_partition("m", 0, {3, 4}).has_value());
    const partition_info* p = n(3).part("m", 0);
    EXPECT_EQ(p->replicas, (std::vector<int32_t>{3, 4, 1, 2}));
    EXPECT_EQ(p->adding_replicas, (std::vector<int32_t>{3, 4}));
    EXPECT_EQ(p->removing_replicas, (std::vector<int32_t>{1, 2}));
    EXPECT_EQ(p->leader, 1);
    EXPECT_EQ(p->isr, (std::vector<int32_t>{1, 2}));
    // Not complete until the new replicas are in sync.
    std::this_thread::sleep_for(300ms);
    EXPECT_EQ(n(1).part("m", 0)->replicas.size(), 4u);
    // The leader adds the caught-up replicas.
    ASSERT_TRUE(wait_for([&] { return n(1).part("m", 0)->replicas.size() == 4; }));
    p = n(1).part("m", 0);
    auto r = n(1).store->alter_isr("m", 0, 1, p->leader_epoch, p->partition_epoch, {1, 2, 3, 4});
    ASSERT_TRUE(r.has_value()) << r.error().message;
    ASSERT_TRUE(wait_for([&] {
        const partition_info* q = n(2).part("m", 0);
        return q && q->replicas == std::vector<int32_t>{3, 4};
    }));
    p = n(2).part("m", 0);
    EXPECT_EQ(p->leader, 3);
    EXPECT_EQ(p->leader_epoch, 1);
    EXPECT_EQ(p->isr, (std::vector<int32_t>{3, 4}));
    EXPECT_TRUE(p->adding_replicas.empty());
    EXPECT_TRUE(p->removing_replicas.empty());
}

TEST_F(ZkStoreTest, ReassignmentCancel) {
    start(3);
    create(1, "c", {{0, {1, 2}}});
    ASSERT_TRUE(n(1).store->reassign_partition("c", 0, {3, 2}).has_value());
    EXPECT_EQ(n(1).part("c", 0)->replicas, (std::vector<int32_t>{3, 2, 1}));
    ASSERT_TRUE(n(1).store->reassign_partition("c", 0, {}).has_value());
    const partition_info* p = n(1).part("c", 0);
    // Like Kafka: the original replicas are the full set minus the adding ones, in its order.
    EXPECT_EQ(p->replicas, (std::vector<int32_t>{2, 1}));
    EXPECT_TRUE(p->adding_replicas.empty());
    EXPECT_TRUE(p->removing_replicas.empty());
}

TEST_F(ZkStoreTest, ChrootIsCreated) {
    chroot_ += "/deep/er";
    start(1);
    std::string err;
    auto s = zk::session::open(g_zk->connect_string(), 4000, 5000ms, nullptr, &err);
    ASSERT_NE(s, nullptr) << err;
    EXPECT_EQ(s->exists(chroot_ + "/brokers/ids/1", false), ZOK);
    EXPECT_EQ(s->exists(chroot_ + "/cluster/id", false), ZOK);
    EXPECT_EQ(s->exists(chroot_ + "/controller", false), ZOK);
    std::string data;
    ASSERT_EQ(s->get(chroot_ + "/brokers/ids/1", false, &data), ZOK);
    EXPECT_NE(data.find("\"endpoints\":[\"PLAINTEXT://127.0.0.1:19001\"]"), std::string::npos)
        << data;
}

TEST_F(ZkStoreTest, ClusterIdMismatchIsAStartupError) {
    start(1);
    std::filesystem::create_directories(base_ + "/broker-2");
    {
        std::ofstream out(base_ + "/broker-2/meta.properties");
        out << "version=0\ncluster.id=AAAAAAAAAAAAAAAAAAAAAA\nbroker.id=2\n";
    }
    std::string err;
    auto bad = make_node(2, std::nullopt, {}, &err);
    EXPECT_EQ(bad, nullptr);
    EXPECT_NE(err.find("does not match"), std::string::npos) << err;
    {
        std::ofstream out(base_ + "/broker-2/meta.properties");
        out << "version=0\nbroker.id=7\n";
    }
    bad = make_node(2, std::nullopt, {}, &err);
    EXPECT_EQ(bad, nullptr);
    EXPECT_NE(err.find("broker.id"), std::string::npos) << err;
}

TEST_F(ZkStoreTest, SessionExpiryReRegisters) {
    start(2);
    create(1, "e", {{0, {1, 2}}});
    std::string err;
    auto raw = zk::session::open(connect(), 4000, 5000ms, nullptr, &err);
    ASSERT_NE(raw, nullptr) << err;
    Stat before;
    ASSERT_EQ(raw->exists("/brokers/ids/1", false, &before), ZOK);
    ASSERT_TRUE(zk_testing::expire_session(*n(1).store));
    ASSERT_TRUE(wait_for(
        [&] {
            Stat now;
            return raw->exists("/brokers/ids/1", false, &now) == ZOK &&
                   now.ephemeralOwner != before.ephemeralOwner;
        },
        15s));
    ASSERT_TRUE(all_agree());
    // Still fully working: watches re-armed (an existing partition's state), writes go through.
    ASSERT_TRUE(wait_for([&] {
        const partition_info* p = n(2).part("e", 0);
        return p && p->leader == 2 && p->isr.size() == 1;
    }));
    const partition_info* pe = n(2).part("e", 0);
    auto grown = n(2).store->alter_isr("e", 0, 2, pe->leader_epoch, pe->partition_epoch, {2, 1});
    ASSERT_TRUE(grown.has_value()) << grown.error().message;
    ASSERT_TRUE(wait_for([&] { return n(1).part("e", 0)->isr.size() == 2; }));
    create(1, "after-expiry", {{0, {2, 1}}});
    ASSERT_TRUE(wait_for([&] { return n(2).snap()->find_topic("after-expiry") != nullptr; }));
    create(2, "seen-by-1", {{0, {1}}});
    ASSERT_TRUE(wait_for([&] { return n(1).snap()->find_topic("seen-by-1") != nullptr; }));
    EXPECT_TRUE(wait_for([&] { return controllers() == 1; }));
}

TEST_F(ZkStoreTest, WaitsForAPreviousIncarnationsRegistrationToGo) {
    start(1);
    std::string err;
    auto old = zk::session::open(connect(), 4000, 5000ms, nullptr, &err);
    ASSERT_NE(old, nullptr) << err;
    ASSERT_EQ(old->create("/brokers/ids/5", "{}", true), ZOK);
    std::thread closer([&] {
        std::this_thread::sleep_for(700ms);
        old.reset();  // the previous incarnation's session ends
    });
    auto start = std::chrono::steady_clock::now();
    auto five = make_node(5);
    closer.join();
    ASSERT_NE(five, nullptr);
    EXPECT_GE(std::chrono::steady_clock::now() - start, 600ms);
    nodes_[5] = std::move(five);
    EXPECT_TRUE(all_agree());
}

TEST_F(ZkStoreTest, ControllerCompletesTopicsWrittenByOtherTools) {
    start(2);
    std::string err;
    auto raw = zk::session::open(connect(), 4000, 5000ms, nullptr, &err);
    ASSERT_NE(raw, nullptr) << err;
    // The shape older Kafka tools wrote: no topic id, no partition state.
    ASSERT_EQ(raw->create("/brokers/topics/legacy",
                          R"({"version":1,"partitions":{"0":[2,1],"1":[1,2]}})"),
              ZOK);
    ASSERT_TRUE(wait_for([&] {
        const partition_info* p0 = n(1).part("legacy", 0);
        const partition_info* p1 = n(2).part("legacy", 1);
        return p0 && p1 && p0->leader == 2 && p1->leader == 1 &&
               !n(1).snap()->find_topic("legacy")->id.is_zero();
    }));
    EXPECT_EQ(n(1).part("legacy", 0)->isr, (std::vector<int32_t>{2, 1}));
    EXPECT_EQ(n(2).snap()->find_topic("legacy")->id, n(1).snap()->find_topic("legacy")->id);
}

TEST_F(ZkStoreTest, ListenersSeeEveryChange) {
    start(1);
    // Shared state: the listener may still run until the store is destroyed in TearDown.
    struct seen {
        std::atomic<uint64_t> last{0};
        std::atomic<int> calls{0};
    };
    auto state = std::make_shared<seen>();
    n(1).store->subscribe([state](std::shared_ptr<const metadata_snapshot> s) {
        state->last = s->version;
        ++state->calls;
    });
    create(1, "l", {{0, {1}}});
    EXPECT_GT(state->calls.load(), 0);
    EXPECT_EQ(state->last.load(), n(1).snap()->version);
}

TEST(ZkStoreStandalone, UnreachableZooKeeperMeansUnavailableAndTheSnapshotIsKept) {
    rill::testing::zk_server server;
    ASSERT_TRUE(server.start()) << server.error();
    char tmpl[] = "/tmp/rill-zk-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    config_values v;
    v.set("broker.id", "1");
    v.set("zookeeper.connect", server.connect_string() + "/standalone");
    v.set("zookeeper.session.timeout.ms", "4000");
    v.set("zookeeper.connection.timeout.ms", "3000");
    auto cfg = broker_config::make(v);
    ASSERT_TRUE(cfg.has_value());
    broker_info self;
    self.id = 1;
    self.endpoints.push_back(broker_endpoint{"PLAINTEXT", "127.0.0.1", 19001});
    std::string err;
    auto store = make_zookeeper_store(*cfg, self, dir, &err);
    ASSERT_NE(store, nullptr) << err;
    new_topic t;
    t.name = "kept";
    t.partitions = 2;
    t.replication_factor = 1;
    ASSERT_TRUE(store->create_topic(t, false).has_value());
    server.stop();
    auto start = std::chrono::steady_clock::now();
    t.name = "lost";
    auto r = store->create_topic(t, false);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, meta_errc::unavailable) << r.error().message;
    auto isr = store->alter_isr("kept", 0, 1, 0, 0, {1});
    ASSERT_FALSE(isr.has_value());
    EXPECT_EQ(isr.error().code, meta_errc::unavailable) << isr.error().message;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
    auto snap = store->snapshot();
    ASSERT_NE(snap->find_topic("kept"), nullptr);
    EXPECT_EQ(snap->find_topic("kept")->partitions[1].leader, 1);
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    // Nothing listens: startup fails within the connection timeout with a clear error.
    start = std::chrono::steady_clock::now();
    auto none = make_zookeeper_store(*cfg, self, dir, &err);
    EXPECT_EQ(none, nullptr);
    EXPECT_NE(err.find("timed out"), std::string::npos) << err;
    EXPECT_LT(std::chrono::steady_clock::now() - start, 6s);
    std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace rill::cluster
