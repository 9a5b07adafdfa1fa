#include "common/work_pool.h"

#include <pthread.h>

namespace rill {

work_pool::work_pool(size_t threads, std::string name) : work_(boost::asio::make_work_guard(ctx_)) {
    if (threads == 0) threads = 1;
    for (size_t i = 0; i < threads; ++i) {
        threads_.emplace_back([this] { ctx_.run(); });
        // Thread names are at most 15 characters.
        pthread_setname_np(threads_.back().native_handle(), name.substr(0, 15).c_str());
    }
}

work_pool::~work_pool() {
    work_.reset();
    for (auto& t : threads_)
        t.join();
}

}  // namespace rill
