#include <algorithm>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/configs.h"
#include "broker/handlers/handlers.h"
#include "common/group_config.h"

namespace rill::broker {
namespace {

struct outcome {
    error_code code = error_code::none;
    std::optional<std::string> message;
};

outcome from_meta(const cluster::meta_error& e) {
    return {to_error_code(e.code), e.message};
}

// Applies a full set of topic overrides (after validation by the metadata store), off the
// shard (broker::store_write).
task<outcome> apply_topic(request_context& ctx, const std::string& topic, const config_values& next,
                          bool validate_only) {
    auto write = [&] { return ctx.b.metadata().set_topic_configs(topic, next, validate_only); };
    auto op = ctx.b.store_write(write);
    auto r = co_await std::move(op);
    co_return r ? outcome{} : from_meta(r.error());
}

// Broker configs: only dynamic (non read-only) keys may change; both the cluster default ("")
// and this broker's id are accepted on a single node.
outcome check_broker_resource(request_context& ctx, const std::string& name) {
    if (!name.empty() && name != std::to_string(ctx.b.node_id()))
        return {error_code::invalid_request, "Unexpected broker id " + name};
    return {};
}

// Group configs (KIP-848): SET and DELETE of the keys in common/group_config.h, each SET within
// the broker's bounds. The read-modify-write runs on the metadata thread (store_write), so
// two changes of the same group on this broker do not lose one another.
task<outcome> alter_group(request_context& ctx,
                          const m::incremental_alter_configs_request::alter_configs_resource& res,
                          bool validate_only) {
    if (res.resource_name.empty())
        co_return outcome{error_code::invalid_request, "A group resource needs a group id"};
    for (const auto& c : res.configs) {
        if (!find_group_config(c.name))
            co_return outcome{error_code::invalid_config, "Unknown group config name: " + c.name};
        if (c.config_operation == 0) {
            if (!c.value)
                co_return outcome{error_code::invalid_config, "A null value for " + c.name};
            if (auto r = validate_group_config(c.name, *c.value, ctx.b.config()); !r)
                co_return outcome{error_code::invalid_config, r.error()};
        } else if (c.config_operation == 2 || c.config_operation == 3) {
            co_return outcome{error_code::invalid_config,
                              "APPEND/SUBTRACT need a list config: " + c.name};
        } else if (c.config_operation != 1) {
            co_return outcome{error_code::invalid_request,
                              "Unknown config operation " + std::to_string(c.config_operation)};
        }
    }
    auto write = [&]() -> outcome {
        auto snap = ctx.b.metadata().snapshot();
        config_values next;
        if (auto it = snap->group_configs.find(res.resource_name); it != snap->group_configs.end())
            next = it->second;
        for (const auto& c : res.configs) {
            if (c.config_operation == 0)
                next.set(c.name, *c.value);
            else
                next.erase(c.name);
        }
        const auto& cfg = ctx.b.config();
        const int64_t session = group_config_int("group.consumer.session.timeout.ms", &next, cfg);
        const int64_t interval =
            group_config_int("group.consumer.heartbeat.interval.ms", &next, cfg);
        if (interval >= session)
            return {error_code::invalid_config,
                    "group.consumer.heartbeat.interval.ms (" + std::to_string(interval) +
                        ") must be less than group.consumer.session.timeout.ms (" +
                        std::to_string(session) + ")"};
        if (validate_only) return {};
        auto r = ctx.b.metadata().set_group_configs(res.resource_name, next);
        return r ? outcome{} : from_meta(r.error());
    };
    auto op = ctx.b.store_write(write);
    co_return co_await std::move(op);
}

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t c = s.find(',', start);
        if (c == std::string::npos) c = s.size();
        if (c > start) out.push_back(s.substr(start, c - start));
        start = c + 1;
    }
    return out;
}

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i)
        s += (i ? "," : "") + v[i];
    return s;
}

}  // namespace

// AlterConfigs replaces a resource's whole set of overrides: keys not named are reset.
task<m::alter_configs_response> handle_alter_configs(request_context& ctx,
                                                     m::alter_configs_request& req) {
    m::alter_configs_response resp;
    for (const auto& res : req.resources) {
        outcome o;
        if (res.resource_type == kResourceTopic) {
            config_values next;
            for (const auto& c : res.configs)
                if (c.value) next.set(c.name, *c.value);
            auto op = apply_topic(ctx, res.resource_name, next, req.validate_only);
            o = co_await std::move(op);
        } else if (res.resource_type == kResourceBroker) {
            o = check_broker_resource(ctx, res.resource_name);
            auto& cfg = ctx.b.config();
            broker_config trial = cfg;
            for (const auto& [k, _] : cfg.dynamic_values().all())
                trial.erase_dynamic(k);
            for (const auto& c : res.configs) {
                if (o.code != error_code::none) break;
                if (!c.value) continue;
                if (auto r = trial.set_dynamic(c.name, *c.value); !r)
                    o = {error_code::invalid_config, r.error()};
            }
            if (o.code == error_code::none && !req.validate_only)
                cfg.replace_dynamic(trial.dynamic_values());
        } else {
            o = {error_code::invalid_request, "Unsupported resource type"};
        }
        resp.responses.push_back({wire(o.code), o.message, res.resource_type, res.resource_name});
    }
    co_return resp;
}

// IncrementalAlterConfigs: SET (0), DELETE (1), APPEND (2) and SUBTRACT (3) on single keys.
task<m::incremental_alter_configs_response> handle_incremental_alter_configs(
    request_context& ctx, m::incremental_alter_configs_request& req) {
    m::incremental_alter_configs_response resp;
    auto snap = ctx.b.metadata().snapshot();
    for (const auto& res : req.resources) {
        outcome o;
        if (res.resource_type == kResourceTopic) {
            const cluster::topic_info* t = snap->find_topic(res.resource_name);
            if (!t) {
                o = {error_code::unknown_topic_or_partition, "Unknown topic " + res.resource_name};
            } else {
                config_values next = t->configs;
                for (const auto& c : res.configs) {
                    const config_def* def = find_topic_config(c.name);
                    if (!def) {
                        o = {error_code::invalid_config, "Unknown topic config name: " + c.name};
                        break;
                    }
                    auto cur = topic_config_value(c.name, next, ctx.b.config());
                    switch (c.config_operation) {
                        case 0:
                            if (c.value) next.set(c.name, *c.value);
                            break;
                        case 1:
                            next.erase(c.name);
                            break;
                        case 2:
                        case 3: {
                            if (def->type != config_type::list) {
                                o = {error_code::invalid_config,
                                     "APPEND/SUBTRACT need a list config: " + c.name};
                                break;
                            }
                            auto items = split(cur.value_or(""));
                            for (const auto& item : split(c.value.value_or(""))) {
                                auto it = std::find(items.begin(), items.end(), item);
                                if (c.config_operation == 2 && it == items.end())
                                    items.push_back(item);
                                if (c.config_operation == 3 && it != items.end()) items.erase(it);
                            }
                            next.set(c.name, join(items));
                            break;
                        }
                        default:
                            o = {error_code::invalid_request,
                                 "Unknown config operation " + std::to_string(c.config_operation)};
                    }
                    if (o.code != error_code::none) break;
                }
                if (o.code == error_code::none) {
                    auto op = apply_topic(ctx, res.resource_name, next, req.validate_only);
                    o = co_await std::move(op);
                }
            }
        } else if (res.resource_type == kResourceBroker) {
            o = check_broker_resource(ctx, res.resource_name);
            auto& cfg = ctx.b.config();
            broker_config trial = cfg;
            for (const auto& c : res.configs) {
                if (o.code != error_code::none) break;
                if (c.config_operation == 1) {
                    trial.erase_dynamic(c.name);
                } else if (c.config_operation == 0 && c.value) {
                    if (auto r = trial.set_dynamic(c.name, *c.value); !r)
                        o = {error_code::invalid_config, r.error()};
                } else {
                    o = {error_code::invalid_request, "Unsupported operation on broker config"};
                }
            }
            if (o.code == error_code::none && !req.validate_only)
                cfg.replace_dynamic(trial.dynamic_values());
        } else if (res.resource_type == kResourceGroup) {
            auto op = alter_group(ctx, res, req.validate_only);
            o = co_await std::move(op);
        } else if (res.resource_type == kResourceBrokerLogger) {
            o = {error_code::invalid_request, "Use the admin endpoint to change log levels"};
        } else {
            o = {error_code::invalid_request, "Unsupported resource type"};
        }
        resp.responses.push_back({wire(o.code), o.message, res.resource_type, res.resource_name});
    }
    co_return resp;
}

}  // namespace rill::broker
