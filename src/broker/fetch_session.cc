#include "broker/fetch_session.h"

namespace rill::broker {

std::shared_ptr<fetch_session> fetch_session_cache::create(int64_t now_ms) {
    std::lock_guard lock(mu_);
    if (sessions_.size() >= max_) {
        // Evict the least recently used session if it has been idle long enough.
        auto oldest = sessions_.end();
        for (auto it = sessions_.begin(); it != sessions_.end(); ++it)
            if (oldest == sessions_.end() ||
                it->second->last_used_ms < oldest->second->last_used_ms)
                oldest = it;
        if (oldest == sessions_.end() || now_ms - oldest->second->last_used_ms < idle_ms_)
            return nullptr;
        sessions_.erase(oldest);
    }
    auto s = std::make_shared<fetch_session>();
    do {
        s->id = next_id_;
        next_id_ = next_id_ == INT32_MAX ? 1 : next_id_ + 1;
    } while (sessions_.contains(s->id));
    s->next_epoch = 1;
    s->last_used_ms = now_ms;
    sessions_[s->id] = s;
    return s;
}

std::shared_ptr<fetch_session> fetch_session_cache::find(int32_t id) {
    std::lock_guard lock(mu_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second;
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
