#include "broker/producer_epochs.h"

namespace rill::broker {

void producer_epochs::issued(int64_t id) {
    std::lock_guard lock(mu_);
    if (max_ == 0) return;
    if (epochs_.emplace(id, 0).second) order_.push_back(id);
    while (order_.size() > max_) {
        epochs_.erase(order_.front());
        order_.pop_front();
    }
}

producer_epochs::bump producer_epochs::try_bump(int64_t id, int16_t epoch) {
    std::lock_guard lock(mu_);
    auto it = epochs_.find(id);
    if (it == epochs_.end()) return {};
    if (it->second != epoch) return {outcome::fenced, -1};
    // Kafka hands out a new id once the epoch would reach Short.MAX_VALUE.
    if (it->second >= INT16_MAX - 1) {
        epochs_.erase(it);  // its slot in order_ goes when it reaches the front
        return {};
    }
    ++it->second;
    return {outcome::bumped, it->second};
}

size_t producer_epochs::size() const {
    std::lock_guard lock(mu_);
    return epochs_.size();
}

}  // namespace rill::broker
