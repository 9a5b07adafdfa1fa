#include "common/group_config.h"

#include <gtest/gtest.h>

namespace rill {
namespace {

broker_config bounded() {
    config_values v;
    v.set("group.consumer.min.session.timeout.ms", "3000");
    v.set("group.consumer.max.session.timeout.ms", "60000");
    v.set("group.consumer.heartbeat.interval.ms", "4000");
    auto c = broker_config::make(v);
    EXPECT_TRUE(c);
    return *c;
}

TEST(group_config, values_within_the_brokers_bounds) {
    auto b = bounded();
    EXPECT_TRUE(validate_group_config("group.consumer.session.timeout.ms", "3000", b));
    EXPECT_TRUE(validate_group_config("group.consumer.session.timeout.ms", "60000", b));
    auto low = validate_group_config("group.consumer.session.timeout.ms", "2999", b);
    ASSERT_FALSE(low);
    EXPECT_NE(low.error().find("group.consumer.min.session.timeout.ms (3000)"), std::string::npos);
    EXPECT_FALSE(validate_group_config("group.consumer.session.timeout.ms", "60001", b));
    // Heartbeat bounds are Kafka's defaults here: 5000..15000.
    EXPECT_FALSE(validate_group_config("group.consumer.heartbeat.interval.ms", "4999", b));
    EXPECT_TRUE(validate_group_config("group.consumer.heartbeat.interval.ms", "15000", b));
    EXPECT_FALSE(validate_group_config("group.consumer.heartbeat.interval.ms", "5000x", b));
    EXPECT_FALSE(validate_group_config("group.consumer.heartbeat.interval.ms", "", b));
    EXPECT_FALSE(validate_group_config("group.consumer.max.size", "10", b));
}

TEST(group_config, describe_and_effective_values) {
    auto b = bounded();
    auto none = describe_group_config(nullptr, b);
    ASSERT_EQ(none.size(), 2u);
    EXPECT_EQ(none[0].name, "group.consumer.session.timeout.ms");
    EXPECT_EQ(none[0].value, "45000");
    EXPECT_EQ(none[0].source, config_source::default_config);
    EXPECT_EQ(none[1].value, "4000");
    config_values o;
    o.set("group.consumer.heartbeat.interval.ms", "6000");
    auto some = describe_group_config(&o, b);
    EXPECT_EQ(some[0].source, config_source::default_config);
    EXPECT_EQ(some[1].value, "6000");
    EXPECT_EQ(some[1].source, config_source::dynamic_group_config);
    EXPECT_EQ(group_config_int("group.consumer.heartbeat.interval.ms", &o, b), 6000);
    EXPECT_EQ(group_config_int("group.consumer.session.timeout.ms", &o, b), 45000);
    EXPECT_EQ(group_config_int("group.consumer.heartbeat.interval.ms", nullptr, b), 4000);
}

}  // namespace
}  // namespace rill
