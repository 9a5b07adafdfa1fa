// Process-wide metric counters: per-topic traffic, per-API request counts and latency
// histograms. The broker library records into them on its hot paths; the admin endpoint reads
// them when /metrics is scraped and renders the Prometheus text (src/admin/prometheus.h).
//
// Thread-safety: every recording call is lock-free (relaxed atomics) except the first lookup of
// a topic, which takes a short exclusive lock; later lookups take a shared lock. Readers see
// each counter atomically, not all counters at one instant (as with any scrape).
//
// Cardinality: at most kMaxTopics topics are tracked individually; traffic of further topics
// is counted under kOverflowTopic. API keys above kMaxApiKey and versions above kMaxApiVersion
// are not recorded.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace rill::metrics {

// A monotonically increasing counter.
class counter {
  public:
    void add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
    uint64_t value() const { return v_.load(std::memory_order_relaxed); }

  private:
    std::atomic<uint64_t> v_{0};
};

// Latency histogram with fixed upper bounds in milliseconds (Prometheus `le` buckets) and an
// implicit +Inf bucket. Buckets are non-cumulative internally; snapshot() accumulates them.
class histogram {
  public:
    static constexpr std::array<double, 14> kBoundsMs = {0.5, 1,   2,   5,    10,   25,   50,
                                                         100, 250, 500, 1000, 2500, 5000, 10000};

    void observe(std::chrono::nanoseconds elapsed);

    struct snapshot_t {
        std::array<uint64_t, kBoundsMs.size() + 1> cumulative{};  // last: +Inf (== count)
        uint64_t count = 0;
        double sum_ms = 0;
    };
    snapshot_t snapshot() const;

  private:
    std::array<std::atomic<uint64_t>, kBoundsMs.size() + 1> buckets_{};
    std::atomic<uint64_t> count_{0};
    std::atomic<uint64_t> sum_us_{0};
};

// Kafka's BrokerTopicMetrics meters for one topic (jmx_exporter: *_total counters).
struct topic_counters {
    counter messages_in;     // records appended
    counter bytes_in;        // batch bytes appended
    counter bytes_out;       // batch bytes returned by Fetch
    counter total_produce;   // partition-level produce requests
    counter failed_produce;  // partition-level produce requests that failed
    counter total_fetch;     // fetch requests naming the topic
    counter failed_fetch;    // partition-level fetches that failed
};

// Events of the Kafka listener (src/net). Its gauges (request budget in use and waiters, open
// connections) are read from the server itself when /metrics is scraped.
struct net_counters {
    counter rejected_per_ip;     // connections closed at once: max.connections.per.ip reached
    counter acceptor_blocked;    // times the listener paused at max.connections
    counter idle_closed;         // connections closed by connections.max.idle.ms
    counter budget_waits;        // requests that waited for room in the request budget
    counter left_while_waiting;  // connections whose peer left while they waited for budget
};

class registry {
  public:
    static constexpr size_t kMaxTopics = 1000;
    static constexpr const char* kOverflowTopic = "__other";
    static constexpr int kMaxApiKey = 127;
    static constexpr int kMaxApiVersion = 31;

    // The process-wide registry.
    static registry& global();

    registry();

    // The counters of `topic` (created on first use; the overflow counters once kMaxTopics
    // topics are tracked). The reference stays valid for the registry's lifetime.
    topic_counters& topic(std::string_view name);
    // Forgets a deleted topic's counters (its name may come back with fresh counters).
    // Counters already handed out stay valid (they are kept until the registry dies).
    void forget_topic(const std::string& name);

    // One request of `api_key` at `version` handled in `elapsed`.
    void record_request(int16_t api_key, int16_t version, std::chrono::nanoseconds elapsed);
    // One request that could not be parsed or was refused (closed connection).
    void record_bad_request() { bad_requests_.add(); }

    // ---- reading (the metrics renderer) ----
    struct topic_sample {
        std::string topic;
        uint64_t messages_in, bytes_in, bytes_out, total_produce, failed_produce, total_fetch,
            failed_fetch;
    };
    std::vector<topic_sample> topics() const;
    struct request_sample {
        int16_t api_key;
        int16_t version;
        uint64_t count;
    };
    // Only non-zero entries.
    std::vector<request_sample> requests() const;
    // API keys with at least one observation.
    std::vector<std::pair<int16_t, histogram::snapshot_t>> latencies() const;
    uint64_t bad_requests() const { return bad_requests_.value(); }
    // The listener's connection events (recorded by src/net, read by the renderer).
    net_counters& net() { return net_; }
    const net_counters& net() const { return net_; }
    // Wall-clock start of the process (registry creation), milliseconds since the epoch.
    int64_t start_time_ms() const { return start_ms_; }
    double uptime_seconds() const;

  private:
    mutable std::shared_mutex mu_;
    std::map<std::string, topic_counters*, std::less<>> topics_;
    std::vector<std::unique_ptr<topic_counters>> storage_;  // every counters object ever made
    topic_counters overflow_;

    std::array<std::array<counter, kMaxApiVersion + 1>, kMaxApiKey + 1> requests_;
    std::array<histogram, kMaxApiKey + 1> latency_;
    counter bad_requests_;
    net_counters net_;
    int64_t start_ms_;
    std::chrono::steady_clock::time_point start_;
};

}  // namespace rill::metrics
