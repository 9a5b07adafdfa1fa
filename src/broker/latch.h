// A countdown latch a coroutine can await: other threads call count_down(), the waiting
// coroutine resumes on its own executor when the count reaches zero or a deadline passes.
//
// Thread-safety: count_down() from any thread; everything else on the owner executor (the
// executor given at construction, where the awaiting coroutine runs).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

#include "common/asio.h"

namespace rill::broker {

class latch : public std::enable_shared_from_this<latch> {
  public:
    using executor = boost::asio::any_io_executor;

    static std::shared_ptr<latch> make(executor ex, size_t count) {
        return std::shared_ptr<latch>(new latch(std::move(ex), count));
    }

    // Any thread.
    void count_down() {
        boost::asio::post(ex_, [self = shared_from_this()] {
            if (self->count_ > 0 && --self->count_ == 0) self->timer_.cancel();
        });
    }
    // Any thread: ends the wait now whatever the count (e.g. data arrived for a fetch).
    void release() {
        boost::asio::post(ex_, [self = shared_from_this()] {
            self->count_ = 0;
            self->timer_.cancel();
        });
    }

    // Owner executor: waits until the count is zero, or `timeout` passed. True if it reached 0.
    boost::asio::awaitable<bool> wait(std::chrono::milliseconds timeout = std::chrono::hours(24)) {
        if (count_ == 0) co_return true;
        timer_.expires_after(timeout);
        boost::system::error_code ec;
        co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        co_return count_ == 0;
    }
    size_t remaining() const { return count_; }

    // Marks the latch as no longer awaited, so holders on other threads may drop it.
    void finish() { finished_.store(true, std::memory_order_release); }
    bool finished() const { return finished_.load(std::memory_order_acquire); }

  private:
    latch(executor ex, size_t count) : ex_(ex), timer_(ex), count_(count) {}

    executor ex_;
    boost::asio::steady_timer timer_;
    size_t count_;
    std::atomic<bool> finished_{false};
};

}  // namespace rill::broker
