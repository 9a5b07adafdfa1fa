// The records of `__consumer_offsets`, in Kafka's own schemas so Kafka tooling can read the
// topic: every key and value is an int16 schema version followed by the versioned struct
// (internal/OffsetCommitKey, OffsetCommitValue, GroupMetadataKey, GroupMetadataValue).
//
//   key version 0/1: OffsetCommitKey {group, topic, partition}; value OffsetCommitValue
//   key version 2:   GroupMetadataKey {group};                  value GroupMetadataValue
//   a null value is a tombstone (offset deleted / group deleted)
//
// Key versions 3+ (KIP-848 and share-group records) are not ours and are skipped.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "protocol/generated/group_metadata_value.h"
#include "protocol/generated/offset_commit_value.h"
#include "protocol/wire.h"

namespace rill::coordinator {

struct offset_key {
    std::string group;
    std::string topic;
    int32_t partition = 0;
};
struct group_key {
    std::string group;
};
struct other_key {
    int16_t version = 0;
};
using record_key = std::variant<offset_key, group_key, other_key>;

protocol::bytes encode_offset_key(const offset_key& k);
protocol::bytes encode_group_key(const std::string& group);
// Value version 1 when an explicit expire timestamp is set (commits with a retention time),
// else version 3, as Kafka writes them.
protocol::bytes encode_offset_value(const protocol::messages::offset_commit_value& v);
protocol::bytes encode_group_value(const protocol::messages::group_metadata_value& v);

// nullopt when the bytes are not a valid key / value of a known version.
std::optional<record_key> decode_key(protocol::bytes_view b);
std::optional<protocol::messages::offset_commit_value> decode_offset_value(protocol::bytes_view b);
std::optional<protocol::messages::group_metadata_value> decode_group_value(protocol::bytes_view b);

// Java's String.hashCode over the UTF-16 code units of a UTF-8 string (invalid bytes count as
// U+FFFD, as Java's decoder does).
int32_t java_string_hash(const std::string& s);

}  // namespace rill::coordinator
