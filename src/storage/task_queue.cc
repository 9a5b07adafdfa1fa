#include "storage/task_queue.h"

namespace rill::storage {

task_queue::task_queue() : thread_([this] { run(); }) {}

task_queue::~task_queue() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void task_queue::post(std::function<void()> task) {
    {
        std::lock_guard lk(mu_);
        q_.push_back(std::move(task));
    }
    cv_.notify_one();
}

size_t task_queue::pending() const {
    std::lock_guard lk(mu_);
    return q_.size();
}

void task_queue::drain() {
    std::unique_lock lk(mu_);
    idle_cv_.wait(lk, [&] { return q_.empty() && !busy_; });
}

void task_queue::run() {
    std::unique_lock lk(mu_);
    for (;;) {
        cv_.wait(lk, [&] { return stop_ || !q_.empty(); });
        if (q_.empty()) return;
        auto t = std::move(q_.front());
        q_.pop_front();
        busy_ = true;
        lk.unlock();
        t();
        lk.lock();
        busy_ = false;
        if (q_.empty()) idle_cv_.notify_all();
    }
}

}  // namespace rill::storage
