#include "net/server_config.h"

#include <gtest/gtest.h>

namespace rill::net {
namespace {

result<server_limits, std::string> limits(
    std::initializer_list<std::pair<const char*, const char*>> kv) {
    config_values v;
    for (auto& [k, val] : kv)
        v.set(k, val);
    auto c = broker_config::make(v);
    if (!c) return unexpected(c.error());
    static std::vector<std::unique_ptr<broker_config>> keep;  // limits read the config later
    keep.push_back(std::make_unique<broker_config>(std::move(*c)));
    return server_limits_from_config(*keep.back());
}

TEST(ServerConfig, Defaults) {
    auto l = limits({});
    ASSERT_TRUE(l) << l.error();
    EXPECT_EQ(l->max_request_bytes, 104857600);
    EXPECT_EQ(l->max_inflight_bytes, kDefaultRequestBudget);
    EXPECT_EQ(l->idle_timeout_ms, 600000);
    EXPECT_EQ(l->max_connections, 2147483647);
    EXPECT_EQ(l->max_connections_per_ip, 2147483647);
    EXPECT_TRUE(l->max_connections_per_ip_overrides.empty());
    ASSERT_TRUE(l->current_max_connections);
    EXPECT_EQ(l->current_max_connections(), 2147483647);
}

TEST(ServerConfig, RequestBudget) {
    auto set = limits({{"queued.max.request.bytes", "209715200"}});
    ASSERT_TRUE(set);
    EXPECT_EQ(set->max_inflight_bytes, 209715200);
    // The default is at least one request of the largest size.
    auto big = limits({{"socket.request.max.bytes", "1073741824"}});
    ASSERT_TRUE(big);
    EXPECT_EQ(big->max_inflight_bytes, 1073741824);
    auto zero = limits({{"queued.max.request.bytes", "0"}});
    ASSERT_TRUE(zero);
    EXPECT_EQ(zero->max_inflight_bytes, kDefaultRequestBudget);
    auto small = limits({{"queued.max.request.bytes", "1000"}});
    ASSERT_FALSE(small);
    EXPECT_NE(small.error().find("socket.request.max.bytes"), std::string::npos);
}

TEST(ServerConfig, ConnectionLimits) {
    auto l = limits({{"max.connections.per.ip", "0"},
                     {"max.connections.per.ip.overrides", "127.0.0.1:4"},
                     {"max.connections", "10"},
                     {"connections.max.idle.ms", "-1"}});
    ASSERT_TRUE(l) << l.error();
    EXPECT_EQ(l->max_connections_per_ip, 0);
    EXPECT_EQ(l->max_connections_per_ip_overrides.at(boost::asio::ip::make_address("127.0.0.1")),
              4);
    EXPECT_EQ(l->current_max_connections(), 10);
    EXPECT_EQ(l->idle_timeout_ms, -1);
    auto none = limits({{"max.connections.per.ip", "0"}});
    ASSERT_FALSE(none);
    EXPECT_NE(none.error().find("max.connections.per.ip.overrides"), std::string::npos);
    EXPECT_FALSE(limits({{"max.connections.per.ip.overrides", "x:y"}}));
    EXPECT_FALSE(limits({{"max.connections.per.ip", "-1"}}));
}

TEST(ServerConfig, MaxConnectionsFollowsDynamicChanges) {
    config_values v;
    auto c = broker_config::make(v);
    ASSERT_TRUE(c);
    auto l = server_limits_from_config(*c);
    ASSERT_TRUE(l);
    ASSERT_TRUE(c->set_dynamic("max.connections", "7"));
    EXPECT_EQ(l->current_max_connections(), 7);
    EXPECT_FALSE(c->set_dynamic("max.connections.per.ip", "7"));  // read at start only
}

}  // namespace
}  // namespace rill::net
