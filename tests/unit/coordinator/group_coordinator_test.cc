// The group coordinator's creation of __consumer_offsets: a metadata store write handed to the
// metadata thread (here a queue the test runs by hand), never run on the shard that asks;
// requests meanwhile get COORDINATOR_NOT_AVAILABLE, and one creation serves every caller.
#include "coordinator/group_coordinator.h"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <deque>
#include <filesystem>

namespace rill::coordinator {
namespace {

namespace m = protocol::messages;
using protocol::error_code;

class GroupCoordinatorTest : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/rill-gc-test-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        config_values v;
        v.set("offsets.topic.num.partitions", "3");
        v.set("offsets.topic.replication.factor", "1");
        auto c = broker_config::make(v);
        ASSERT_TRUE(c.has_value());
        config_ = std::make_unique<broker_config>(std::move(*c));
        cluster::broker_info self;
        self.id = 1;
        self.endpoints.push_back({"PLAINTEXT", "127.0.0.1", 9092});
        std::string err;
        store_ = cluster::make_embedded_store(dir_, self, *config_, &err);
        ASSERT_NE(store_, nullptr) << err;

        coordinator_host h;
        h.shards = {&io_};
        h.shard_of = [](const storage::topic_partition&) { return size_t{0}; };
        h.log_of = [](const storage::topic_partition&) {
            return std::shared_ptr<storage::partition_log>();
        };
        h.leader_epoch_of = [](const storage::topic_partition&) { return -1; };
        h.append = [](const storage::topic_partition&,
                      protocol::bytes&) -> result<int64_t, error_code> {
            return unexpected(error_code::not_leader_or_follower);
        };
        h.run_metadata_write = [this](std::function<void()> work) {
            meta_queue_.push_back(std::move(work));
        };
        gc_ = std::make_unique<group_coordinator>(std::move(h), *config_, *store_);
    }
    void TearDown() override {
        gc_.reset();
        store_.reset();
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    // Runs the metadata thread's queue.
    void run_metadata_thread() {
        while (!meta_queue_.empty()) {
            auto fn = std::move(meta_queue_.front());
            meta_queue_.pop_front();
            fn();
        }
    }
    bool topic_exists() const { return store_->snapshot()->find_topic(kOffsetsTopic) != nullptr; }

    std::shared_ptr<std::optional<error_code>> ensure(std::chrono::milliseconds wait) {
        auto out = std::make_shared<std::optional<error_code>>();
        boost::asio::co_spawn(
            io_,
            [this, out, wait]() -> boost::asio::awaitable<void> {
                auto op = gc_->ensure_offsets_topic(wait);
                *out = co_await std::move(op);
            },
            boost::asio::detached);
        return out;
    }
    std::shared_ptr<std::optional<m::join_group_response>> join() {
        auto out = std::make_shared<std::optional<m::join_group_response>>();
        boost::asio::co_spawn(
            io_,
            [this, out]() -> boost::asio::awaitable<void> {
                m::join_group_request r;
                r.group_id = "g";
                r.session_timeout_ms = 10000;
                r.rebalance_timeout_ms = 10000;
                r.protocol_type = "consumer";
                auto op = gc_->join_group(std::move(r), join_options{}, client_info{});
                *out = co_await std::move(op);
            },
            boost::asio::detached);
        return out;
    }
    void poll() {
        io_.restart();
        io_.poll();
    }

    std::string dir_;
    boost::asio::io_context io_;
    std::unique_ptr<broker_config> config_;
    std::unique_ptr<cluster::metadata_store> store_;
    std::deque<std::function<void()>> meta_queue_;
    std::unique_ptr<group_coordinator> gc_;
};

TEST_F(GroupCoordinatorTest, TheOffsetsTopicIsCreatedOnTheMetadataThread) {
    // A group request before the topic exists starts the creation and does not wait for it.
    auto j = join();
    poll();
    ASSERT_TRUE(j->has_value());
    EXPECT_EQ((*j)->error_code, static_cast<int16_t>(error_code::coordinator_not_available));
    EXPECT_EQ(meta_queue_.size(), 1u);
    EXPECT_FALSE(topic_exists());

    // FindCoordinator's wait: one creation serves every caller, nothing is written twice.
    auto a = ensure(std::chrono::seconds(30));
    auto b = ensure(std::chrono::seconds(30));
    auto j2 = join();
    poll();
    EXPECT_FALSE(a->has_value());
    EXPECT_FALSE(b->has_value());
    ASSERT_TRUE(j2->has_value());
    EXPECT_EQ((*j2)->error_code, static_cast<int16_t>(error_code::coordinator_not_available));
    EXPECT_EQ(meta_queue_.size(), 1u);

    run_metadata_thread();
    EXPECT_TRUE(topic_exists());
    poll();
    ASSERT_TRUE(a->has_value());
    ASSERT_TRUE(b->has_value());
    EXPECT_EQ(**a, error_code::none);
    EXPECT_EQ(**b, error_code::none);
    EXPECT_EQ(store_->snapshot()->find_topic(kOffsetsTopic)->partitions.size(), 3u);

    // Now the group has a coordinator partition (not led here in this test: NOT_COORDINATOR).
    auto j3 = join();
    poll();
    ASSERT_TRUE(j3->has_value());
    EXPECT_EQ((*j3)->error_code, static_cast<int16_t>(error_code::not_coordinator));
    auto c = ensure(std::chrono::seconds(30));
    poll();
    ASSERT_TRUE(c->has_value());
    EXPECT_EQ(**c, error_code::none);
    EXPECT_TRUE(meta_queue_.empty());
}

TEST_F(GroupCoordinatorTest, WaitingForTheCreationIsBounded) {
    auto a = ensure(std::chrono::milliseconds(50));
    poll();
    EXPECT_FALSE(a->has_value());
    io_.restart();
    io_.run_for(std::chrono::milliseconds(500));
    ASSERT_TRUE(a->has_value());
    EXPECT_EQ(**a, error_code::coordinator_not_available);
    // The write still completes later, and the next caller finds the topic.
    run_metadata_thread();
    auto b = ensure(std::chrono::milliseconds(50));
    poll();
    ASSERT_TRUE(b->has_value());
    EXPECT_EQ(**b, error_code::none);
}

}  // namespace
}  // namespace rill::coordinator
