// A FIFO of blocking tasks run by one background thread (checkpoint writes, producer
// snapshots, file removal, compaction). Thread-safe. The destructor runs what is queued.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace rill::storage {

class task_queue {
  public:
    task_queue();
    ~task_queue();
    task_queue(const task_queue&) = delete;
    task_queue& operator=(const task_queue&) = delete;

    void post(std::function<void()> task);
    // Tasks queued and not yet started (producers of optional work, e.g. periodic checkpoints,
    // hold back while it is large: that is what bounds the queue).
    size_t pending() const;
    // Blocks until every task posted before the call has run.
    void drain();

  private:
    void run();

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::condition_variable idle_cv_;
    std::deque<std::function<void()>> q_;
    bool busy_ = false;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace rill::storage
