#include "admin/http.h"

namespace rill::admin {
namespace {

std::vector<std::string_view> split_path(std::string_view p) {
    std::vector<std::string_view> out;
    size_t i = 0;
    if (!p.empty() && p[0] == '/') i = 1;
    while (i <= p.size()) {
        size_t j = p.find('/', i);
        if (j == std::string_view::npos) j = p.size();
        out.push_back(p.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

response response::json_body(const json& j, int status) {
    response r;
    r.status = status;
    r.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
    return r;
}

response response::text(std::string body, std::string content_type, int status) {
    response r;
    r.status = status;
    r.body = std::move(body);
    r.content_type = std::move(content_type);
    return r;
}

response error_response(int status, const std::string& message, int error_code) {
    json j;
    j["error_code"] = error_code ? error_code : status * 100 + 1;
    j["message"] = message;
    j["code"] = status;
    return response::json_body(j, status);
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            int h = hex(s[i + 1]), l = hex(s[i + 2]);
            if (h < 0 || l < 0) return std::nullopt;
            out.push_back(static_cast<char>(h * 16 + l));
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out.push_back(' ');
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::optional<parsed_target> parse_target(std::string_view target) {
    parsed_target t;
    size_t q = target.find('?');
    auto path = percent_decode(target.substr(0, q), false);
    if (!path || path->empty() || (*path)[0] != '/') return std::nullopt;
    t.path = std::move(*path);
    if (q == std::string_view::npos) return t;
    std::string_view qs = target.substr(q + 1);
    size_t i = 0;
    while (i < qs.size()) {
        size_t amp = qs.find('&', i);
        if (amp == std::string_view::npos) amp = qs.size();
        std::string_view kv = qs.substr(i, amp - i);
        if (!kv.empty()) {
            size_t eq = kv.find('=');
            auto k = percent_decode(kv.substr(0, eq), true);
            auto v = eq == std::string_view::npos ? std::optional<std::string>("")
                                                  : percent_decode(kv.substr(eq + 1), true);
            if (!k || !v) return std::nullopt;
            t.query[*k] = *v;
        }
        i = amp + 1;
    }
    return t;
}

void router::add(std::string method, std::string pattern, handler fn, bool mutating) {
    routes_.push_back({std::move(method), std::move(pattern), std::move(fn), mutating});
}

router::match router::find(const std::string& method, const std::string& path) const {
    match result;
    // Paths are matched on their raw segments; the server decoded the whole path already, so
    // a captured segment cannot contain '/' unless it was escaped as %2F (then it is split
    // here, which is fine: no resource name may contain '/').
    auto segs = split_path(path);
    for (const auto& r : routes_) {
        auto pat = split_path(r.pattern);
        if (pat.size() != segs.size()) continue;
        std::map<std::string, std::string> params;
        bool ok = true;
        for (size_t i = 0; i < pat.size() && ok; ++i) {
            if (pat[i].size() >= 2 && pat[i].front() == '{' && pat[i].back() == '}') {
                if (segs[i].empty())
                    ok = false;
                else
                    params[std::string(pat[i].substr(1, pat[i].size() - 2))] = segs[i];
            } else {
                ok = pat[i] == segs[i];
            }
        }
        if (!ok) continue;
        if (r.method != method) {
            result.method_mismatch = true;
            continue;
        }
        result.r = &r;
        result.method_mismatch = false;
        result.params = std::move(params);
        return result;
    }
    return result;
}

}  // namespace rill::admin
