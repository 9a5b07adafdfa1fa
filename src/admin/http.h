// The admin endpoint's request/response values and its router: pure data and functions, no
// sockets, so routing and JSON shaping can be unit-tested (tests/unit/admin/).
//
// Routes are patterns of '/'-separated segments; a segment "{name}" captures one path segment
// (percent-decoded) into request::params. Matching is exact otherwise (no trailing slash
// tolerance except for the root). A path that matches a route with another method answers 405.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/asio.h"

namespace rill::admin {

// Objects keep insertion order, so responses read like the documented shapes (kind first).
using json = nlohmann::ordered_json;

struct request {
    std::string method;  // "GET", "POST", ...
    std::string path;    // decoded path, without the query
    std::map<std::string, std::string> query;
    std::map<std::string, std::string> params;  // captured {segments}
    std::string body;
    std::string content_type;
    std::string authorization;  // the Authorization header, "" when absent

    // The query value, or nullopt.
    std::optional<std::string> q(const std::string& key) const {
        auto it = query.find(key);
        return it == query.end() ? std::nullopt : std::optional(it->second);
    }
    const std::string& param(const std::string& key) const { return params.at(key); }
};

struct response {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;

    static response json_body(const json& j, int status = 200);
    static response text(std::string body, std::string content_type, int status = 200);
};

// An error in the Confluent v3 shape {"error_code", "message"} (plus "code", the HTTP status,
// as Redpanda's admin API has it). error_code is status * 100 + 1 (40401, 40901, ...) unless
// given.
response error_response(int status, const std::string& message, int error_code = 0);

// Splits "a/b%20c?x=1&y" into path "/a/b c" and query {x:1, y:""}. nullopt on bad escapes.
struct parsed_target {
    std::string path;
    std::map<std::string, std::string> query;
};
std::optional<parsed_target> parse_target(std::string_view target);
// Percent-decoding ('+' stays '+' in paths; the query decoder maps it to ' '). nullopt on a
// malformed escape.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space);

using handler = std::function<boost::asio::awaitable<response>(request&)>;

struct route {
    std::string method;
    std::string pattern;
    handler fn;
    bool mutating = false;  // requires the bearer token when admin.auth.token is set
};

class router {
  public:
    void add(std::string method, std::string pattern, handler fn, bool mutating = false);

    struct match {
        const route* r = nullptr;  // null: no route
        bool method_mismatch = false;
        std::map<std::string, std::string> params;
    };
    match find(const std::string& method, const std::string& path) const;
    const std::vector<route>& routes() const { return routes_; }

  private:
    std::vector<route> routes_;
};

}  // namespace rill::admin
