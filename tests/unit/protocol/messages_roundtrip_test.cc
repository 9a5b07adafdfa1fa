// Round trip of every generated message type at every valid version: populate every field
// valid in the version (tagged fields, nullable fields null and set, nested arrays), encode,
// decode, re-encode, and compare.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "protocol/generated/api.h"
#include "protocol/generated/testing/populate.h"

namespace rill::protocol::messages {
namespace {

using testing::all_message_cases;
using testing::message_case;
using testing::message_kind;

constexpr uint64_t seeds_per_version = 32;

void check_roundtrip(const message_case& c, int16_t version, uint64_t seed) {
    SCOPED_TRACE(std::string(c.name) + " v" + std::to_string(version) + " seed " +
                 std::to_string(seed));
    const auto res = c.roundtrip(version, seed);
    EXPECT_EQ(res.reported_size, res.first.size());
    EXPECT_TRUE(res.decode_ok);
    EXPECT_EQ(res.consumed, res.first.size());
    EXPECT_TRUE(res.equal);
    EXPECT_EQ(res.second, res.first);
}

TEST(messages_roundtrip, every_message_type_every_version) {
    size_t pairs = 0;
    for (const auto& c : all_message_cases()) {
        for (int16_t v = c.min_version; v <= c.max_version; ++v) {
            for (uint64_t seed = 0; seed < seeds_per_version; ++seed)
                check_roundtrip(c, v, seed * 7919 + static_cast<uint64_t>(v));
            ++pairs;
        }
    }
    EXPECT_EQ(pairs, 720u);  // (type, version) pairs over all 222 spec files
}

TEST(messages_roundtrip, covers_every_spec_file_and_api_version) {
    // The generator counted what it read; the registry and the api table must match it.
    EXPECT_EQ(all_message_cases().size(), testing::spec_message_count);
    EXPECT_EQ(all_apis().size(), testing::spec_api_count);

    std::map<int16_t, std::pair<const message_case*, const message_case*>> by_key;
    std::set<std::string_view> names;
    for (const auto& c : all_message_cases()) {
        EXPECT_TRUE(names.insert(c.name).second) << c.name;
        if (c.kind == message_kind::request) by_key[c.api_key].first = &c;
        if (c.kind == message_kind::response) by_key[c.api_key].second = &c;
    }
    size_t api_versions = 0;
    for (const auto& a : all_apis()) {
        ASSERT_EQ(find_api(a.key), &a);
        auto [req, resp] = by_key[a.key];
        ASSERT_NE(req, nullptr) << a.name;
        ASSERT_NE(resp, nullptr) << a.name;
        EXPECT_EQ(req->min_version, a.min_version);
        EXPECT_EQ(req->max_version, a.max_version);
        EXPECT_EQ(resp->min_version, a.min_version);
        EXPECT_EQ(resp->max_version, a.max_version);
        EXPECT_EQ(req->first_flexible_version, a.first_flexible_version);
        api_versions += static_cast<size_t>(a.max_version - a.min_version + 1);
    }
    EXPECT_EQ(by_key.size(), all_apis().size());
    EXPECT_EQ(api_versions, testing::spec_api_version_count);
    EXPECT_EQ(api_versions, 327u);
    EXPECT_EQ(all_apis().size(), 88u);
    EXPECT_EQ(all_message_cases().size(), 222u);
}

}  // namespace
}  // namespace rill::protocol::messages
