#include "broker/fetch_session.h"

#include <random>
#include <tuple>

namespace rill::broker {

fetch_session_cache::lease& fetch_session_cache::lease::operator=(lease&& o) noexcept {
    if (this != &o) {
        release();
        s_ = std::move(o.s_);
    }
    return *this;
}

void fetch_session_cache::lease::release() {
    if (!s_) return;
    s_->in_use_.store(false, std::memory_order_release);
    s_.reset();
}

int32_t fetch_session_cache::new_id() {
    // std::random_device draws from the CPU's or the kernel's generator: ids cannot be
    // predicted from the ones a client has seen.
    std::random_device rd;
    std::uniform_int_distribution<int32_t> dist(1, INT32_MAX);
    int32_t id;
    do {
        id = opt_.id_source ? opt_.id_source() : dist(rd);
    } while (id <= 0 || sessions_.contains(id));
    return id;
}

bool fetch_session_cache::evict_one(int64_t now_ms, size_t partitions, bool privileged) {
    auto lru = sessions_.end();
    auto cheapest = sessions_.end();
    auto value = [](const fetch_session& s) {
        return std::tuple(s.privileged, s.partitions.size(), s.last_used_ms);
    };
    for (auto it = sessions_.begin(); it != sessions_.end(); ++it) {
        const fetch_session& s = *it->second;
        if (s.in_use_.load(std::memory_order_acquire)) continue;
        if (lru == sessions_.end() || s.last_used_ms < lru->second->last_used_ms) lru = it;
        if (cheapest == sessions_.end() || value(s) < value(*cheapest->second)) cheapest = it;
    }
    if (lru == sessions_.end()) return false;  // every session is in use
    if (now_ms - lru->second->last_used_ms > opt_.eviction_ms) {
        sessions_.erase(lru);
        return true;
    }
    // Nothing stale: a follower's session may evict a consumer's; otherwise the bigger wins.
    const fetch_session& c = *cheapest->second;
    if (std::pair(privileged, partitions) < std::pair(c.privileged, c.partitions.size()))
        return false;
    sessions_.erase(cheapest);
    return true;
}

fetch_session_cache::lease fetch_session_cache::create(int64_t now_ms, size_t partitions,
                                                       bool privileged) {
    if (partitions > opt_.max_partitions || opt_.max_sessions == 0) return {};
    std::lock_guard lock(mu_);
    if (sessions_.size() >= opt_.max_sessions && !evict_one(now_ms, partitions, privileged))
        return {};
    auto s = std::make_shared<fetch_session>();
    s->id = new_id();
    s->next_epoch = 1;
    s->last_used_ms = now_ms;
    s->privileged = privileged;
    s->in_use_ = true;  // leased before it is published
    sessions_[s->id] = s;
    return lease(std::move(s));
}

result<fetch_session_cache::lease, fetch_session_cache::acquire_error> fetch_session_cache::acquire(
    int32_t id) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return unexpected{acquire_error::not_found};
    if (it->second->in_use_.exchange(true, std::memory_order_acquire))
        return unexpected{acquire_error::in_use};
    return lease(it->second);
}

void fetch_session_cache::remove(int32_t id) {
    std::lock_guard lock(mu_);
    sessions_.erase(id);
}

size_t fetch_session_cache::size() const {
    std::lock_guard lock(mu_);
    return sessions_.size();
}

}  // namespace rill::broker
