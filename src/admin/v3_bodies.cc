#include "admin/v3_bodies.h"

#include <cctype>
#include <cstdint>

#include "admin/encoding.h"

namespace rill::admin {
namespace {

using unexpected_response = unexpected<response>;

unexpected_response bad_request(const std::string& message) {
    return unexpected_response{error_response(400, message)};
}

// Deepest nesting of arrays and objects in `text`, strings skipped; stops counting past `limit`.
int nesting_depth(std::string_view text, int limit) {
    int depth = 0, deepest = 0;
    bool in_string = false, escaped = false;
    for (char c : text) {
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
            if (deepest > limit) break;
        } else if (c == ']' || c == '}') {
            --depth;
        }
    }
    return deepest;
}

// A boolean field: absent or null -> `fallback`; anything but a boolean is an error.
result<bool, response> bool_field(const json& body, const char* name, bool fallback) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return fallback;
    if (!it->is_boolean()) return bad_request(std::string("'") + name + "' must be a boolean");
    return it->get<bool>();
}

// A bounded integer field; nullopt when absent or null.
result<std::optional<int64_t>, response> int_field(const json& body, const char* name, int64_t lo,
                                                   int64_t hi, const std::string& error) {
    auto it = body.find(name);
    if (it == body.end() || it->is_null()) return std::optional<int64_t>();
    if (!it->is_number_integer()) return bad_request(error);
    // Unsigned values beyond int64 are out of range whatever the bounds.
    if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        return bad_request(error);
    const int64_t v = it->get<int64_t>();
    if (v < lo || v > hi) return bad_request(error);
    return std::optional<int64_t>(v);
}

// The string "name" of an array entry (configs, config ops, headers); `what` names the entry.
result<std::string, response> entry_name(const json& entry, const char* what) {
    auto n = entry.is_object() ? entry.find("name") : entry.end();
    if (!entry.is_object() || n == entry.end() || !n->is_string())
        return bad_request(std::string("each ") + what + " needs a string 'name'");
    return n->get<std::string>();
}

// A config value: strings as they are, other JSON serialized compactly.
std::string config_text(const json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
}

}  // namespace

result<json, response> parse_json_object(std::string_view body) {
    if (body.empty()) return bad_request("A JSON request body is required");
    if (nesting_depth(body, kMaxJsonDepth) > kMaxJsonDepth)
        return bad_request("The request body nests deeper than " + std::to_string(kMaxJsonDepth) +
                           " levels");
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return bad_request("Malformed JSON in the request body");
    if (!j.is_object()) return bad_request("The request body must be a JSON object");
    return j;
}

result<create_topic_body, response> parse_create_topic(const json& body) {
    create_topic_body out;
    auto name = body.find("topic_name");
    if (name == body.end() || !name->is_string())
        return bad_request("'topic_name' (string) is required");
    out.name = name->get<std::string>();
    auto pc = int_field(body, "partitions_count", -1, INT32_MAX,
                        "'partitions_count' must be a positive integer");
    if (!pc) return unexpected_response{pc.error()};
    if (*pc) out.partitions = static_cast<int32_t>(**pc);
    auto rf = int_field(body, "replication_factor", -1, INT16_MAX,
                        "'replication_factor' must be a positive integer");
    if (!rf) return unexpected_response{rf.error()};
    if (*rf) out.replication_factor = static_cast<int16_t>(**rf);
    if (auto cs = body.find("configs"); cs != body.end() && !cs->is_null()) {
        if (!cs->is_array()) return bad_request("'configs' must be an array of {name, value}");
        for (const auto& c : *cs) {
            auto name = entry_name(c, "config");
            if (!name) return unexpected_response{name.error()};
            auto v = c.find("value");
            if (v == c.end() || v->is_null()) continue;
            out.configs.emplace_back(std::move(*name), config_text(*v));
        }
    }
    auto vo = bool_field(body, "validate_only", false);
    if (!vo) return unexpected_response{vo.error()};
    out.validate_only = *vo;
    return out;
}

result<std::vector<config_op>, response> parse_config_ops(const json& ops) {
    if (!ops.is_array()) return bad_request("'data' must be an array of {name, value, operation}");
    std::vector<config_op> out;
    for (const auto& op : ops) {
        auto name = entry_name(op, "entry");
        if (!name) return unexpected_response{name.error()};
        config_op c;
        c.name = std::move(*name);
        std::string operation = "SET";
        if (auto o = op.find("operation"); o != op.end() && !o->is_null()) {
            if (!o->is_string()) return bad_request("'operation' must be SET or DELETE");
            operation = o->get<std::string>();
        }
        for (auto& ch : operation)
            ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        if (operation == "DELETE") {
            c.remove = true;
        } else if (operation == "SET") {
            auto v = op.find("value");
            if (v == op.end() || v->is_null())
                return bad_request("SET of '" + c.name + "' needs a 'value'");
            c.value = config_text(*v);
        } else {
            return bad_request("Unknown operation '" + operation + "' (SET or DELETE)");
        }
        out.push_back(std::move(c));
    }
    return out;
}

result<alter_configs_body, response> parse_alter_configs(const json& body) {
    auto data = body.find("data");
    if (data == body.end() || !data->is_array())
        return bad_request("'data' must be an array of {name, value, operation}");
    auto ops = parse_config_ops(*data);
    if (!ops) return unexpected_response{ops.error()};
    auto vo = bool_field(body, "validate_only", false);
    if (!vo) return unexpected_response{vo.error()};
    return alter_configs_body{std::move(*ops), *vo};
}

result<produce_body, response> parse_produce(const json& body) {
    produce_body out;
    auto field = [&body](const char* name) {
        auto it = body.find(name);
        return it == body.end() ? nullptr : &*it;
    };
    auto key = decode_produce_data(field("key"), "key");
    if (!key) return bad_request(key.error());
    out.key = std::move(*key);
    auto value = decode_produce_data(field("value"), "value");
    if (!value) return bad_request(value.error());
    out.value = std::move(*value);

    if (auto hs = body.find("headers"); hs != body.end() && !hs->is_null()) {
        if (!hs->is_array()) return bad_request("'headers' must be an array");
        for (const auto& h : *hs) {
            auto name = entry_name(h, "header");
            if (!name) return unexpected_response{name.error()};
            protocol::record_header rh;
            rh.key = std::move(*name);
            if (auto v = h.find("value"); v != h.end() && !v->is_null()) {
                if (!v->is_string()) return bad_request("header values must be base64 strings");
                auto bytes = base64_decode(v->get_ref<const std::string&>());
                if (!bytes) return bad_request("header '" + rh.key + "' is not valid base64");
                rh.value = std::move(*bytes);
            }
            out.headers.push_back(std::move(rh));
        }
    }

    if (auto pid = body.find("partition_id"); pid != body.end() && !pid->is_null()) {
        out.partition_text = pid->dump();
        const bool in_range =
            pid->is_number_integer() &&
            !(pid->is_number_unsigned() && pid->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX));
        out.partition_id = in_range ? pid->get<int64_t>() : -1;
    }
    if (auto ts = body.find("timestamp"); ts != body.end() && !ts->is_null()) {
        if (!ts->is_number_integer() ||
            (ts->is_number_unsigned() && ts->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)))
            return bad_request("'timestamp' must be milliseconds since the epoch");
        out.timestamp = ts->get<int64_t>();
    }
    return out;
}

}  // namespace rill::admin
