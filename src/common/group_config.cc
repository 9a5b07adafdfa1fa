#include "common/group_config.h"

#include <charconv>

namespace rill {
namespace {

std::optional<int64_t> parse(std::string_view s) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
    return v;
}

}  // namespace

const std::vector<group_config_def>& group_config_defs() {
    static const std::vector<group_config_def> defs = {
        {"group.consumer.session.timeout.ms", "group.consumer.session.timeout.ms",
         "group.consumer.min.session.timeout.ms", "group.consumer.max.session.timeout.ms",
         "The timeout to detect client failures when using the consumer group protocol."},
        {"group.consumer.heartbeat.interval.ms", "group.consumer.heartbeat.interval.ms",
         "group.consumer.min.heartbeat.interval.ms", "group.consumer.max.heartbeat.interval.ms",
         "The heartbeat interval given to the members of a consumer group."},
    };
    return defs;
}

const group_config_def* find_group_config(std::string_view name) {
    for (const auto& d : group_config_defs())
        if (d.name == name) return &d;
    return nullptr;
}

result<void, std::string> validate_group_config(std::string_view name, const std::string& value,
                                                const broker_config& broker) {
    const group_config_def* def = find_group_config(name);
    if (!def) return unexpected("Unknown group config name: " + std::string(name));
    auto v = parse(value);
    if (!v)
        return unexpected("Invalid value " + value + " for configuration " + std::string(name) +
                          ": Not a number of type INT");
    const int64_t lo = broker.get_int(def->min_key);
    const int64_t hi = broker.get_int(def->max_key);
    if (*v < lo)
        return unexpected(std::string(name) + " must be greater than or equal to " +
                          std::string(def->min_key) + " (" + std::to_string(lo) + ")");
    if (*v > hi)
        return unexpected(std::string(name) + " must be less than or equal to " +
                          std::string(def->max_key) + " (" + std::to_string(hi) + ")");
    return {};
}

std::vector<group_config_entry> describe_group_config(const config_values* overrides,
                                                      const broker_config& broker) {
    std::vector<group_config_entry> out;
    for (const auto& d : group_config_defs()) {
        group_config_entry e;
        e.name = std::string(d.name);
        const std::string* set = overrides ? overrides->get(d.name) : nullptr;
        if (set) {
            e.value = *set;
            e.source = config_source::dynamic_group_config;
        } else {
            e.value = std::to_string(broker.get_int(d.broker_key));
        }
        out.push_back(std::move(e));
    }
    return out;
}

int64_t group_config_int(std::string_view name, const config_values* overrides,
                         const broker_config& broker) {
    if (overrides)
        if (auto s = overrides->get(name))
            if (auto v = parse(*s)) return *v;
    return broker.get_int(name);
}

}  // namespace rill
