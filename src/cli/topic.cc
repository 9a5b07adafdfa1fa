#include "cli/topic.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/kafka_client.h"
#include "protocol/generated/create_partitions.h"
#include "protocol/generated/create_topics.h"
#include "protocol/generated/delete_topics.h"
#include "protocol/generated/describe_configs.h"
#include "protocol/generated/error_code.h"
#include "protocol/generated/incremental_alter_configs.h"
#include "protocol/generated/metadata.h"

namespace rill::cli {

namespace {

namespace m = protocol::messages;
using nlohmann::ordered_json;

constexpr int8_t kTopicResource = 2;  // ConfigResource.Type TOPIC
constexpr int8_t kOpSet = 0;          // IncrementalAlterConfigs operations
constexpr int8_t kOpDelete = 1;

// Kafka's ConfigSource names (DescribeConfigs v1+).
std::string config_source_name(int8_t s) {
    switch (s) {
        case 1:
            return "DYNAMIC_TOPIC_CONFIG";
        case 2:
            return "DYNAMIC_BROKER_CONFIG";
        case 3:
            return "DYNAMIC_DEFAULT_BROKER_CONFIG";
        case 4:
            return "STATIC_BROKER_CONFIG";
        case 5:
            return "DEFAULT_CONFIG";
        case 6:
            return "DYNAMIC_BROKER_LOGGER_CONFIG";
        case 7:
            return "CLIENT_METRICS_CONFIG";
        case 8:
            return "GROUP_CONFIG";
        default:
            return "UNKNOWN";
    }
}

// A topic id as Kafka prints it: URL-safe base64 without padding.
std::string topic_id_string(const protocol::uuid& id) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    uint32_t acc = 0;
    int bits = 0;
    for (uint8_t b : id.b) {
        acc = (acc << 8) | b;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += kAlphabet[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
    return out;
}

bool is_zero(const protocol::uuid& id) {
    return std::all_of(id.b.begin(), id.b.end(), [](uint8_t b) { return b == 0; });
}

void check(int16_t code, const std::string& context, const std::optional<std::string>& message) {
    if (code != 0) throw kafka_error(code, context, message.value_or(""));
}

bool under_replicated(
    const m::metadata_response::metadata_response_topic::metadata_response_partition& p) {
    return p.isr_nodes.size() < p.replica_nodes.size();
}

m::metadata_response fetch_metadata(kafka_client& c, const std::vector<std::string>& topics) {
    m::metadata_request req;
    req.allow_auto_topic_creation = false;
    if (!topics.empty()) {
        req.topics.emplace();
        for (const auto& t : topics) {
            m::metadata_request::metadata_request_topic rt;
            rt.name = t;
            req.topics->push_back(rt);
        }
    } else if (c.version_for<m::metadata_request>() == 0) {
        req.topics.emplace();  // v0: an empty list means every topic
    }
    return c.call<m::metadata_response>(req);
}

// The connection for controller-only requests (CreateTopics, DeleteTopics, CreatePartitions):
// the controller named by Metadata, or the bootstrap broker when it is the controller, is not
// listed or cannot be reached (brokers that forward such requests answer them anyway).
kafka_client& admin_connection(kafka_client& bootstrap, std::optional<kafka_client>& holder) {
    m::metadata_request req;
    req.allow_auto_topic_creation = false;
    req.topics.emplace();  // no topics: only brokers and the controller
    if (bootstrap.version_for<m::metadata_request>() == 0) return bootstrap;
    const auto md = bootstrap.call<m::metadata_response>(req);
    for (const auto& b : md.brokers) {
        if (b.node_id != md.controller_id) continue;
        const std::string addr = b.host + ":" + std::to_string(b.port);
        if (addr == bootstrap.address()) return bootstrap;
        try {
            holder.emplace(kafka_client::connect_to(b.host, b.port, bootstrap.timeout_ms()));
            return *holder;
        } catch (const connect_error&) {
            return bootstrap;
        }
    }
    return bootstrap;
}

std::vector<m::describe_configs_response::describe_configs_result> describe_topic_configs(
    kafka_client& c, const std::vector<std::string>& topics) {
    m::describe_configs_request req;
    for (const auto& t : topics) {
        m::describe_configs_request::describe_configs_resource r;
        r.resource_type = kTopicResource;
        r.resource_name = t;
        req.resources.push_back(r);
    }
    if (req.resources.empty()) return {};
    auto resp = c.call<m::describe_configs_response>(req);
    return std::move(resp.results);
}

std::string config_value_text(
    const m::describe_configs_response::describe_configs_result::describe_configs_resource_result&
        cfg) {
    if (cfg.is_sensitive && !cfg.value) return "(sensitive)";
    return cfg.value.value_or("(null)");
}

int8_t config_source(
    const m::describe_configs_response::describe_configs_result::describe_configs_resource_result&
        cfg) {
    // DescribeConfigs v0 has only is_default.
    if (cfg.config_source >= 0) return cfg.config_source;
    return cfg.is_default ? 5 : 1;
}

// ---------------------------------------------------------------------------------- list

int run_list(const global_options& g, bool exclude_internal) {
    auto c = kafka_client::connect(g.bootstrap, g.timeout_ms);
    const auto md = fetch_metadata(c, {});
    std::vector<const m::metadata_response::metadata_response_topic*> topics;
    for (const auto& t : md.topics) {
        if (exclude_internal && t.is_internal) continue;
        topics.push_back(&t);
    }
    std::sort(topics.begin(), topics.end(),
              [](auto* a, auto* b) { return a->name.value_or("") < b->name.value_or(""); });
    if (g.format == output_format::json) {
        ordered_json out = ordered_json::array();
        for (const auto* t : topics) {
            size_t rf = t->partitions.empty() ? 0 : t->partitions.front().replica_nodes.size();
            out.push_back({{"name", t->name.value_or("")},
                           {"topic_id", topic_id_string(t->topic_id)},
                           {"partitions", t->partitions.size()},
                           {"replication_factor", rf},
                           {"internal", t->is_internal}});
        }
        std::cout << out.dump(2) << "\n";
        return exit_ok;
    }
    table tb({"TOPIC", "PARTITIONS", "REPLICATION", "INTERNAL"});
    for (const auto* t : topics) {
        size_t rf = t->partitions.empty() ? 0 : t->partitions.front().replica_nodes.size();
        tb.add({t->name.value_or(""), std::to_string(t->partitions.size()), std::to_string(rf),
                t->is_internal ? "yes" : "no"});
    }
    tb.print(std::cout);
    return exit_ok;
}

// ------------------------------------------------------------------------------ describe

struct describe_options {
    std::vector<std::string> topics;
    bool under_replicated_only = false;
    bool non_default_only = false;
};

int run_describe(const global_options& g, const describe_options& o) {
    auto c = kafka_client::connect(g.bootstrap, g.timeout_ms);
    auto md = fetch_metadata(c, o.topics);
    std::sort(md.topics.begin(), md.topics.end(), [](const auto& a, const auto& b) {
        return a.name.value_or("") < b.name.value_or("");
    });
    std::vector<std::string> names;
    for (const auto& t : md.topics) {
        check(t.error_code, "topic '" + t.name.value_or("") + "'", std::nullopt);
        names.push_back(t.name.value_or(""));
    }
    std::map<std::string, m::describe_configs_response::describe_configs_result> configs;
    for (auto& r : describe_topic_configs(c, names)) {
        check(r.error_code, "configs of topic '" + r.resource_name + "'", r.error_message);
        std::sort(r.configs.begin(), r.configs.end(),
                  [](const auto& a, const auto& b) { return a.name < b.name; });
        configs[r.resource_name] = std::move(r);
    }
    auto keep_config = [&](const auto& cfg) {
        const int8_t s = config_source(cfg);
        return !o.non_default_only || (s != 5 && s != 0);
    };
    if (g.format == output_format::json) {
        ordered_json out = ordered_json::array();
        for (auto& t : md.topics) {
            std::sort(t.partitions.begin(), t.partitions.end(), [](const auto& a, const auto& b) {
                return a.partition_index < b.partition_index;
            });
            ordered_json parts = ordered_json::array();
            for (const auto& p : t.partitions) {
                if (o.under_replicated_only && !under_replicated(p)) continue;
                ordered_json jp = {{"partition", p.partition_index},
                                   {"leader", p.leader_id},
                                   {"leader_epoch", p.leader_epoch},
                                   {"replicas", p.replica_nodes},
                                   {"isr", p.isr_nodes},
                                   {"offline_replicas", p.offline_replicas},
                                   {"under_replicated", under_replicated(p)}};
                if (p.error_code != 0)
                    jp["error"] =
                        protocol::error_name(static_cast<protocol::error_code>(p.error_code));
                parts.push_back(std::move(jp));
            }
            ordered_json cfgs = ordered_json::array();
            for (const auto& cfg : configs[t.name.value_or("")].configs) {
                if (!keep_config(cfg)) continue;
                cfgs.push_back({{"name", cfg.name},
                                {"value", cfg.value ? ordered_json(*cfg.value) : ordered_json()},
                                {"source", config_source_name(config_source(cfg))},
                                {"read_only", cfg.read_only},
                                {"sensitive", cfg.is_sensitive}});
            }
            size_t rf = t.partitions.empty() ? 0 : t.partitions.front().replica_nodes.size();
            out.push_back({{"name", t.name.value_or("")},
                           {"topic_id", topic_id_string(t.topic_id)},
                           {"internal", t.is_internal},
                           {"partition_count", t.partitions.size()},
                           {"replication_factor", rf},
                           {"partitions", std::move(parts)},
                           {"configs", std::move(cfgs)}});
        }
        std::cout << out.dump(2) << "\n";
        return exit_ok;
    }
    bool first = true;
    for (auto& t : md.topics) {
        std::sort(t.partitions.begin(), t.partitions.end(), [](const auto& a, const auto& b) {
            return a.partition_index < b.partition_index;
        });
        if (!first) std::cout << "\n";
        first = false;
        size_t rf = t.partitions.empty() ? 0 : t.partitions.front().replica_nodes.size();
        std::cout << "Topic: " << t.name.value_or("")
                  << "\tTopicId: " << (is_zero(t.topic_id) ? "-" : topic_id_string(t.topic_id))
                  << "\tPartitions: " << t.partitions.size() << "\tReplicationFactor: " << rf
                  << (t.is_internal ? "\tInternal: yes" : "") << "\n\n";
        table parts({"PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE", "UNDER-REPLICATED"});
        for (const auto& p : t.partitions) {
            if (o.under_replicated_only && !under_replicated(p)) continue;
            parts.add({std::to_string(p.partition_index),
                       p.leader_id < 0 ? "none" : std::to_string(p.leader_id),
                       join_ints(p.replica_nodes), join_ints(p.isr_nodes),
                       p.offline_replicas.empty() ? "-" : join_ints(p.offline_replicas),
                       under_replicated(p) ? "yes" : "no"});
        }
        parts.print(std::cout);
        table cfgs({"CONFIG", "VALUE", "SOURCE"});
        for (const auto& cfg : configs[t.name.value_or("")].configs)
            if (keep_config(cfg))
                cfgs.add(
                    {cfg.name, config_value_text(cfg), config_source_name(config_source(cfg))});
        std::cout << "\n";
        cfgs.print(std::cout);
    }
    return exit_ok;
}

// -------------------------------------------------------------------------------- create

struct create_options {
    std::string topic;
    int32_t partitions = -1;
    int16_t replication_factor = -1;
    std::vector<std::string> configs;
    bool if_not_exists = false;
};

int run_create(const global_options& g, const create_options& o) {
    m::create_topics_request req;
    req.timeout_ms = g.timeout_ms;
    m::create_topics_request::creatable_topic t;
    t.name = o.topic;
    t.num_partitions = o.partitions;
    t.replication_factor = o.replication_factor;
    for (const auto& kv : o.configs) {
        auto [k, v] = split_key_value(kv);
        t.configs.push_back({k, v});
    }
    req.topics.push_back(std::move(t));
    auto boot = kafka_client::connect(g.bootstrap, g.timeout_ms);
    std::optional<kafka_client> holder;
    auto& c = admin_connection(boot, holder);
    if (c.version_for<m::create_topics_request>() < 4 &&
        (o.partitions < 0 || o.replication_factor < 0))
        throw std::invalid_argument("this broker needs --partitions and --replication-factor");
    const auto resp = c.call<m::create_topics_response>(req);
    if (resp.topics.size() != 1) throw kafka_error(-1, "CreateTopics", "expected one topic result");
    const auto& r = resp.topics.front();
    const bool existed =
        r.error_code == static_cast<int16_t>(protocol::error_code::topic_already_exists);
    if (!(existed && o.if_not_exists))
        check(r.error_code, "topic '" + o.topic + "'", r.error_message);
    if (g.format == output_format::json) {
        ordered_json out = {{"name", r.name}, {"created", !existed}};
        if (!existed) {
            out["topic_id"] = topic_id_string(r.topic_id);
            // CreateTopics before v5 does not echo the counts: the requested ones (-1: the
            // broker's default, unknown here).
            out["partitions"] = r.num_partitions >= 0 ? r.num_partitions : o.partitions;
            out["replication_factor"] =
                r.replication_factor >= 0 ? r.replication_factor : o.replication_factor;
        }
        std::cout << out.dump(2) << "\n";
    } else if (existed) {
        std::cout << "Topic " << o.topic << " already exists.\n";
    } else {
        std::cout << "Created topic " << o.topic << ".\n";
    }
    return exit_ok;
}

// -------------------------------------------------------------------------------- delete

int run_delete(const global_options& g, const std::vector<std::string>& topics, bool if_exists) {
    auto boot = kafka_client::connect(g.bootstrap, g.timeout_ms);
    std::optional<kafka_client> holder;
    auto& c = admin_connection(boot, holder);
    m::delete_topics_request req;
    req.timeout_ms = g.timeout_ms;
    // v6 names topics in `topics` (name or id); earlier versions in `topic_names`.
    if (c.version_for<m::delete_topics_request>() >= 6) {
        for (const auto& t : topics) {
            m::delete_topics_request::delete_topic_state s;
            s.name = t;
            req.topics.push_back(s);
        }
    } else {
        req.topic_names = topics;
    }
    const auto resp = c.call<m::delete_topics_response>(req);
    ordered_json out = ordered_json::array();
    const auto unknown = static_cast<int16_t>(protocol::error_code::unknown_topic_or_partition);
    for (const auto& r : resp.responses) {
        const std::string name = r.name.value_or(topic_id_string(r.topic_id));
        const bool missing = r.error_code == unknown;
        if (!(missing && if_exists)) check(r.error_code, "topic '" + name + "'", r.error_message);
        if (g.format == output_format::json)
            out.push_back({{"name", name}, {"deleted", !missing}});
        else
            std::cout << (missing ? "Topic " + name + " does not exist."
                                  : "Deleted topic " + name + ".")
                      << "\n";
    }
    if (g.format == output_format::json) std::cout << out.dump(2) << "\n";
    return exit_ok;
}

// -------------------------------------------------------------------------- alter-config

int run_alter_config(const global_options& g, const std::string& topic,
                     const std::vector<std::string>& sets,
                     const std::vector<std::string>& deletes) {
    if (sets.empty() && deletes.empty())
        throw std::invalid_argument("give at least one --set key=value or --delete key");
    m::incremental_alter_configs_request req;
    m::incremental_alter_configs_request::alter_configs_resource res;
    res.resource_type = kTopicResource;
    res.resource_name = topic;
    std::set<std::string> seen;
    auto add = [&](const std::string& k, int8_t op, std::optional<std::string> v) {
        if (!seen.insert(k).second)
            throw std::invalid_argument("config '" + k + "' given more than once");
        res.configs.push_back({k, op, std::move(v)});
    };
    for (const auto& kv : sets) {
        auto [k, v] = split_key_value(kv);
        add(k, kOpSet, v);
    }
    for (const auto& k : deletes) {
        if (k.empty() || k.find('=') != std::string::npos)
            throw std::invalid_argument("--delete takes a config name, got '" + k + "'");
        add(k, kOpDelete, std::nullopt);
    }
    req.resources.push_back(std::move(res));
    auto c = kafka_client::connect(g.bootstrap, g.timeout_ms);
    const auto resp = c.call<m::incremental_alter_configs_response>(req);
    for (const auto& r : resp.responses)
        check(r.error_code, "configs of topic '" + r.resource_name + "'", r.error_message);
    if (g.format == output_format::json) {
        ordered_json set_j = ordered_json::object();
        for (const auto& kv : sets) {
            auto [k, v] = split_key_value(kv);
            set_j[k] = v;
        }
        std::cout << ordered_json{{"name", topic}, {"set", set_j}, {"deleted", deletes}}.dump(2)
                  << "\n";
    } else {
        std::cout << "Updated configs of topic " << topic << ".\n";
    }
    return exit_ok;
}

// ------------------------------------------------------------------------ add-partitions

int run_add_partitions(const global_options& g, const std::string& topic, int32_t count) {
    auto boot = kafka_client::connect(g.bootstrap, g.timeout_ms);
    std::optional<kafka_client> holder;
    auto& c = admin_connection(boot, holder);
    m::create_partitions_request req;
    req.timeout_ms = g.timeout_ms;
    m::create_partitions_request::create_partitions_topic t;
    t.name = topic;
    t.count = count;
    req.topics.push_back(std::move(t));
    const auto resp = c.call<m::create_partitions_response>(req);
    for (const auto& r : resp.results)
        check(r.error_code, "topic '" + r.name + "'", r.error_message);
    if (g.format == output_format::json)
        std::cout << ordered_json{{"name", topic}, {"partitions", count}}.dump(2) << "\n";
    else
        std::cout << "Topic " << topic << " now has " << count << " partitions.\n";
    return exit_ok;
}

}  // namespace

void add_topic_commands(CLI::App& app, const global_options& g, std::function<int()>& action) {
    auto* topic = app.add_subcommand("topic",
                                     "list, describe, create, delete and alter topics "
                                     "(kafka-topics.sh, kafka-configs.sh for topics)");
    topic->require_subcommand(1);
    topic->fallthrough();

    auto* list = topic->add_subcommand("list", "list the topics with partition counts");
    auto exclude_internal = std::make_shared<bool>(false);
    list->add_flag("--exclude-internal", *exclude_internal, "leave out internal topics");
    list->callback([&g, &action, exclude_internal] {
        action = [&g, exclude_internal] { return run_list(g, *exclude_internal); };
    });

    auto* describe = topic->add_subcommand(
        "describe",
        "partitions (leader, replicas, ISR, offline, under-replicated) and configs "
        "with their sources; every topic when none is named");
    auto d = std::make_shared<describe_options>();
    describe->add_option("topics", d->topics, "topic names");
    describe->add_flag("--under-replicated", d->under_replicated_only,
                       "only partitions whose ISR is smaller than their replica set");
    describe->add_flag("--non-default", d->non_default_only, "only configs not at their default");
    describe->callback([&g, &action, d] { action = [&g, d] { return run_describe(g, *d); }; });

    auto* create = topic->add_subcommand("create", "create a topic");
    auto co = std::make_shared<create_options>();
    create->add_option("topic", co->topic, "topic name")->required();
    create
        ->add_option("-p,--partitions", co->partitions,
                     "partition count (default: the broker's num.partitions)")
        ->check(CLI::Range(1, 1000000));
    create
        ->add_option("-r,--replication-factor", co->replication_factor,
                     "replicas per partition (default: the broker's default.replication.factor)")
        ->check(CLI::Range(1, 32767));
    create->add_option("-c,--config", co->configs, "topic config key=value (repeatable)");
    create->add_flag("--if-not-exists", co->if_not_exists, "succeed when the topic exists");
    create->callback([&g, &action, co] { action = [&g, co] { return run_create(g, *co); }; });

    auto* del = topic->add_subcommand("delete", "delete topics");
    auto del_topics = std::make_shared<std::vector<std::string>>();
    auto if_exists = std::make_shared<bool>(false);
    del->add_option("topics", *del_topics, "topic names")->required();
    del->add_flag("--if-exists", *if_exists, "succeed when a topic does not exist");
    del->callback([&g, &action, del_topics, if_exists] {
        action = [&g, del_topics, if_exists] { return run_delete(g, *del_topics, *if_exists); };
    });

    auto* alter = topic->add_subcommand(
        "alter-config",
        "set or delete topic configs (kafka-configs.sh --alter --entity-type topics)");
    auto at = std::make_shared<std::string>();
    auto sets = std::make_shared<std::vector<std::string>>();
    auto deletes = std::make_shared<std::vector<std::string>>();
    alter->add_option("topic", *at, "topic name")->required();
    alter->add_option("--set", *sets, "key=value to set (repeatable)");
    alter->add_option("--delete", *deletes, "config to return to its default (repeatable)");
    alter->callback([&g, &action, at, sets, deletes] {
        action = [&g, at, sets, deletes] { return run_alter_config(g, *at, *sets, *deletes); };
    });

    auto* addp = topic->add_subcommand(
        "add-partitions", "raise a topic's partition count (kafka-topics.sh --alter --partitions)");
    auto ap_topic = std::make_shared<std::string>();
    auto ap_count = std::make_shared<int32_t>(0);
    addp->add_option("topic", *ap_topic, "topic name")->required();
    addp->add_option("-p,--partitions", *ap_count, "the new total partition count")
        ->required()
        ->check(CLI::Range(1, 1000000));
    addp->callback([&g, &action, ap_topic, ap_count] {
        action = [&g, ap_topic, ap_count] { return run_add_partitions(g, *ap_topic, *ap_count); };
    });
}

}  // namespace rill::cli
