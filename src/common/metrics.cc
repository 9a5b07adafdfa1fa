#include "common/metrics.h"

#include <mutex>

#include "common/clock.h"

namespace rill::metrics {

void histogram::observe(std::chrono::nanoseconds elapsed) {
    const double ms = static_cast<double>(elapsed.count()) / 1e6;
    size_t i = 0;
    while (i < kBoundsMs.size() && ms > kBoundsMs[i])
        ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
    sum_us_.fetch_add(static_cast<uint64_t>(us < 0 ? 0 : us), std::memory_order_relaxed);
}

histogram::snapshot_t histogram::snapshot() const {
    snapshot_t s;
    uint64_t acc = 0;
    for (size_t i = 0; i < buckets_.size(); ++i) {
        acc += buckets_[i].load(std::memory_order_relaxed);
        s.cumulative[i] = acc;
    }
    // A concurrent observe() may have bumped a bucket but not yet the count: report the
    // bucket total so that +Inf == count always holds in the output.
    s.count = acc;
    s.sum_ms = static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1000.0;
    return s;
}

registry& registry::global() {
    static registry r;
    return r;
}

registry::registry() : start_ms_(wall_clock_ms()), start_(std::chrono::steady_clock::now()) {}

topic_counters& registry::topic(std::string_view name) {
    {
        std::shared_lock lock(mu_);
        if (auto it = topics_.find(name); it != topics_.end()) return *it->second;
    }
    std::unique_lock lock(mu_);
    if (auto it = topics_.find(name); it != topics_.end()) return *it->second;
    if (topics_.size() >= kMaxTopics) return overflow_;
    storage_.push_back(std::make_unique<topic_counters>());
    topic_counters* c = storage_.back().get();
    topics_.emplace(std::string(name), c);
    return *c;
}

void registry::forget_topic(const std::string& name) {
    std::unique_lock lock(mu_);
    topics_.erase(name);
}

void registry::record_request(int16_t api_key, int16_t version, std::chrono::nanoseconds elapsed) {
    if (api_key < 0 || api_key > kMaxApiKey || version < 0 || version > kMaxApiVersion) return;
    requests_[static_cast<size_t>(api_key)][static_cast<size_t>(version)].add();
    latency_[static_cast<size_t>(api_key)].observe(elapsed);
}

std::vector<registry::topic_sample> registry::topics() const {
    std::vector<topic_sample> out;
    auto sample = [](const std::string& name, const topic_counters& c) {
        return topic_sample{name,
                            c.messages_in.value(),
                            c.bytes_in.value(),
                            c.bytes_out.value(),
                            c.total_produce.value(),
                            c.failed_produce.value(),
                            c.total_fetch.value(),
                            c.failed_fetch.value()};
    };
    std::shared_lock lock(mu_);
    out.reserve(topics_.size() + 1);
    for (const auto& [name, c] : topics_)
        out.push_back(sample(name, *c));
    auto o = sample(kOverflowTopic, overflow_);
    if (o.messages_in || o.bytes_in || o.bytes_out || o.total_produce || o.failed_produce ||
        o.total_fetch || o.failed_fetch)
        out.push_back(o);
    return out;
}

std::vector<registry::request_sample> registry::requests() const {
    std::vector<request_sample> out;
    for (size_t k = 0; k < requests_.size(); ++k)
        for (size_t v = 0; v < requests_[k].size(); ++v)
            if (uint64_t n = requests_[k][v].value())
                out.push_back({static_cast<int16_t>(k), static_cast<int16_t>(v), n});
    return out;
}

std::vector<std::pair<int16_t, histogram::snapshot_t>> registry::latencies() const {
    std::vector<std::pair<int16_t, histogram::snapshot_t>> out;
    for (size_t k = 0; k < latency_.size(); ++k) {
        auto s = latency_[k].snapshot();
        if (s.count) out.emplace_back(static_cast<int16_t>(k), s);
    }
    return out;
}

double registry::uptime_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

}  // namespace rill::metrics
