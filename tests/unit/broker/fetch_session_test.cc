#include "broker/fetch_session.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace rill::broker {
namespace {

using acquire_error = fetch_session_cache::acquire_error;

void add_partitions(fetch_session& s, int n) {
    for (int i = 0; i < n; ++i)
        s.partitions[{"t", i}] = {};
}

TEST(fetch_session_cache, ids_are_random_positive_and_unique) {
    fetch_session_cache cache({.max_sessions = 500});
    std::vector<int32_t> ids;
    std::set<int32_t> unique;
    for (int i = 0; i < 500; ++i) {
        auto l = cache.create(0, 1, false);
        ASSERT_TRUE(l);
        EXPECT_GT(l->id, 0);
        ids.push_back(l->id);
        unique.insert(l->id);
    }
    EXPECT_EQ(unique.size(), ids.size());
    // Not sequential: a neighbour of one id is (almost surely) not another session's.
    int neighbours = 0;
    for (int32_t id : ids)
        neighbours += unique.contains(id + 1) + unique.contains(id - 1);
    EXPECT_LT(neighbours, 3);
    EXPECT_EQ(cache.size(), 500u);
}

TEST(fetch_session_cache, a_session_is_leased_to_one_request_at_a_time) {
    fetch_session_cache cache;
    int32_t id;
    {
        auto created = cache.create(0, 1, false);
        ASSERT_TRUE(created);
        id = created->id;
        // Leased from the moment it exists.
        auto again = cache.acquire(id);
        ASSERT_FALSE(again);
        EXPECT_EQ(again.error(), acquire_error::in_use);
    }
    auto first = cache.acquire(id);
    ASSERT_TRUE(first);
    auto second = cache.acquire(id);
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error(), acquire_error::in_use);
    first->release();
    EXPECT_TRUE(cache.acquire(id));
    auto missing = cache.acquire(id + 1);
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error(), acquire_error::not_found);
    EXPECT_FALSE(cache.acquire(0));
}

TEST(fetch_session_cache, removing_a_leased_session_keeps_the_lease_valid) {
    fetch_session_cache cache;
    auto l = cache.create(0, 1, false);
    ASSERT_TRUE(l);
    const int32_t id = l->id;
    cache.remove(id);
    add_partitions(*l, 3);  // still usable by its holder
    EXPECT_EQ(l->partitions.size(), 3u);
    l.release();
    auto gone = cache.acquire(id);
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error(), acquire_error::not_found);
    EXPECT_EQ(cache.size(), 0u);
}

TEST(fetch_session_cache, partitions_per_session_are_bounded) {
    fetch_session_cache cache({.max_sessions = 10, .eviction_ms = 1000, .max_partitions = 4});
    EXPECT_FALSE(cache.create(0, 5, false));
    EXPECT_TRUE(cache.create(0, 4, false));
}

TEST(fetch_session_cache, a_full_cache_evicts_stale_then_less_valuable_sessions) {
    fetch_session_cache cache({.max_sessions = 2, .eviction_ms = 1000, .max_partitions = 100});
    int32_t small, big;
    {
        auto a = cache.create(0, 2, false);
        add_partitions(*a, 2);
        small = a->id;
        auto b = cache.create(500, 5, false);
        add_partitions(*b, 5);
        b->last_used_ms = 500;
        big = b->id;
        // Both in use: nothing can be evicted.
        EXPECT_FALSE(cache.create(5000, 50, true));
    }
    // Nothing stale at 900: a smaller consumer session may not evict; a bigger one evicts the
    // smallest.
    EXPECT_FALSE(cache.create(900, 1, false));
    {
        auto c = cache.create(900, 3, false);
        ASSERT_TRUE(c);
        add_partitions(*c, 3);
        c->last_used_ms = 900;
    }
    EXPECT_FALSE(cache.acquire(small));
    EXPECT_TRUE(cache.acquire(big));
    // A follower's session evicts a consumer's whatever their sizes.
    EXPECT_TRUE(cache.create(950, 1, true));
    EXPECT_EQ(cache.size(), 2u);
    // Stale sessions (idle > eviction_ms) go first, even for a small consumer session.
    EXPECT_TRUE(cache.create(100000, 1, false));
    EXPECT_EQ(cache.size(), 2u);
}

TEST(fetch_session_cache, zero_slots_means_no_sessions) {
    fetch_session_cache cache({.max_sessions = 0});
    EXPECT_FALSE(cache.create(0, 1, false));
}

TEST(fetch_session, epochs_wrap_to_one) {
    EXPECT_EQ(next_session_epoch(1), 2);
    EXPECT_EQ(next_session_epoch(INT32_MAX), 1);
}

}  // namespace
}  // namespace rill::broker
