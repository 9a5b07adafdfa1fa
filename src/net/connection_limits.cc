#include "net/connection_limits.h"

#include <charconv>

namespace rill::net {

namespace asio = boost::asio;

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() &&
           (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() &&
           (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

result<std::vector<ip_override>, std::string> parse_ip_overrides(std::string_view text) {
    std::vector<ip_override> out;
    if (trim(text).empty()) return out;
    size_t pos = 0;
    for (;;) {
        size_t comma = text.find(',', pos);
        std::string_view item =
            trim(text.substr(pos, comma == std::string_view::npos ? text.npos : comma - pos));
        const std::string quoted = "'" + std::string(item) + "'";
        size_t colon = item.rfind(':');
        if (colon == std::string_view::npos)
            return unexpected("max.connections.per.ip.overrides: entry " + quoted +
                              " is not host:count");
        std::string_view host = trim(item.substr(0, colon));
        std::string_view count = trim(item.substr(colon + 1));
        if (host.empty())
            return unexpected("max.connections.per.ip.overrides: entry " + quoted + " has no host");
        int32_t n = 0;
        auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), n);
        if (ec != std::errc() || end != count.data() + count.size() || count.empty() || n < 0)
            return unexpected("max.connections.per.ip.overrides: entry " + quoted +
                              " needs a count between 0 and 2147483647");
        out.push_back({std::string(host), n});
        if (comma == std::string_view::npos) break;
        pos = comma + 1;
    }
    return out;
}

asio::ip::address normalize_address(const asio::ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped())
        return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    return a;
}

result<std::map<asio::ip::address, int32_t>, std::string> resolve_ip_overrides(
    const std::vector<ip_override>& overrides) {
    std::map<asio::ip::address, int32_t> out;
    asio::io_context ctx;
    asio::ip::tcp::resolver resolver(ctx);
    for (const auto& o : overrides) {
        std::string host = o.host;
        if (host.size() > 2 && host.front() == '[' && host.back() == ']')
            host = host.substr(1, host.size() - 2);
        boost::system::error_code ec;
        auto addr = asio::ip::make_address(host, ec);
        if (!ec) {
            out[normalize_address(addr)] = o.count;
            continue;
        }
        auto results = resolver.resolve(host, "", ec);
        if (ec || results.empty())
            return unexpected("max.connections.per.ip.overrides: cannot resolve host '" + o.host +
                              "'" + (ec ? ": " + ec.message() : std::string()));
        for (const auto& r : results)
            out[normalize_address(r.endpoint().address())] = o.count;
    }
    return out;
}

connection_quotas::connection_quotas(int32_t max_per_ip,
                                     std::map<asio::ip::address, int32_t> overrides)
    : max_per_ip_(max_per_ip), overrides_(std::move(overrides)) {}

int32_t connection_quotas::limit_for(const asio::ip::address& ip) const {
    auto it = overrides_.find(ip);
    return it == overrides_.end() ? max_per_ip_ : it->second;
}

bool connection_quotas::try_add(const asio::ip::address& ip) {
    const int32_t limit = limit_for(ip);
    std::lock_guard lock(mu_);
    auto& n = counts_[ip];
    if (n >= limit) {
        if (n == 0) counts_.erase(ip);
        return false;
    }
    ++n;
    ++total_;
    return true;
}

void connection_quotas::remove(const asio::ip::address& ip) {
    std::lock_guard lock(mu_);
    auto it = counts_.find(ip);
    if (it == counts_.end()) return;
    if (--it->second <= 0) counts_.erase(it);
    --total_;
}

int64_t connection_quotas::total() const {
    std::lock_guard lock(mu_);
    return total_;
}

int32_t connection_quotas::count(const asio::ip::address& ip) const {
    std::lock_guard lock(mu_);
    auto it = counts_.find(ip);
    return it == counts_.end() ? 0 : it->second;
}

}  // namespace rill::net
