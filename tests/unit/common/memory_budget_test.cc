#include "common/memory_budget.h"

#include <gtest/gtest.h>

#include <atomic>
#include <optional>
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

TEST(MemoryBudget, SmallerRequestsOvertakeAWaitingBigOne) {
    asio::io_context io;
    memory_budget b(100);
    auto held = b.try_acquire(70);
    std::vector<int> order;
    auto take = [&](int n) -> asio::awaitable<void> {
        auto l = co_await b.acquire(n);
        order.push_back(n);
        // Keep it until the end of this run.
        asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
        co_await t.async_wait(asio::use_awaitable);
    };
    asio::co_spawn(io, take(50), asio::detached);  // does not fit beside 70: waits
    asio::co_spawn(io, take(20), asio::detached);  // fits: granted although 50 waits
    io.run_for(std::chrono::milliseconds(50));
    io.restart();
    EXPECT_EQ(order, std::vector<int>{20});
    // try_acquire is first-fit too.
    auto small = b.try_acquire(10);
    EXPECT_TRUE(small);
    small->release();
    held->release();
    io.run_for(std::chrono::milliseconds(50));
    EXPECT_EQ(order, (std::vector<int>{20, 50}));
    EXPECT_EQ(b.used(), 0);
    EXPECT_EQ(b.waiting(), 0u);
}

TEST(MemoryBudget, LeaseReleaseIsIdempotentAndMergeAddsUp) {
    memory_budget b(100);
    auto a = b.try_acquire(30);
    auto c = b.try_acquire(20);
    ASSERT_TRUE(a && c);
    a->merge(std::move(*c));
    EXPECT_EQ(a->bytes(), 50);
    EXPECT_EQ(c->bytes(), 0);
    EXPECT_EQ(b.used(), 50);
    memory_budget::lease moved = std::move(*a);
    EXPECT_EQ(b.used(), 50);
    moved.release();
    moved.release();
    EXPECT_EQ(b.used(), 0);
    EXPECT_TRUE(b.try_acquire(0));  // nothing to hold
}

TEST(MemoryBudget, CancelBeforeWaitAndAfterGrant) {
    asio::io_context io;
    memory_budget b(100);
    // Cancelled before it waits: wait() returns nothing at once, nothing queued.
    auto w1 = b.make_waiter(io.get_executor(), 10);
    w1->cancel();
    std::optional<bool> r1;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto r = co_await w1->wait();
            r1 = r.has_value();
        },
        asio::detached);
    io.run_for(std::chrono::milliseconds(10));
    io.restart();
    EXPECT_EQ(r1, false);
    EXPECT_EQ(b.used(), 0);
    // Granted and cancelled before the waiter resumed: the bytes go back.
    auto held = b.try_acquire(100);
    auto w2 = b.make_waiter(io.get_executor(), 40);
    std::optional<bool> r2;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto r = co_await w2->wait();
            r2 = r.has_value();
        },
        asio::detached);
    io.run_for(std::chrono::milliseconds(10));
    io.restart();
    EXPECT_EQ(b.waiting(), 1u);
    held->release();  // grants w2 (its wake-up is posted, not run yet)
    EXPECT_EQ(b.used(), 40);
    w2->cancel();
    io.run_for(std::chrono::milliseconds(10));
    EXPECT_EQ(r2, false);
    EXPECT_EQ(b.used(), 0);
    EXPECT_EQ(b.waiting(), 0u);
}

TEST(MemoryBudget, ReleaseOnAnotherThreadWakesTheWaiter) {
    asio::io_context io;
    memory_budget b(100);
    auto held = b.try_acquire(100);
    std::atomic<bool> got{false};
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            auto l = co_await b.acquire(60);
            got = true;
        },
        asio::detached);
    auto guard = asio::make_work_guard(io);
    std::thread runner([&] { io.run(); });
    while (b.waiting() == 0)
        std::this_thread::yield();
    std::thread releaser([&] { held->release(); });
    releaser.join();
    for (int i = 0; i < 1000 && !got; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    guard.reset();
    io.stop();
    runner.join();
    EXPECT_TRUE(got);
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
            // The function object form: co_spawn keeps the lambda (its captures) alive for the
            // coroutine's lifetime; `co_spawn(io, task(), ...)` with a loop-local `task` would
            // leave the coroutine reading a destroyed closure.
            asio::co_spawn(
                io,
                [&b, &done, i]() -> asio::awaitable<void> {
                    auto l = co_await b.acquire(100 + i * 7);
                    asio::steady_timer t(co_await asio::this_coro::executor,
                                         std::chrono::microseconds(100));
                    co_await t.async_wait(asio::use_awaitable);
                    ++done;
                },
                asio::detached);
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
