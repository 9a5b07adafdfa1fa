// Connection limits of the Kafka listener, as Kafka defines them (SocketServer's
// ConnectionQuotas):
//
// - max.connections.per.ip (default 2^31-1) with max.connections.per.ip.overrides
//   ("host:count,host:count", a host being an IP literal or a name resolved at start to all its
//   addresses; the count follows the last colon, so IPv6 literals work): a new connection from
//   an address that already has its maximum is accepted and closed at once.
// - max.connections (default 2^31-1): once reached, the listener stops accepting; new
//   connections wait in the kernel's listen backlog until a connection closes.
//
// Threading: parse/resolve functions are pure or blocking (start-up only). connection_quotas is
// thread-safe (a short mutex): the acceptor counts connections in, their shards count them out.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/asio.h"
#include "common/result.h"

namespace rill::net {

struct ip_override {
    std::string host;
    int32_t count = 0;
};

// Parses max.connections.per.ip.overrides. Entries are separated by commas (whitespace around
// them ignored), host and count by the last colon; counts are integers >= 0. "" is no override.
// Errors name the bad entry.
result<std::vector<ip_override>, std::string> parse_ip_overrides(std::string_view text);

// The address a connection is counted under: IPv4-mapped IPv6 addresses as IPv4.
boost::asio::ip::address normalize_address(const boost::asio::ip::address& a);

// Per-IP limits by address. Hosts that are not IP literals are resolved (all their addresses);
// a later entry for the same address wins. Fails when a name does not resolve.
result<std::map<boost::asio::ip::address, int32_t>, std::string> resolve_ip_overrides(
    const std::vector<ip_override>& overrides);

class connection_quotas {
  public:
    connection_quotas(int32_t max_per_ip, std::map<boost::asio::ip::address, int32_t> overrides);

    // The per-IP limit that applies to `ip`.
    int32_t limit_for(const boost::asio::ip::address& ip) const;
    // Counts a new connection from `ip`, or returns false (counting nothing) when `ip` already
    // has its limit of connections.
    bool try_add(const boost::asio::ip::address& ip);
    // Counts a connection from `ip` out (REQUIRES: counted in by try_add).
    void remove(const boost::asio::ip::address& ip);

    int64_t total() const;
    int32_t count(const boost::asio::ip::address& ip) const;

  private:
    const int32_t max_per_ip_;
    const std::map<boost::asio::ip::address, int32_t> overrides_;
    mutable std::mutex mu_;
    std::map<boost::asio::ip::address, int32_t> counts_;
    int64_t total_ = 0;
};

}  // namespace rill::net
