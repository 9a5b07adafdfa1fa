// A one-shot value handed from another thread to a coroutine waiting on its own executor, and
// the call that runs a callback-style function on another io_context and awaits its answer.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "common/asio.h"

namespace rill {

template <typename T>
class completion : public std::enable_shared_from_this<completion<T>> {
  public:
    static std::shared_ptr<completion> make(boost::asio::any_io_executor ex) {
        return std::shared_ptr<completion>(new completion(ex));
    }
    // Any thread; the first value wins.
    void set(T v) {
        boost::asio::post(ex_, [self = this->shared_from_this(), v = std::move(v)]() mutable {
            if (self->value_) return;
            self->value_ = std::move(v);
            self->timer_.cancel();
        });
    }
    // On the executor given to make().
    boost::asio::awaitable<T> wait() {
        while (!value_) {
            timer_.expires_after(std::chrono::hours(24));
            boost::system::error_code ec;
            co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        }
        co_return std::move(*value_);
    }

  private:
    explicit completion(boost::asio::any_io_executor ex) : ex_(ex), timer_(ex) {}
    boost::asio::any_io_executor ex_;
    boost::asio::steady_timer timer_;
    std::optional<T> value_;
};

// Runs f(done) on `target`; done(R), called from any thread, resumes the caller with R.
template <typename R, typename F>
boost::asio::awaitable<R> run_on(boost::asio::io_context& target, F f) {
    auto ex = co_await boost::asio::this_coro::executor;
    auto c = completion<R>::make(ex);
    boost::asio::post(target, [f = std::move(f), c]() mutable {
        f(std::function<void(R)>([c](R r) { c->set(std::move(r)); }));
    });
    co_return co_await c->wait();
}

}  // namespace rill
