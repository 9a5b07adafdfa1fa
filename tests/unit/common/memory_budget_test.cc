#include "common/memory_budget.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace rill {
namespace {

namespace asio = boost::asio;

TEST(MemoryBudget, GrantsWhatFitsAndOneOversizedAlone) {
    memory_budget b(100);
    auto a = b.try_acquire(60);
    ASSERT_TRUE(a);
    EXPECT_FALSE(b.try_acquire(50));
    auto c = b.try_acquire(40);
    ASSERT_TRUE(c);
    EXPECT_EQ(b.used(), 100);
    a->release();
    c->release();
    EXPECT_EQ(b.used(), 0);
    // Larger than the whole budget: granted when nothing else is held.
    auto big = b.try_acquire(1000);
    ASSERT_TRUE(big);
    EXPECT_FALSE(b.try_acquire(1));
}

TEST(MemoryBudget, UnboundedWhenCapacityNotPositive) {
    memory_budget b(-1);
    auto a = b.try_acquire(1LL << 40);
    auto c = b.try_acquire(1LL << 40);
    EXPECT_TRUE(a && c);
}

TEST(MemoryBudget, ReleaseWakesWaiterFirstFit) {
    asio::io_context io;
    memory_budget b(100);
    auto held = b.try_acquire(90);
    std::vector<int> order;
    auto big = [&]() -> asio::awaitable<void> {
        auto l = co_await b.acquire(80);
        order.push_back(80);
    };
    auto small = [&]() -> asio::awaitable<void> {
        auto l = co_await b.acquire(10);  // fits beside the 90 held
        order.push_back(10);
    };
    asio::co_spawn(io, big(), asio::detached);
    asio::co_spawn(io, small(), asio::detached);
    io.run_for(std::chrono::milliseconds(20));
    io.restart();
    EXPECT_EQ(order, std::vector<int>{10});
    EXPECT_EQ(b.waiting(), 1u);
    held->release();
    io.run_for(std::chrono::milliseconds(20));
    EXPECT_EQ(order, (std::vector<int>{10, 80}));
    EXPECT_EQ(b.used(), 0);
}

TEST(MemoryBudget, CancelledWaiterLeavesNothingHeld) {
    asio::io_context io;
    memory_budget b(100);
    auto held = b.try_acquire(100);
    auto w = b.make_waiter(io.get_executor(), 50);
    bool got_nullopt = false;
    auto waiting = [&]() -> asio::awaitable<void> {
        auto r = co_await w->wait();
        got_nullopt = !r.has_value();
    };
    asio::co_spawn(io, waiting(), asio::detached);
    io.run_for(std::chrono::milliseconds(10));
    io.restart();
    EXPECT_EQ(b.waiting(), 1u);
    asio::post(io, [&] { w->cancel(); });
    io.run_for(std::chrono::milliseconds(10));
    EXPECT_TRUE(got_nullopt);
    EXPECT_EQ(b.waiting(), 0u);
    held->release();
    EXPECT_EQ(b.used(), 0);
}

TEST(MemoryBudget, ManyThreadsEndBalanced) {
    memory_budget b(1000);
    std::vector<std::unique_ptr<asio::io_context>> ios;
    std::vector<std::thread> threads;
    std::atomic<int> done{0};
    for (int t = 0; t < 4; ++t) {
        ios.push_back(std::make_unique<asio::io_context>());
        auto& io = *ios.back();
        for (int i = 0; i < 50; ++i) {
            auto task = [&b, &done, i]() -> asio::awaitable<void> {
                auto l = co_await b.acquire(100 + i * 7);
                asio::steady_timer t(co_await asio::this_coro::executor,
                                     std::chrono::microseconds(100));
                co_await t.async_wait(asio::use_awaitable);
                ++done;
            };
            asio::co_spawn(io, task(), asio::detached);
        }
        threads.emplace_back([&io] { io.run(); });
    }
    for (auto& th : threads)
        th.join();
    EXPECT_EQ(done.load(), 200);
    EXPECT_EQ(b.used(), 0);
    EXPECT_EQ(b.waiting(), 0u);
}

}  // namespace
}  // namespace rill
