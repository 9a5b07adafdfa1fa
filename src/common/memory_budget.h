// A broker-wide byte budget (queued.max.request.bytes) that coroutines on any shard draw from:
// request bodies while they are read and handled, and the bytes a handler inflates for them
// (decompressed records, converted message sets).
//
// Rules:
// - acquire(n) is granted when `used + n <= capacity`, or when nothing at all is held (one
//   request larger than the whole budget still proceeds alone, so it can never wait forever).
// - Waiters are served first-fit in arrival order: a small acquisition that fits is granted
//   while a larger, older one waits for room.
// - Waiting is event-driven: a release wakes the waiters it lets through, on their own
//   executors; nothing polls.
// - A capacity <= 0 means unbounded (every acquisition is granted at once).
//
// - Waiting while holding: a holder that waits for more (acquire() while it keeps a lease) can
//   wait forever if every holder does the same. The Kafka listener never does (it reserves a
//   request's whole size before reading it, and holds nothing while it waits); a handler that
//   needs more for a request it holds should prefer try_acquire() and refuse the request when
//   it does not fit, or make sure the amount it waits for is bounded and others can finish.
//
// Thread-safety: every member may be called from any thread. A lease is a move-only value that
// gives its bytes back when destroyed or released, on whatever thread that happens. Waiting
// coroutines must run on a serialized executor (a single-threaded io_context, as the shards and
// the admin thread are, or a strand): the wake-up is posted to that executor.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>

#include "common/asio.h"

namespace rill {

class memory_budget {
  public:
    class lease {
      public:
        lease() = default;
        lease(lease&& o) noexcept : owner_(o.owner_), bytes_(o.bytes_) {
            o.owner_ = nullptr;
            o.bytes_ = 0;
        }
        lease& operator=(lease&& o) noexcept {
            if (this != &o) {
                release();
                owner_ = o.owner_;
                bytes_ = o.bytes_;
                o.owner_ = nullptr;
                o.bytes_ = 0;
            }
            return *this;
        }
        lease(const lease&) = delete;
        lease& operator=(const lease&) = delete;
        ~lease() { release(); }

        int64_t bytes() const { return bytes_; }
        // Gives the bytes back now (idempotent).
        void release() {
            if (owner_ && bytes_ > 0) owner_->give_back(bytes_);
            owner_ = nullptr;
            bytes_ = 0;
        }
        // Adds another lease's bytes to this one (both must come from the same budget).
        void merge(lease&& other) {
            if (!owner_) owner_ = other.owner_;
            bytes_ += other.bytes_;
            other.owner_ = nullptr;
            other.bytes_ = 0;
        }

      private:
        friend class memory_budget;
        lease(memory_budget* owner, int64_t bytes) : owner_(owner), bytes_(bytes) {}
        memory_budget* owner_ = nullptr;
        int64_t bytes_ = 0;
    };

    explicit memory_budget(int64_t capacity) : capacity_(capacity) {}
    memory_budget(const memory_budget&) = delete;
    memory_budget& operator=(const memory_budget&) = delete;

    // A lease of `n` bytes now, or nullopt when it does not fit.
    std::optional<lease> try_acquire(int64_t n);

    // A lease of `n` bytes, waiting (on the calling coroutine's executor) until it fits.
    boost::asio::awaitable<lease> acquire(int64_t n);

    // A wait that another party on the same executor can abandon (e.g. the connection saw its
    // socket close): make_waiter(), then co_await w->wait(n); w->cancel() ends the wait with
    // nullopt. A waiter serves one wait.
    class waiter : public std::enable_shared_from_this<waiter> {
      public:
        boost::asio::awaitable<std::optional<lease>> wait();
        // Owner executor: ends a pending wait with nullopt (a no-op once granted).
        void cancel();

      private:
        friend class memory_budget;
        waiter(memory_budget& b, boost::asio::any_io_executor ex, int64_t n)
            : budget_(b), timer_(ex), bytes_(n) {}
        memory_budget& budget_;
        boost::asio::steady_timer timer_;  // the wake-up signal: cancelled when granted
        int64_t bytes_;
        bool granted_ = false;    // guarded by budget_.mu_
        bool cancelled_ = false;  // owner executor only
        bool queued_ = false;     // guarded by budget_.mu_
    };
    std::shared_ptr<waiter> make_waiter(boost::asio::any_io_executor ex, int64_t n);

    int64_t capacity() const { return capacity_; }
    int64_t used() const;
    size_t waiting() const;

  private:
    bool fits_locked(int64_t n) const {
        return capacity_ <= 0 || used_ == 0 || used_ + n <= capacity_;
    }
    void give_back(int64_t n);
    void grant_waiters_locked();

    const int64_t capacity_;
    mutable std::mutex mu_;
    int64_t used_ = 0;
    std::list<std::shared_ptr<waiter>> waiters_;  // arrival order
};

}  // namespace rill
