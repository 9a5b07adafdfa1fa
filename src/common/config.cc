#include "common/config.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>

#include "common/config_defs.h"
#include "common/security_config_defs.h"

namespace rill {
namespace {

using T = config_type;
using config_tables::broker_defs;
using config_tables::topic_defs;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

template <typename I>
bool parse_int(std::string_view s, I& out) {
    s = trim(s);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

bool parse_double(std::string_view s, double& out) {
    std::string tmp(trim(s));
    if (tmp.empty()) return false;
    char* end = nullptr;
    out = std::strtod(tmp.c_str(), &end);
    return end == tmp.c_str() + tmp.size();
}

const config_def* find_in(const std::vector<config_def>& defs, std::string_view name) {
    for (const auto& d : defs)
        if (d.name == name) return &d;
    return nullptr;
}

}  // namespace

std::vector<std::string> split_list(std::string_view s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        if (comma == std::string_view::npos) comma = s.size();
        auto item = trim(s.substr(start, comma - start));
        if (!item.empty()) out.emplace_back(item);
        start = comma + 1;
    }
    return out;
}

std::span<const config_def> broker_config_defs() {
    return broker_defs();
}
std::span<const config_def> topic_config_defs() {
    return topic_defs();
}
const config_def* find_broker_config(std::string_view name) {
    return find_in(broker_defs(), name);
}
const config_def* find_topic_config(std::string_view name) {
    return find_in(topic_defs(), name);
}

result<void, std::string> validate_config_value(const config_def& def, std::string_view value) {
    auto bad = [&](std::string_view why) {
        return unexpected{std::string("Invalid value '") + std::string(value) + "' for " +
                          std::string(def.name) + ": " + std::string(why)};
    };
    switch (def.type) {
        case T::boolean: {
            auto v = trim(value);
            if (v != "true" && v != "false") return bad("expected true or false");
            return {};
        }
        case T::int32:
        case T::int64: {
            int64_t v = 0;
            if (!parse_int(value, v)) return bad("expected an integer");
            if (def.type == T::int32 && (v < std::numeric_limits<int32_t>::min() ||
                                         v > std::numeric_limits<int32_t>::max()))
                return bad("out of the 32-bit range");
            if (static_cast<double>(v) < def.min || static_cast<double>(v) > def.max)
                return bad("out of range [" + std::to_string(static_cast<int64_t>(def.min)) + ", " +
                           std::to_string(static_cast<int64_t>(def.max)) + "]");
            return {};
        }
        case T::float64: {
            double v = 0;
            if (!parse_double(value, v)) return bad("expected a number");
            if (v < def.min || v > def.max) return bad("out of range");
            return {};
        }
        case T::string:
            if (!def.allowed.empty() &&
                std::find(def.allowed.begin(), def.allowed.end(), trim(value)) == def.allowed.end())
                return bad("not one of the allowed values");
            return {};
        case T::list:
            if (!def.allowed.empty()) {
                for (const auto& item : split_list(value))
                    if (std::find(def.allowed.begin(), def.allowed.end(), item) ==
                        def.allowed.end())
                        return bad("'" + item + "' is not an allowed value");
            }
            return {};
        case T::password:
            return {};
    }
    return {};
}

result<void, std::string> validate_topic_configs(const config_values& values) {
    for (const auto& [k, v] : values.all()) {
        const config_def* def = find_topic_config(k);
        if (!def) return unexpected{"Unknown topic config name: " + k};
        if (auto r = validate_config_value(*def, v); !r) return r;
    }
    return {};
}

result<config_values, std::string> parse_properties(std::string_view text) {
    config_values out;
    size_t pos = 0;
    int line_no = 0;
    std::string pending;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        auto raw = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++line_no;
        auto line = trim(raw);
        if (pending.empty() && (line.empty() || line.front() == '#' || line.front() == '!'))
            continue;
        if (!line.empty() && line.back() == '\\') {
            line.remove_suffix(1);
            pending += std::string(trim(line));
            continue;
        }
        std::string full = pending + std::string(line);
        pending.clear();
        if (full.empty()) continue;
        size_t sep = full.find_first_of("=:");
        if (sep == std::string::npos)
            return unexpected{"line " + std::to_string(line_no) + ": expected key=value, got '" +
                              full + "'"};
        auto key = trim(std::string_view(full).substr(0, sep));
        auto value = trim(std::string_view(full).substr(sep + 1));
        if (key.empty()) return unexpected{"line " + std::to_string(line_no) + ": empty key"};
        out.set(std::string(key), std::string(value));
    }
    return out;
}

result<broker_config, std::string> broker_config::make(config_values values,
                                                       std::vector<std::string>* unknown) {
    for (const auto& [k, v] : values.all()) {
        const config_def* def = find_broker_config(k);
        if (!def) def = find_listener_override(k);  // listener.name.<listener>.ssl...
        if (!def) {
            if (unknown) unknown->push_back(k);
            continue;
        }
        if (auto r = validate_config_value(*def, v); !r) return unexpected{r.error()};
    }
    broker_config c;
    c.static_ = std::move(values);
    if (const auto* id = c.static_.get("node.id"); id && !c.static_.get("broker.id"))
        c.static_.set("broker.id", *id);
    return c;
}

broker_config::broker_config(const broker_config& o) : static_(o.static_), dynamic_(o.dynamic()) {}

broker_config& broker_config::operator=(const broker_config& o) {
    if (this == &o) return *this;
    auto d = o.dynamic();
    static_ = o.static_;
    std::lock_guard lock(mu_);
    dynamic_ = std::move(d);
    return *this;
}

std::shared_ptr<const config_values> broker_config::dynamic() const {
    std::lock_guard lock(mu_);
    return dynamic_;
}

config_values broker_config::dynamic_values() const {
    return *dynamic();
}

std::optional<std::string> broker_config::get(std::string_view name) const {
    if (const auto* v = dynamic()->get(name)) return *v;
    if (const auto* v = static_.get(name)) return *v;
    if (const auto* def = find_broker_config(name); def && def->default_value)
        return std::string(*def->default_value);
    return std::nullopt;
}

bool broker_config::get_bool(std::string_view name) const {
    return get(name) == "true";
}

int64_t broker_config::get_int(std::string_view name) const {
    int64_t v = 0;
    if (auto s = get(name)) parse_int(*s, v);
    return v;
}

double broker_config::get_double(std::string_view name) const {
    double v = 0;
    if (auto s = get(name)) parse_double(*s, v);
    return v;
}

std::string broker_config::get_string(std::string_view name) const {
    auto v = get(name);
    return v ? *v : std::string();
}

std::vector<std::string> broker_config::get_list(std::string_view name) const {
    auto v = get(name);
    return v ? split_list(*v) : std::vector<std::string>{};
}

bool broker_config::is_set(std::string_view name) const {
    return dynamic()->get(name) || static_.get(name);
}

config_source broker_config::source(std::string_view name) const {
    if (dynamic()->get(name)) return config_source::dynamic_default_broker;
    if (static_.get(name)) return config_source::static_broker;
    return config_source::default_config;
}

result<void, std::string> broker_config::set_dynamic(const std::string& name,
                                                     const std::string& value) {
    const config_def* def = find_broker_config(name);
    if (!def) return unexpected{"Unknown broker config " + name};
    if (def->read_only)
        return unexpected{"Broker config " + name + " cannot be changed at runtime"};
    if (auto r = validate_config_value(*def, value); !r) return r;
    std::lock_guard lock(mu_);
    auto next = std::make_shared<config_values>(*dynamic_);
    next->set(name, value);
    dynamic_ = std::move(next);
    return {};
}

void broker_config::erase_dynamic(const std::string& name) {
    std::lock_guard lock(mu_);
    auto next = std::make_shared<config_values>(*dynamic_);
    next->erase(name);
    dynamic_ = std::move(next);
}

void broker_config::replace_dynamic(config_values values) {
    auto next = std::make_shared<const config_values>(std::move(values));
    std::lock_guard lock(mu_);
    dynamic_ = std::move(next);
}

int64_t broker_config::log_retention_ms() const {
    if (is_set("log.retention.ms")) return get_int("log.retention.ms");
    if (is_set("log.retention.minutes")) return get_int("log.retention.minutes") * 60'000;
    int64_t h = get_int("log.retention.hours");
    return h < 0 ? -1 : h * 3'600'000;
}

int64_t broker_config::log_roll_ms() const {
    if (is_set("log.roll.ms")) return get_int("log.roll.ms");
    return get_int("log.roll.hours") * 3'600'000;
}

std::optional<std::string> synonym_to_topic_value(std::string_view synonym,
                                                  const std::string& value) {
    int64_t v = 0;
    if (synonym.ends_with(".hours") && parse_int(value, v))
        return std::to_string(v < 0 ? -1 : v * 3'600'000);
    if (synonym.ends_with(".minutes") && parse_int(value, v))
        return std::to_string(v < 0 ? -1 : v * 60'000);
    return value;
}

std::vector<topic_config_entry> describe_topic_config(const config_values& overrides,
                                                      const broker_config& broker) {
    std::vector<topic_config_entry> out;
    for (const auto& def : topic_defs()) {
        topic_config_entry e;
        e.name = std::string(def.name);
        e.sensitive = def.sensitive;
        if (const auto* v = overrides.get(def.name)) {
            e.synonyms.push_back({e.name, *v, config_source::dynamic_topic});
        }
        for (auto syn : def.synonyms) {
            if (!broker.is_set(syn)) continue;
            auto raw = broker.get(syn);
            e.synonyms.push_back({std::string(syn), raw, broker.source(syn)});
        }
        if (!e.synonyms.empty()) {
            const auto& first = e.synonyms.front();
            e.source = first.source;
            e.value = first.source == config_source::dynamic_topic || !first.value
                          ? first.value
                          : synonym_to_topic_value(first.name, *first.value);
        } else {
            e.value =
                def.default_value ? std::optional<std::string>(*def.default_value) : std::nullopt;
            e.source = config_source::default_config;
        }
        // The default entry, named like Kafka does: the first broker synonym with a default.
        bool have_default = false;
        for (auto syn : def.synonyms) {
            const config_def* bdef = find_broker_config(syn);
            if (bdef && bdef->default_value) {
                e.synonyms.push_back({std::string(syn), std::string(*bdef->default_value),
                                      config_source::default_config});
                have_default = true;
                break;
            }
        }
        if (!have_default && def.default_value)
            e.synonyms.push_back(
                {e.name, std::string(*def.default_value), config_source::default_config});
        out.push_back(std::move(e));
    }
    return out;
}

std::optional<std::string> topic_config_value(std::string_view name, const config_values& overrides,
                                              const broker_config& broker) {
    if (const auto* v = overrides.get(name)) return *v;
    const config_def* def = find_topic_config(name);
    if (!def) return std::nullopt;
    for (auto syn : def->synonyms) {
        if (!broker.is_set(syn)) continue;
        if (auto raw = broker.get(syn)) return synonym_to_topic_value(syn, *raw);
    }
    return def->default_value ? std::optional<std::string>(*def->default_value) : std::nullopt;
}

}  // namespace rill
