#include "storage/flusher.h"

#include <algorithm>

#include "storage/logger.h"

namespace rill::storage {

void flush_state::set_active(std::shared_ptr<file> active,
                             std::vector<std::shared_ptr<file>> sealed) {
    std::lock_guard lk(mu_);
    if (active_) dir_dirty_ = true;
    active_ = std::move(active);
    for (auto& f : sealed)
        sealed_.push_back(std::move(f));
}

void flush_state::reset_after_truncation(int64_t leo, int64_t durable) {
    std::lock_guard lk(mu_);
    ++truncations_;
    published_.store(leo, std::memory_order_release);
    durable_.store(std::min(durable, leo), std::memory_order_release);
}

std::optional<error> flush_state::failure() const {
    std::lock_guard lk(mu_);
    return failed_;
}

status flush_state::sync_now() {
    std::lock_guard sync_lk(sync_mu_);
    std::vector<std::shared_ptr<file>> files;
    int64_t target;
    uint64_t generation;
    bool sync_dir = false;
    {
        std::lock_guard lk(mu_);
        if (failed_) return unexpected{*failed_};
        generation = truncations_;
        // Read the published offset under the lock: any roll that produced it already
        // registered its files.
        target = published_.load(std::memory_order_acquire);
        files = sealed_;
        if (active_) files.push_back(active_);
        sync_dir = dir_dirty_;
        dir_dirty_ = false;
    }
    status st;
    if (target > durable() || files.size() > 1) {
        for (auto& f : files) {
            st = f->sync();
            if (!st) break;
        }
    }
    if (st && sync_dir && fs_) st = fs_->sync_dir(dir_);
    std::vector<flush_callback> ready;
    {
        std::lock_guard lk(mu_);
        if (!st) {
            failed_ = st.error();
            logger()->warn("fdatasync failed, log goes offline: {}", st.error().message);
        } else {
            // A truncation since the snapshot above: `target` may lie past the new end, and
            // the files synced may not hold what is below it now; the next sync publishes.
            if (generation == truncations_ && target > durable_.load())
                durable_.store(target, std::memory_order_release);
            size_t synced_sealed = files.size() - (active_ ? 1 : 0);
            // Only remove the sealed files we synced (more may have been added meanwhile).
            if (synced_sealed <= sealed_.size())
                sealed_.erase(sealed_.begin(), sealed_.begin() + static_cast<long>(synced_sealed));
        }
        for (auto it = waiters_.begin(); it != waiters_.end();) {
            if (!st || it->first <= durable_.load()) {
                if (it->second) ready.push_back(std::move(it->second));
                it = waiters_.erase(it);
            } else {
                ++it;
            }
        }
    }
    if (!st && on_failure_) on_failure_(st.error());
    for (auto& cb : ready)
        cb(st);
    return st;
}

flusher::flusher(size_t threads) {
    if (threads == 0) threads = 1;
    for (size_t i = 0; i < threads; ++i)
        threads_.emplace_back([this] { run(); });
}

flusher::~flusher() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
        t.join();
}

void flusher::request(const std::shared_ptr<flush_state>& st, int64_t offset, flush_callback done) {
    bool enqueue = false;
    {
        std::unique_lock lk(st->mu_);
        if (st->failed_) {
            error e = *st->failed_;
            lk.unlock();
            if (done) done(unexpected{e});
            return;
        }
        if (offset <= st->durable()) {
            lk.unlock();
            if (done) done(status{});
            return;
        }
        st->waiters_.emplace_back(offset, std::move(done));
        if (!st->queued_) {
            st->queued_ = true;
            enqueue = true;
        }
    }
    if (enqueue) {
        {
            std::lock_guard lk(mu_);
            queue_.push_back(st);
        }
        cv_.notify_one();
    }
}

void flusher::run() {
    for (;;) {
        std::shared_ptr<flush_state> st;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stop_ and drained
            st = std::move(queue_.front());
            queue_.pop_front();
        }
        (void)st->sync_now();
        syncs_.fetch_add(1);
        bool again = false;
        {
            std::lock_guard lk(st->mu_);
            // Requests that came in during the sync (or that a sync raced by a truncation did
            // not serve): one more sync. Waiters above the published end (left by a
            // truncation) wait for appends; the request that follows them queues the log again.
            const int64_t end = st->published();
            if (!st->failed_)
                again = std::any_of(st->waiters_.begin(), st->waiters_.end(),
                                    [&](const auto& w) { return w.first <= end; });
            if (!again) st->queued_ = false;
        }
        if (again) {
            std::lock_guard lk(mu_);
            queue_.push_back(std::move(st));
            cv_.notify_one();
        }
    }
}

}  // namespace rill::storage
