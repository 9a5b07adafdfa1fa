#include "common/config.h"

#include <gtest/gtest.h>

namespace rill {
namespace {

TEST(properties, parses_comments_separators_and_continuations) {
    auto r = parse_properties(
        "# comment\n! also a comment\n\nlisteners = PLAINTEXT://a:1\nlog.dirs: /x,\\\n  /y\n"
        "  num.partitions=3  \n");
    ASSERT_TRUE(r);
    EXPECT_EQ(*r->get("listeners"), "PLAINTEXT://a:1");
    EXPECT_EQ(*r->get("log.dirs"), "/x,/y");
    EXPECT_EQ(*r->get("num.partitions"), "3");
}

TEST(properties, line_without_separator_names_the_line) {
    auto r = parse_properties("a=1\nthis is wrong\n");
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("line 2"), std::string::npos);
}

TEST(broker_config, defaults_overrides_and_unknown_keys) {
    config_values v;
    v.set("num.partitions", "4");
    v.set("no.such.key", "1");
    std::vector<std::string> unknown;
    auto c = broker_config::make(v, &unknown);
    ASSERT_TRUE(c);
    EXPECT_EQ(c->get_int("num.partitions"), 4);
    EXPECT_EQ(c->get_int("log.segment.bytes"), 1073741824);
    EXPECT_EQ(c->source("num.partitions"), config_source::static_broker);
    EXPECT_EQ(c->source("log.segment.bytes"), config_source::default_config);
    EXPECT_EQ(unknown, std::vector<std::string>{"no.such.key"});
    EXPECT_EQ(c->log_retention_ms(), 168LL * 3600 * 1000);
}

TEST(broker_config, invalid_values_are_refused_with_a_message) {
    for (auto [k, val] :
         std::vector<std::pair<std::string, std::string>>{{"num.partitions", "zero"},
                                                          {"num.partitions", "0"},
                                                          {"auto.create.topics.enable", "yes"},
                                                          {"log.cleanup.policy", "delete,shred"},
                                                          {"message.max.bytes", "99999999999"}}) {
        config_values v;
        v.set(k, val);
        auto c = broker_config::make(v);
        ASSERT_FALSE(c) << k << "=" << val;
        EXPECT_NE(c.error().find(k), std::string::npos) << c.error();
    }
}

TEST(broker_config, dynamic_values_override_static_and_respect_read_only) {
    auto c = broker_config::make({});
    ASSERT_TRUE(c);
    EXPECT_TRUE(c->set_dynamic("log.retention.ms", "1000"));
    EXPECT_EQ(c->log_retention_ms(), 1000);
    EXPECT_EQ(c->source("log.retention.ms"), config_source::dynamic_default_broker);
    EXPECT_FALSE(c->set_dynamic("broker.id", "3"));         // read-only
    EXPECT_FALSE(c->set_dynamic("log.retention.ms", "x"));  // invalid
    c->erase_dynamic("log.retention.ms");
    EXPECT_EQ(c->log_retention_ms(), 168LL * 3600 * 1000);
}

TEST(topic_config, resolves_override_then_broker_synonym_then_default) {
    config_values b;
    b.set("log.retention.hours", "2");
    auto broker = broker_config::make(b);
    ASSERT_TRUE(broker);
    config_values none;
    EXPECT_EQ(topic_config_value("retention.ms", none, *broker), "7200000");
    EXPECT_EQ(topic_config_value("segment.bytes", none, *broker), "1073741824");
    config_values over;
    over.set("retention.ms", "5");
    EXPECT_EQ(topic_config_value("retention.ms", over, *broker), "5");

    auto entries = describe_topic_config(over, *broker);
    const topic_config_entry* retention = nullptr;
    for (const auto& e : entries)
        if (e.name == "retention.ms") retention = &e;
    ASSERT_NE(retention, nullptr);
    EXPECT_EQ(retention->value, "5");
    EXPECT_EQ(retention->source, config_source::dynamic_topic);
    ASSERT_GE(retention->synonyms.size(), 3u);
    EXPECT_EQ(retention->synonyms[0].name, "retention.ms");
    EXPECT_EQ(retention->synonyms[1].name, "log.retention.hours");
    EXPECT_EQ(retention->synonyms[1].source, config_source::static_broker);
    EXPECT_EQ(retention->synonyms.back().source, config_source::default_config);
}

TEST(topic_config, downconversion_and_deprecated_message_format_version) {
    config_values b;
    b.set("log.message.downconversion.enable", "false");
    b.set("log.message.format.version", "2.8-IV1");
    b.set("max.incremental.fetch.session.cache.slots", "5");
    std::vector<std::string> unknown;
    auto broker = broker_config::make(b, &unknown);
    ASSERT_TRUE(broker);
    EXPECT_TRUE(unknown.empty());
    EXPECT_EQ(broker->get_int("max.incremental.fetch.session.cache.slots"), 5);
    config_values none;
    EXPECT_EQ(topic_config_value("message.downconversion.enable", none, *broker), "false");
    EXPECT_EQ(topic_config_value("message.format.version", none, *broker), "2.8-IV1");
    config_values over;
    over.set("message.format.version", "0.10.2");
    over.set("message.downconversion.enable", "true");
    EXPECT_TRUE(validate_topic_configs(over));
    EXPECT_EQ(topic_config_value("message.format.version", over, *broker), "0.10.2");
    EXPECT_EQ(topic_config_value("message.downconversion.enable", over, *broker), "true");
    EXPECT_EQ(
        topic_config_value("message.format.version", none, *broker_config::make(config_values{})),
        "3.0-IV1");
}

}  // namespace
}  // namespace rill
