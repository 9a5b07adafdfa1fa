#include "broker/producer_epochs.h"

#include <gtest/gtest.h>

namespace rill::broker {
namespace {

using outcome = producer_epochs::outcome;

TEST(producer_epochs, bumps_only_the_current_epoch) {
    producer_epochs e;
    e.issued(1000);
    auto b = e.try_bump(1000, 0);
    EXPECT_EQ(b.result, outcome::bumped);
    EXPECT_EQ(b.epoch, 1);
    // The old epoch, a future one, or someone else's guess: fenced.
    EXPECT_EQ(e.try_bump(1000, 0).result, outcome::fenced);
    EXPECT_EQ(e.try_bump(1000, 7).result, outcome::fenced);
    EXPECT_EQ(e.try_bump(1000, 1).epoch, 2);
    // An id this broker never handed out.
    EXPECT_EQ(e.try_bump(77, 0).result, outcome::unknown);
}

TEST(producer_epochs, exhausted_epoch_needs_a_new_id) {
    producer_epochs e;
    e.issued(5);
    for (int16_t ep = 0; ep < INT16_MAX - 1; ++ep)
        ASSERT_EQ(e.try_bump(5, ep).result, outcome::bumped) << ep;
    EXPECT_EQ(e.try_bump(5, INT16_MAX - 1).result, outcome::unknown);
    EXPECT_EQ(e.try_bump(5, INT16_MAX - 1).result, outcome::unknown);
}

TEST(producer_epochs, bounded_oldest_forgotten_first) {
    producer_epochs e(3);
    for (int64_t id = 1; id <= 5; ++id)
        e.issued(id);
    EXPECT_EQ(e.size(), 3u);
    EXPECT_EQ(e.try_bump(1, 0).result, outcome::unknown);
    EXPECT_EQ(e.try_bump(2, 0).result, outcome::unknown);
    EXPECT_EQ(e.try_bump(5, 0).result, outcome::bumped);
}

}  // namespace
}  // namespace rill::broker
