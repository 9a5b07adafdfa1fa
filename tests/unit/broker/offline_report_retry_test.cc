// partition_manager: a failed report of offline replicas to the controller (ZooKeeper down) is
// retried with back-off on the control thread until it succeeds, not only at the next change
// (#14).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include "broker/partition_manager.h"
#include "storage/fault_fs.h"
#include "storage/test_util.h"

namespace rill::broker {
namespace {

namespace st = storage::test;
namespace asio = boost::asio;
using namespace std::chrono_literals;
using replica_set = std::set<std::pair<std::string, int32_t>>;

// The embedded store, seen as a cluster-mode store whose report_offline_replicas fails the
// first `failures` calls (the controller's ZooKeeper unreachable).
class flaky_reporting_store final : public cluster::metadata_store {
  public:
    flaky_reporting_store(std::unique_ptr<cluster::metadata_store> inner, int failures)
        : inner_(std::move(inner)), failures_(failures) {}

    std::shared_ptr<const cluster::metadata_snapshot> snapshot() const override {
        auto s = std::make_shared<cluster::metadata_snapshot>(*inner_->snapshot());
        s->cluster_mode = true;
        return s;
    }
    result<cluster::topic_info, cluster::meta_error> create_topic(const cluster::new_topic& t,
                                                                  bool v) override {
        return inner_->create_topic(t, v);
    }
    result<void, cluster::meta_error> delete_topic(const std::string& n) override {
        return inner_->delete_topic(n);
    }
    result<void, cluster::meta_error> create_partitions(const std::string& n, int32_t total,
                                                        bool v) override {
        return inner_->create_partitions(n, total, v);
    }
    result<void, cluster::meta_error> set_topic_configs(const std::string& n,
                                                        const config_values& c, bool v) override {
        return inner_->set_topic_configs(n, c, v);
    }
    result<void, cluster::meta_error> set_group_configs(const std::string& g,
                                                        const config_values& c) override {
        return inner_->set_group_configs(g, c);
    }
    result<int64_t, cluster::meta_error> allocate_producer_ids(int32_t count) override {
        return inner_->allocate_producer_ids(count);
    }
    result<cluster::partition_info, cluster::meta_error> alter_isr(
        const std::string& topic, int32_t partition, int32_t leader, int32_t leader_epoch,
        int32_t partition_epoch, std::vector<int32_t> isr) override {
        return inner_->alter_isr(topic, partition, leader, leader_epoch, partition_epoch,
                                 std::move(isr));
    }
    result<void, cluster::meta_error> report_offline_replicas(const replica_set& parts) override {
        std::lock_guard lk(mu_);
        calls_.push_back({std::chrono::steady_clock::now(), parts});
        if (failures_ > 0) {
            --failures_;
            return unexpected{cluster::meta_error{cluster::meta_errc::storage_error,
                                                  "ZooKeeper unreachable (test)"}};
        }
        reported_ = parts;
        return {};
    }
    void subscribe(listener l) override { inner_->subscribe(std::move(l)); }

    struct call {
        std::chrono::steady_clock::time_point at;
        replica_set parts;
    };
    std::vector<call> calls() const {
        std::lock_guard lk(mu_);
        return calls_;
    }
    std::optional<replica_set> reported() const {
        std::lock_guard lk(mu_);
        return reported_;
    }

  private:
    std::unique_ptr<cluster::metadata_store> inner_;
    mutable std::mutex mu_;
    int failures_;
    std::vector<call> calls_;
    std::optional<replica_set> reported_;
};

TEST(OfflineReportRetry, FailedReportIsRetriedWithBackOffUntilItSucceeds) {
    st::temp_dir d;
    const std::string dir_a = d.sub("a"), dir_b = d.sub("b");
    // A partition in each dir, written cleanly.
    {
        storage::log_manager_config mc;
        mc.log_dirs = {dir_a, dir_b};
        auto m = st::take(storage::log_manager::open(nullptr, mc));
        for (int p = 0; p < 2; ++p)
            ASSERT_TRUE(m->create({"t", p}, storage::log_config{}, 0));
        ASSERT_TRUE(m->close());
    }
    const int in_a = std::filesystem::exists(dir_a + "/t-0") ? 0 : 1;
    const std::string failing = dir_a + "/t-" + std::to_string(in_a);
    const replica_set expected{{"t", in_a}};

    // Restart with the disk under that partition failing (EIO): it cannot load and goes
    // offline (the failed dir's other partitions with it; here it holds just this one).
    auto fsys = std::make_shared<st::fault_fs>();
    fsys->f().fail_under(failing, EIO);
    storage::log_manager_config mc;
    mc.log_dirs = {dir_a, dir_b};
    auto logs = st::take(storage::log_manager::open(fsys, mc));

    auto config = broker_config::make({});
    ASSERT_TRUE(config);
    std::string err;
    auto inner =
        cluster::make_embedded_store(d.sub("meta"), cluster::broker_info{.id = 0}, *config, &err);
    ASSERT_NE(inner, nullptr) << err;
    flaky_reporting_store store(std::move(inner), 2);
    asio::io_context shard(1);
    auto guard = asio::make_work_guard(shard);
    std::thread shard_thread([&] { shard.run(); });
    {
        partition_manager pm(*logs, *config, store, {&shard});
        ASSERT_TRUE(pm.start());
        // Nothing else changes: the retries alone get the report through (200 ms, 400 ms).
        for (int i = 0; i < 5000 && !store.reported(); ++i)
            std::this_thread::sleep_for(1ms);
        ASSERT_TRUE(store.reported()) << store.calls().size() << " reports tried";
        EXPECT_EQ(*store.reported(), expected);
        auto calls = store.calls();
        ASSERT_EQ(calls.size(), 3u);
        EXPECT_GE(calls[1].at - calls[0].at, 150ms);
        EXPECT_GE(calls[2].at - calls[1].at, 350ms);  // the back-off doubles
        // Once through, nothing more is sent.
        std::this_thread::sleep_for(500ms);
        EXPECT_EQ(store.calls().size(), 3u);
        pm.stop();
    }
    guard.reset();
    shard.stop();
    shard_thread.join();
    logs->close();
}

// stop() does not wait for a pending retry (a long back-off must not delay shutdown).
TEST(OfflineReportRetry, StopDoesNotWaitForAPendingRetry) {
    st::temp_dir d;
    const std::string dir_a = d.sub("a");
    {
        storage::log_manager_config mc;
        mc.log_dirs = {dir_a};
        auto m = st::take(storage::log_manager::open(nullptr, mc));
        ASSERT_TRUE(m->create({"t", 0}, storage::log_config{}, 0));
        ASSERT_TRUE(m->close());
    }
    auto fsys = std::make_shared<st::fault_fs>();
    fsys->f().fail_under(dir_a + "/t-0", EIO);
    storage::log_manager_config mc;
    mc.log_dirs = {dir_a};
    auto logs = st::take(storage::log_manager::open(fsys, mc));
    auto config = broker_config::make({});
    ASSERT_TRUE(config);
    std::string err;
    auto inner =
        cluster::make_embedded_store(d.sub("meta"), cluster::broker_info{.id = 0}, *config, &err);
    ASSERT_NE(inner, nullptr) << err;
    flaky_reporting_store store(std::move(inner), 1000);
    asio::io_context shard(1);
    auto guard = asio::make_work_guard(shard);
    std::thread shard_thread([&] { shard.run(); });
    {
        partition_manager pm(*logs, *config, store, {&shard});
        ASSERT_TRUE(pm.start());
        for (int i = 0; i < 5000 && store.calls().size() < 2; ++i)
            std::this_thread::sleep_for(1ms);
        EXPECT_GE(store.calls().size(), 2u);
        const auto t0 = std::chrono::steady_clock::now();
        pm.stop();
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
    }
    guard.reset();
    shard.stop();
    shard_thread.join();
    logs->close();
}

}  // namespace
}  // namespace rill::broker
