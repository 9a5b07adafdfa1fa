// Group configs (KIP-848): per consumer group overrides of the broker's consumer protocol
// settings, changed with IncrementalAlterConfigs on the GROUP resource and stored in the
// metadata store (metadata_snapshot::group_configs). Each key's value must lie within the
// bounds the broker sets.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/result.h"

namespace rill {

struct group_config_def {
    std::string_view name;        // group.consumer.session.timeout.ms
    std::string_view broker_key;  // the broker's default for it (the same name)
    std::string_view min_key;     // broker keys bounding it
    std::string_view max_key;
    std::string_view doc;
};

// Every group config key.
const std::vector<group_config_def>& group_config_defs();
const group_config_def* find_group_config(std::string_view name);

// Checks one key and value: unknown keys, non-integers and values out of the broker's bounds
// are refused with a message naming the bound.
result<void, std::string> validate_group_config(std::string_view name, const std::string& value,
                                                const broker_config& broker);

// One key resolved for a group: its override (DYNAMIC_GROUP_CONFIG) or the broker's value
// (DEFAULT_CONFIG).
struct group_config_entry {
    std::string name;
    std::string value;
    config_source source = config_source::default_config;
};
std::vector<group_config_entry> describe_group_config(const config_values* overrides,
                                                      const broker_config& broker);

// The effective integer value of `name` for a group with `overrides` (nullptr: none).
int64_t group_config_int(std::string_view name, const config_values* overrides,
                         const broker_config& broker);

}  // namespace rill
