// The JSON request bodies of the admin routes, parsed into plain values before a route acts on
// them: pure functions (no broker), so they are unit-tested and fuzzed (tests/fuzz/admin_fuzz.cc)
// on their own. Bad input of any shape is an error response (400 unless noted), never an
// exception: a field of the wrong type is refused, not converted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/http.h"
#include "common/result.h"
#include "protocol/record_batch.h"
#include "protocol/wire.h"

namespace rill::admin {

// Nesting deeper than this (arrays and objects) is refused before parsing: serializing a deeply
// nested value recurses once per level.
inline constexpr int kMaxJsonDepth = 64;

// Parses a body that must be one JSON object: an empty body, malformed JSON, nesting beyond
// kMaxJsonDepth or another JSON type is a 400.
result<json, response> parse_json_object(std::string_view body);

// POST /v3/clusters/{id}/topics
struct create_topic_body {
    std::string name;
    std::optional<int32_t> partitions;          // -1 or >= 0 as given (the store validates)
    std::optional<int16_t> replication_factor;  // likewise
    std::vector<std::pair<std::string, std::string>> configs;  // in order; null values skipped
    bool validate_only = false;
};
result<create_topic_body, response> parse_create_topic(const json& body);

// One entry of a config alteration: SET name=value or DELETE name.
struct config_op {
    std::string name;
    bool remove = false;
    std::string value;  // SET: strings as they are, other JSON values serialized
};
// The entries of configs:alter's "data" (or the one-entry list a PUT/DELETE builds).
result<std::vector<config_op>, response> parse_config_ops(const json& ops);

// POST .../topics/{topic}/configs:alter
struct alter_configs_body {
    std::vector<config_op> ops;
    bool validate_only = false;
};
result<alter_configs_body, response> parse_alter_configs(const json& body);

// POST .../topics/{topic}/records
struct produce_body {
    std::optional<protocol::bytes> key;
    std::optional<protocol::bytes> value;
    std::vector<protocol::record_header> headers;
    // The requested partition: nullopt when absent or null; -1 when not an integer (the route
    // answers 404 for it as for any partition out of range, naming partition_text).
    std::optional<int64_t> partition_id;
    std::string partition_text;
    std::optional<int64_t> timestamp;  // ms since the epoch; nullopt: the broker's clock
};
result<produce_body, response> parse_produce(const json& body);

}  // namespace rill::admin
