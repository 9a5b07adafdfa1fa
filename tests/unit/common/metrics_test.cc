#include "common/metrics.h"

#include <gtest/gtest.h>

#include <thread>

namespace rill::metrics {
namespace {

using namespace std::chrono_literals;

TEST(Histogram, CumulativeBucketsCountAndSum) {
    histogram h;
    h.observe(300us);  // <= 0.5 ms
    h.observe(3ms);    // <= 5 ms
    h.observe(3ms);
    h.observe(20s);  // +Inf
    auto s = h.snapshot();
    EXPECT_EQ(s.count, 4u);
    EXPECT_EQ(s.cumulative[0], 1u);                                // le 0.5
    EXPECT_EQ(s.cumulative[2], 1u);                                // le 2
    EXPECT_EQ(s.cumulative[3], 3u);                                // le 5
    EXPECT_EQ(s.cumulative[histogram::kBoundsMs.size() - 1], 3u);  // le 10000
    EXPECT_EQ(s.cumulative.back(), 4u);                            // +Inf
    EXPECT_NEAR(s.sum_ms, 20006.3, 0.01);
}

TEST(Registry, TopicsAreBoundedAndForgettable) {
    registry r;
    r.topic("a").messages_in.add(3);
    r.topic("a").messages_in.add(2);
    auto ts = r.topics();
    ASSERT_EQ(ts.size(), 1u);
    EXPECT_EQ(ts[0].topic, "a");
    EXPECT_EQ(ts[0].messages_in, 5u);
    r.forget_topic("a");
    EXPECT_TRUE(r.topics().empty());
    for (size_t i = 0; i < registry::kMaxTopics + 10; ++i)
        r.topic("t" + std::to_string(i)).bytes_in.add(1);
    ts = r.topics();
    EXPECT_EQ(ts.size(), registry::kMaxTopics + 1);
    EXPECT_EQ(ts.back().topic, registry::kOverflowTopic);
}

TEST(Registry, RequestsPerApiAndVersion) {
    registry r;
    r.record_request(0, 9, 1ms);
    r.record_request(0, 9, 1ms);
    r.record_request(1, 12, 1ms);
    r.record_request(500, 1, 1ms);  // out of range: ignored
    r.record_request(0, -1, 1ms);
    auto reqs = r.requests();
    ASSERT_EQ(reqs.size(), 2u);
    EXPECT_EQ(reqs[0].api_key, 0);
    EXPECT_EQ(reqs[0].version, 9);
    EXPECT_EQ(reqs[0].count, 2u);
    EXPECT_EQ(r.latencies().size(), 2u);
}

TEST(Registry, ConcurrentRecording) {
    registry r;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) {
                r.topic("x" + std::to_string(i % 8)).messages_in.add();
                r.record_request(3, 1, 10us);
            }
        });
    for (auto& t : threads)
        t.join();
    uint64_t sum = 0;
    for (const auto& t : r.topics())
        sum += t.messages_in;
    EXPECT_EQ(sum, 40000u);
    EXPECT_EQ(r.requests()[0].count, 40000u);
}

}  // namespace
}  // namespace rill::metrics
