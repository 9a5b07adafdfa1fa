#include "net/connection_limits.h"

#include <gtest/gtest.h>

namespace rill::net {
namespace {

namespace asio = boost::asio;

asio::ip::address ip(const char* s) {
    return asio::ip::make_address(s);
}

TEST(IpOverrides, ParsesKafkaSyntax) {
    auto r = parse_ip_overrides(" hostName:100 , 127.0.0.1:200,::1:7,[fe80::1]:0");
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->size(), 4u);
    EXPECT_EQ((*r)[0].host, "hostName");
    EXPECT_EQ((*r)[0].count, 100);
    EXPECT_EQ((*r)[1].host, "127.0.0.1");
    EXPECT_EQ((*r)[1].count, 200);
    EXPECT_EQ((*r)[2].host, "::1");  // the count follows the last colon
    EXPECT_EQ((*r)[2].count, 7);
    EXPECT_EQ((*r)[3].host, "[fe80::1]");
    EXPECT_EQ((*r)[3].count, 0);
    EXPECT_TRUE(parse_ip_overrides("")->empty());
    EXPECT_TRUE(parse_ip_overrides("  ")->empty());
}

TEST(IpOverrides, RejectsBadEntries) {
    for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":5", "a:b", "a:-1", "a:1x", "a:1,,b:2",
                            "a:99999999999", "a:1,"}) {
        auto r = parse_ip_overrides(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_NE(r.error().find("max.connections.per.ip.overrides"), std::string::npos);
        }
    }
}

TEST(IpOverrides, ResolvesLiteralsAndNames) {
    auto parsed = parse_ip_overrides("127.0.0.2:5,[::1]:6,localhost:7,127.0.0.2:8");
    ASSERT_TRUE(parsed);
    auto r = resolve_ip_overrides(*parsed);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->at(ip("127.0.0.2")), 8);  // a later entry wins
    EXPECT_EQ(r->at(ip("127.0.0.1")), 7);  // localhost
    auto bad = resolve_ip_overrides({{"no-such-host.invalid", 3}});
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().find("no-such-host.invalid"), std::string::npos);
}

TEST(IpOverrides, MappedAddressesCountAsIpv4) {
    EXPECT_EQ(normalize_address(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    EXPECT_EQ(normalize_address(ip("::1")), ip("::1"));
}

TEST(ConnectionQuotas, PerAddressLimitsAndOverrides) {
    connection_quotas q(2, {{ip("10.0.0.9"), 3}, {ip("10.0.0.8"), 0}});
    EXPECT_EQ(q.limit_for(ip("10.0.0.1")), 2);
    EXPECT_EQ(q.limit_for(ip("10.0.0.9")), 3);
    EXPECT_TRUE(q.try_add(ip("10.0.0.1")));
    EXPECT_TRUE(q.try_add(ip("10.0.0.1")));
    EXPECT_FALSE(q.try_add(ip("10.0.0.1")));
    EXPECT_TRUE(q.try_add(ip("10.0.0.2")));
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(q.try_add(ip("10.0.0.9")));
    EXPECT_FALSE(q.try_add(ip("10.0.0.9")));
    EXPECT_FALSE(q.try_add(ip("10.0.0.8")));
    EXPECT_EQ(q.total(), 6);
    EXPECT_EQ(q.count(ip("10.0.0.1")), 2);
    EXPECT_EQ(q.count(ip("10.0.0.8")), 0);
    q.remove(ip("10.0.0.1"));
    EXPECT_EQ(q.count(ip("10.0.0.1")), 1);
    EXPECT_TRUE(q.try_add(ip("10.0.0.1")));
    q.remove(ip("10.0.0.7"));  // never counted: ignored
    EXPECT_EQ(q.total(), 6);
}

}  // namespace
}  // namespace rill::net
