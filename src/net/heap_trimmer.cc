#include "net/heap_trimmer.h"

#include <malloc.h>

#include <chrono>

namespace rill::net {

heap_trimmer::heap_trimmer(int64_t threshold, std::function<int64_t()> held)
    : threshold_(threshold), held_(std::move(held)), thread_([this] { run(); }) {}

heap_trimmer::~heap_trimmer() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void heap_trimmer::note_reserved(int64_t bytes) {
    reserved_total_.fetch_add(static_cast<uint64_t>(bytes), std::memory_order_relaxed);
    const int64_t before = since_trim_.fetch_add(bytes, std::memory_order_relaxed);
    if (before < threshold_ && before + bytes >= threshold_ &&
        !signalled_.exchange(true, std::memory_order_acq_rel)) {
        std::lock_guard lock(mu_);
        cv_.notify_one();
    }
}

void heap_trimmer::run() {
    std::unique_lock lock(mu_);
    for (;;) {
        cv_.wait(lock, [&] { return stop_ || signalled_.load(std::memory_order_acquire); });
        if (stop_) return;
        // Wait for a quiet second: nothing reserved meanwhile and nothing held.
        for (;;) {
            const uint64_t seen = reserved_total_.load(std::memory_order_relaxed);
            if (cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_; })) return;
            if (reserved_total_.load(std::memory_order_relaxed) == seen && held_() == 0) break;
        }
        lock.unlock();
        since_trim_.store(0, std::memory_order_relaxed);
        signalled_.store(false, std::memory_order_release);
        ::malloc_trim(0);
        trims_.fetch_add(1, std::memory_order_relaxed);
        lock.lock();
    }
}

}  // namespace rill::net
