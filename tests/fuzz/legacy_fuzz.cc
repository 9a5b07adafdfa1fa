// Fuzz target: legacy message sets (magic 0/1, Produce v0-v2) and their conversion into one
// magic-2 batch (legacy_message_set.h).
//
// Input: one flags byte, then the message set.
//   bit 0: keep the CRCs as given (else the target rewrites the CRC of every top-level message
//          first, so mutations reach the fields and the compressed wrappers)
//   bit 1: convert uncompressed (keep_compression false)
// Checks: reading and converting agree (one fails exactly when the other does, empty sets
// aside); the converted batch passes produce-time validation and holds the same keys, values
// and (magic 1) timestamps, in order, with offsets 0..n-1.
#include <zlib.h>

#include <cstddef>
#include <cstdint>

#include "fuzz_check.h"
#include "protocol/batch_validation.h"
#include "protocol/legacy_message_set.h"
#include "protocol/record_batch.h"

using namespace rill;
using namespace rill::protocol;

namespace {

constexpr size_t max_decompressed = size_t{1} << 20;

uint32_t get32(const uint8_t* p) {
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Rewrites the CRC-32 of each whole top-level message: offset(8) size(4) crc(4) magic...
void fix_crcs(bytes& set) {
    size_t pos = 0;
    while (set.size() - pos >= 16) {
        const uint32_t msg_size = get32(&set[pos + 8]);
        if (msg_size < 4 || msg_size > set.size() - pos - 12) return;
        const uint8_t* body = &set[pos + 16];
        const uLong crc = crc32(crc32(0L, Z_NULL, 0), body, static_cast<uInt>(msg_size - 4));
        for (int i = 0; i < 4; ++i)
            set[pos + 12 + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
        pos += 12 + msg_size;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t flags = data[0];
    bytes set(data + 1, data + size);
    if (!(flags & 0x01)) fix_crcs(set);

    auto messages = read_legacy_message_set(set, max_decompressed);
    legacy_convert_options opts;
    opts.max_decompressed = max_decompressed;
    opts.keep_compression = !(flags & 0x02);
    auto converted = convert_legacy_message_set(set, opts);
    if (!messages) {
        FUZZ_CHECK(!converted, "conversion accepts a set the reader refuses");
        FUZZ_CHECK(converted.error() == messages.error(), "reader and conversion disagree");
        return 0;
    }
    if (messages->empty()) {
        FUZZ_CHECK(!converted && converted.error() == record_error::empty_batch,
                   "an empty set converts");
        return 0;
    }
    FUZZ_CHECK(converted.has_value(), std::string("a readable set does not convert: ") +
                                          std::string(to_string(converted.error())));

    record_rules rules;  // no timestamp window: legacy timestamps are arbitrary
    rules.limits.max_inflated = 4 * max_decompressed + (1 << 16);
    auto facts = validate_produced_batch(*converted, rules, "fuzz-0");
    FUZZ_CHECK(facts.has_value(), "the converted batch is refused: " +
                                      (facts ? std::string() : facts.error().message));
    auto records = read_records(*converted, rules.limits.max_inflated);
    FUZZ_CHECK(records.has_value(), "the converted batch does not read");
    FUZZ_CHECK(records->size() == messages->size(), "conversion changed the record count");
    for (size_t i = 0; i < records->size(); ++i) {
        const auto& r = (*records)[i];
        const auto& m = (*messages)[i];
        FUZZ_CHECK(r.offset == static_cast<int64_t>(i), "converted offsets are not 0..n-1");
        FUZZ_CHECK(r.key == m.key && r.value == m.value, "conversion changed a key or value");
        FUZZ_CHECK(r.headers.empty(), "conversion invented headers");
        if (m.magic == 1) FUZZ_CHECK(r.timestamp == m.timestamp, "conversion moved a timestamp");
    }
    return 0;
}
