#include "common/memory_budget.h"

namespace rill {

std::optional<memory_budget::lease> memory_budget::try_acquire(int64_t n) {
    if (n <= 0) return lease{};
    std::lock_guard lock(mu_);
    // Arrivals do not overtake waiters that the same room would serve first: only first-fit
    // among everyone, so a fitting request is granted whether or not others wait.
    if (!fits_locked(n)) return std::nullopt;
    used_ += n;
    return lease(this, n);
}

boost::asio::awaitable<memory_budget::lease> memory_budget::acquire(int64_t n) {
    if (auto l = try_acquire(n)) co_return std::move(*l);
    auto ex = co_await boost::asio::this_coro::executor;
    auto w = make_waiter(ex, n);
    for (;;) {
        auto op = w->wait();
        auto got = co_await std::move(op);
        if (got) co_return std::move(*got);
        // Not cancellable through this entry point; a nullopt cannot happen without cancel().
    }
}

std::shared_ptr<memory_budget::waiter> memory_budget::make_waiter(boost::asio::any_io_executor ex,
                                                                  int64_t n) {
    return std::shared_ptr<waiter>(new waiter(*this, std::move(ex), n));
}

boost::asio::awaitable<std::optional<memory_budget::lease>> memory_budget::waiter::wait() {
    auto self = shared_from_this();
    {
        std::lock_guard lock(budget_.mu_);
        if (!granted_ && !cancelled_ && budget_.fits_locked(bytes_)) {
            budget_.used_ += bytes_;
            granted_ = true;
        }
        if (!granted_ && !cancelled_ && !queued_) {
            budget_.waiters_.push_back(self);
            queued_ = true;
        }
    }
    for (;;) {
        bool give_back = false;
        {
            std::lock_guard lock(budget_.mu_);
            if (cancelled_) {
                if (queued_) {
                    budget_.waiters_.remove(self);
                    queued_ = false;
                }
                give_back = granted_;  // granted while being cancelled: return the bytes
                granted_ = false;
            } else if (granted_) {
                granted_ = false;  // handed out exactly once
                co_return lease(&budget_, bytes_);
            }
        }
        if (cancelled_) {
            if (give_back) budget_.give_back(bytes_);
            co_return std::nullopt;
        }
        timer_.expires_at(boost::asio::steady_timer::time_point::max());
        boost::system::error_code ec;
        co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    }
}

void memory_budget::waiter::cancel() {
    cancelled_ = true;
    timer_.cancel();
}

void memory_budget::give_back(int64_t n) {
    std::lock_guard lock(mu_);
    used_ -= n;
    grant_waiters_locked();
}

void memory_budget::grant_waiters_locked() {
    for (auto it = waiters_.begin(); it != waiters_.end();) {
        auto& w = *it;
        if (!fits_locked(w->bytes_)) {
            ++it;
            continue;
        }
        used_ += w->bytes_;
        w->granted_ = true;
        w->queued_ = false;
        // The timer belongs to the waiter's executor: wake it there.
        boost::asio::post(w->timer_.get_executor(), [w] { w->timer_.cancel(); });
        it = waiters_.erase(it);
    }
}

int64_t memory_budget::used() const {
    std::lock_guard lock(mu_);
    return used_;
}

size_t memory_budget::waiting() const {
    std::lock_guard lock(mu_);
    return waiters_.size();
}

}  // namespace rill
