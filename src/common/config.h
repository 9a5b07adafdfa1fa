// Broker and topic configuration: Kafka's key names, types, defaults and validation.
//
// Two tables describe every key Rill understands: broker keys (server.properties) and topic keys
// (CreateTopics configs, AlterConfigs). A topic key may have broker synonyms (retention.ms ←
// log.retention.ms ← log.retention.minutes ← log.retention.hours); a topic's effective value is
// its own override, else the first synonym set on the broker, else the default. This is what
// DescribeConfigs reports as value, source and synonyms.
//
// Thread-safety: the tables are immutable; a `config_values` is a plain value.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rill {

enum class config_type { boolean, int32, int64, float64, string, list, password };

// Where a config's value came from (DescribeConfigs ConfigSource values).
enum class config_source : int8_t {
    unknown = 0,
    dynamic_topic = 1,
    dynamic_broker = 2,
    dynamic_default_broker = 3,
    static_broker = 4,
    default_config = 5,
    dynamic_group_config = 8,  // a group config (KIP-848; the GROUP resource)
};

// A list value as Kafka reads one: comma-separated items, blanks around them trimmed, empty
// items dropped.
std::vector<std::string> split_list(std::string_view s);

struct config_def {
    std::string_view name;
    config_type type;
    std::optional<std::string_view> default_value;  // nullopt: no default (null)
    std::string_view doc;
    // Inclusive numeric range; ignored for non-numeric types.
    double min = -1e300;
    double max = 1e300;
    // Allowed values for strings/lists (empty: any). For lists each element must be allowed.
    std::vector<std::string_view> allowed = {};
    bool read_only = true;  // broker keys: changeable at runtime through AlterConfigs?
    bool sensitive = false;
    // For topic keys: broker keys to fall back to, most specific first.
    std::vector<std::string_view> synonyms = {};
};

// All broker keys, and all topic keys.
std::span<const config_def> broker_config_defs();
std::span<const config_def> topic_config_defs();
const config_def* find_broker_config(std::string_view name);
const config_def* find_topic_config(std::string_view name);

// Checks that `value` parses as the def's type and satisfies its range/allowed set.
// Returns an error message when invalid.
result<void, std::string> validate_config_value(const config_def& def, std::string_view value);

class config_values;
// Checks every key of a topic's overrides: known topic config and valid value.
result<void, std::string> validate_topic_configs(const config_values& values);

// A set of string values keyed by config name (what the user set; defaults are not stored).
class config_values {
  public:
    void set(std::string name, std::string value) { values_[std::move(name)] = std::move(value); }
    void erase(const std::string& name) { values_.erase(name); }
    const std::string* get(std::string_view name) const {
        auto it = values_.find(std::string(name));
        return it == values_.end() ? nullptr : &it->second;
    }
    const std::map<std::string, std::string>& all() const { return values_; }
    bool empty() const { return values_.empty(); }

  private:
    std::map<std::string, std::string> values_;
};

// Parses Java-properties text (key=value or key: value lines, # and ! comments, trailing
// backslash continuations, surrounding whitespace trimmed). Errors name the line.
result<config_values, std::string> parse_properties(std::string_view text);

// The broker's configuration: static values from the file and overrides, plus dynamic changes.
// Thread-safe: any thread may read while another applies dynamic changes.
class broker_config {
  public:
    broker_config() = default;
    broker_config(const broker_config& o);
    broker_config& operator=(const broker_config& o);

    // Validates every known key; unknown keys are returned in `unknown` (the caller warns).
    static result<broker_config, std::string> make(config_values values,
                                                   std::vector<std::string>* unknown = nullptr);

    // Effective string value (set value or default); nullopt when unset with no default.
    std::optional<std::string> get(std::string_view name) const;
    bool get_bool(std::string_view name) const;
    int64_t get_int(std::string_view name) const;
    double get_double(std::string_view name) const;
    std::string get_string(std::string_view name) const;  // "" when null
    std::vector<std::string> get_list(std::string_view name) const;

    // Where a broker key's value came from, or default_config.
    config_source source(std::string_view name) const;
    bool is_set(std::string_view name) const;

    // Dynamic (cluster-wide default) broker config changes from AlterConfigs.
    result<void, std::string> set_dynamic(const std::string& name, const std::string& value);
    void erase_dynamic(const std::string& name);
    // Replaces all dynamic values at once (REQUIRES: validated, e.g. built on a copy).
    void replace_dynamic(config_values values);
    config_values dynamic_values() const;
    const config_values& static_values() const { return static_; }

    // Derived values used across the broker.
    int64_t log_retention_ms() const;  // -1 = unlimited
    int64_t log_roll_ms() const;

  private:
    std::shared_ptr<const config_values> dynamic() const;

    config_values static_;
    mutable std::mutex mu_;  // guards dynamic_ (the pointer; the values are immutable)
    std::shared_ptr<const config_values> dynamic_ = std::make_shared<config_values>();
};

// The resolved value of one topic config key.
struct topic_config_entry {
    std::string name;
    std::optional<std::string> value;
    config_source source = config_source::default_config;
    bool sensitive = false;
    bool read_only = false;
    struct synonym {
        std::string name;
        std::optional<std::string> value;
        config_source source;
    };
    std::vector<synonym> synonyms;  // most specific first
};

// Resolves every topic key for a topic with `overrides` on a broker with `broker`.
std::vector<topic_config_entry> describe_topic_config(const config_values& overrides,
                                                      const broker_config& broker);
// The effective value of one topic key (override → broker synonym → default).
std::optional<std::string> topic_config_value(std::string_view name, const config_values& overrides,
                                              const broker_config& broker);

// Converts a broker synonym's value to the topic key's unit (log.retention.hours=1 → 3600000).
std::optional<std::string> synonym_to_topic_value(std::string_view synonym,
                                                  const std::string& value);

}  // namespace rill
