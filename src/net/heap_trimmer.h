// Gives freed request memory back to the operating system after a burst.
//
// Request bodies up to 32 MiB come from the malloc heap (apps/rill.cc raises M_MMAP_THRESHOLD
// and M_TRIM_THRESHOLD so that steady traffic reuses heap pages instead of faulting in fresh
// ones). After a burst, such as many big requests or an attack, glibc keeps the freed pages:
// up to one budget's worth per shard arena stays resident. This thread waits until at least
// `threshold` bytes of requests were reserved since the last trim, then for a quiet second (no
// new reservation and nothing held), and calls malloc_trim(0), which returns the free pages of
// every arena. Steady traffic never has a quiet second, so it keeps its warm heap.
//
// Threading: note_reserved() is lock-free and may be called from any thread (the shards call it
// for every reservation); the trimming runs on the object's own thread, never on a shard.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>

namespace rill::net {

class heap_trimmer {
  public:
    // `held` reports the bytes still reserved (a trim waits until it is 0).
    heap_trimmer(int64_t threshold, std::function<int64_t()> held);
    ~heap_trimmer();
    heap_trimmer(const heap_trimmer&) = delete;
    heap_trimmer& operator=(const heap_trimmer&) = delete;

    void note_reserved(int64_t bytes);
    uint64_t trims() const { return trims_.load(std::memory_order_relaxed); }

  private:
    void run();

    const int64_t threshold_;
    std::function<int64_t()> held_;
    std::atomic<int64_t> since_trim_{0};
    std::atomic<uint64_t> reserved_total_{0};
    std::atomic<bool> signalled_{false};
    std::atomic<uint64_t> trims_{0};
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace rill::net
