// task_queue: FIFO order, drain, and pending() (what producers of optional work, e.g. the
// broker's periodic checkpoints, look at to bound the queue).
#include "storage/task_queue.h"

#include <gtest/gtest.h>

#include <future>
#include <vector>

namespace rill::storage {
namespace {

TEST(TaskQueue, PendingCountsQueuedTasksNotTheRunningOne) {
    task_queue q;
    EXPECT_EQ(q.pending(), 0u);
    std::promise<void> started, release;
    auto go = release.get_future().share();
    q.post([&started, go] {
        started.set_value();
        go.wait();
    });
    started.get_future().wait();
    std::vector<int> order;
    for (int i = 0; i < 5; ++i)
        q.post([&order, i] { order.push_back(i); });
    EXPECT_EQ(q.pending(), 5u);  // the running task is not counted
    release.set_value();
    q.drain();
    EXPECT_EQ(q.pending(), 0u);
    EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

}  // namespace
}  // namespace rill::storage
