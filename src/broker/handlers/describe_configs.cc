#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/configs.h"
#include "broker/handlers/handlers.h"
#include "common/group_config.h"

namespace rill::broker {
namespace {

using result_t = m::describe_configs_response::describe_configs_result;
using entry_t = result_t::describe_configs_resource_result;

bool wanted(const std::optional<std::vector<std::string>>& keys, std::string_view name) {
    if (!keys) return true;
    for (const auto& k : *keys)
        if (k == name) return true;
    return false;
}

}  // namespace

// Every config with its value, source, synonyms (v1+), type and documentation (v3+).
task<m::describe_configs_response> handle_describe_configs(request_context& ctx,
                                                           m::describe_configs_request& req) {
    m::describe_configs_response resp;
    const int16_t v = ctx.api_version;
    auto snap = ctx.b.metadata().snapshot();
    for (const auto& res : req.resources) {
        result_t out;
        out.resource_type = res.resource_type;
        out.resource_name = res.resource_name;
        if (res.resource_type == kResourceTopic) {
            const cluster::topic_info* t = snap->find_topic(res.resource_name);
            if (!t) {
                out.error_code = wire(error_code::unknown_topic_or_partition);
                out.error_message = "Topic " + res.resource_name + " does not exist.";
                resp.results.push_back(std::move(out));
                continue;
            }
            for (const auto& e : describe_topic_config(t->configs, ctx.b.config())) {
                if (!wanted(res.configuration_keys, e.name)) continue;
                entry_t c;
                c.name = e.name;
                c.value = e.sensitive ? std::nullopt : e.value;
                c.read_only = e.read_only;
                c.is_default = e.source == config_source::default_config;
                c.config_source = static_cast<int8_t>(e.source);
                c.is_sensitive = e.sensitive;
                if (v >= 1 && req.include_synonyms)
                    for (const auto& s : e.synonyms)
                        c.synonyms.push_back({s.name, e.sensitive ? std::nullopt : s.value,
                                              static_cast<int8_t>(s.source)});
                if (const auto* def = find_topic_config(e.name)) {
                    c.config_type = wire_config_type(def->type);
                    if (req.include_documentation) c.documentation = std::string(def->doc);
                }
                out.configs.push_back(std::move(c));
            }
        } else if (res.resource_type == kResourceBroker) {
            if (!res.resource_name.empty() &&
                res.resource_name != std::to_string(ctx.b.node_id())) {
                out.error_code = wire(error_code::invalid_request);
                out.error_message = "Unexpected broker id " + res.resource_name;
                resp.results.push_back(std::move(out));
                continue;
            }
            const auto& cfg = ctx.b.config();
            for (const auto& def : broker_config_defs()) {
                if (!wanted(res.configuration_keys, def.name)) continue;
                entry_t c;
                c.name = std::string(def.name);
                c.is_sensitive = def.sensitive;
                c.value = def.sensitive ? std::nullopt : cfg.get(def.name);
                c.read_only = def.read_only;
                auto src = cfg.source(def.name);
                c.is_default = src == config_source::default_config;
                c.config_source = static_cast<int8_t>(src);
                if (v >= 1 && req.include_synonyms && src != config_source::default_config)
                    c.synonyms.push_back({c.name, c.value, static_cast<int8_t>(src)});
                if (v >= 1 && req.include_synonyms && def.default_value)
                    c.synonyms.push_back({c.name,
                                          def.sensitive ? std::nullopt
                                                        : std::optional<std::string>(
                                                              std::string(*def.default_value)),
                                          static_cast<int8_t>(config_source::default_config)});
                c.config_type = wire_config_type(def.type);
                if (req.include_documentation) c.documentation = std::string(def.doc);
                out.configs.push_back(std::move(c));
            }
        } else if (res.resource_type == kResourceGroup) {
            // Group configs (KIP-848): both keys, whether or not the group exists yet.
            if (res.resource_name.empty()) {
                out.error_code = wire(error_code::invalid_request);
                out.error_message = "A group resource needs a group id";
                resp.results.push_back(std::move(out));
                continue;
            }
            auto it = snap->group_configs.find(res.resource_name);
            const config_values* overrides =
                it == snap->group_configs.end() ? nullptr : &it->second;
            const auto& cfg = ctx.b.config();
            for (const auto& e : describe_group_config(overrides, cfg)) {
                if (!wanted(res.configuration_keys, e.name)) continue;
                entry_t c;
                c.name = e.name;
                c.value = e.value;
                c.is_default = e.source == config_source::default_config;
                c.config_source = static_cast<int8_t>(e.source);
                if (v >= 1 && req.include_synonyms) {
                    if (e.source != config_source::default_config)
                        c.synonyms.push_back({e.name, e.value, static_cast<int8_t>(e.source)});
                    c.synonyms.push_back({e.name, std::to_string(cfg.get_int(e.name)),
                                          static_cast<int8_t>(cfg.source(e.name))});
                }
                c.config_type = wire_config_type(config_type::int32);
                if (req.include_documentation)
                    if (const auto* def = find_group_config(e.name))
                        c.documentation = std::string(def->doc);
                out.configs.push_back(std::move(c));
            }
        } else {
            out.error_code = wire(error_code::invalid_request);
            out.error_message = "Unsupported resource type " + std::to_string(res.resource_type);
        }
        resp.results.push_back(std::move(out));
    }
    co_return resp;
}

}  // namespace rill::broker
