// A small pool of threads for CPU-heavy work that must not hold a shard: a coroutine on a shard
// hands a function to the pool and resumes on its own executor with the result, so the shard
// keeps serving its other connections meanwhile.
//
//   auto op = pool.run(named_function);   // GCC 12: build the awaitable in its own statement
//   auto result = co_await std::move(op);
//
// Threading: run() may be called from any coroutine; `f` runs on one of the pool's threads and
// must not block on I/O. The destructor stops the threads after the queued work has run.
#pragma once

#include <cstddef>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "common/asio.h"

namespace rill {

class work_pool {
  public:
    // `threads` >= 1.
    work_pool(size_t threads, std::string name);
    ~work_pool();
    work_pool(const work_pool&) = delete;
    work_pool& operator=(const work_pool&) = delete;

    size_t size() const { return threads_.size(); }

    // Runs `f()` on a pool thread; the awaiting coroutine resumes on its own executor. `f` is
    // taken by reference and copied here, outside any coroutine (the GCC 12 rule of
    // docs/architecture.md).
    template <typename F>
    boost::asio::awaitable<std::invoke_result_t<F&>> run(F& f) {
        return run_impl(F(f));
    }

  private:
    template <typename F>
    boost::asio::awaitable<std::invoke_result_t<F&>> run_impl(F f) {
        using R = std::invoke_result_t<F&>;
        auto task = [f = std::move(f)]() mutable -> boost::asio::awaitable<R> { co_return f(); };
        auto op = boost::asio::co_spawn(ctx_, std::move(task), boost::asio::use_awaitable);
        co_return co_await std::move(op);
    }

    boost::asio::io_context ctx_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    std::vector<std::thread> threads_;
};

}  // namespace rill
