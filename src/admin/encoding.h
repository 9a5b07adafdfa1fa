// Pure helpers of the HTTP data routes: base64, UTF-8 checks, the Kafka default partitioner's
// murmur2 hash, and the Confluent v3 key/value encoding ({type: BINARY|JSON|STRING, data}).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "protocol/wire.h"

namespace rill::admin {

std::string base64_encode(std::span<const uint8_t> data);
// Standard alphabet with padding (padding optional); whitespace is not allowed.
std::optional<protocol::bytes> base64_decode(std::string_view text);

bool valid_utf8(std::span<const uint8_t> data);

// Kafka's murmur2 (the Java client's Utils.murmur2) and the default partitioner's choice for a
// keyed record: toPositive(murmur2(key)) % partitions.
int32_t murmur2(std::span<const uint8_t> data);
int32_t partition_for_key(std::span<const uint8_t> key, int32_t partitions);

// Decodes a v3 produce key or value: absent or null → nullopt (a null key/value);
// {"type":"BINARY","data":"<base64>"}, {"type":"STRING","data":"text"},
// {"type":"JSON","data":<any JSON>} (serialized compactly). A missing type means JSON.
// Errors are messages for a 400 answer.
result<std::optional<protocol::bytes>, std::string> decode_produce_data(
    const nlohmann::ordered_json* field, std::string_view what);

// Encodes stored bytes for the records browser: null → JSON null; UTF-8 text →
// {"type":"STRING","data":...}; anything else → {"type":"BINARY","data":<base64>}.
nlohmann::ordered_json encode_record_data(const std::optional<protocol::bytes_view>& data);

}  // namespace rill::admin
