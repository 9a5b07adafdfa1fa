// Fuzz target: Fetch v0-v3 down-conversion of stored magic-2 batches into legacy message sets
// (protocol/down_convert.h).
//
// Input: two option bytes, then the batches.
//   byte 0, bit 0: target magic (0 or 1)
//           bit 1: keep the CRCs as given (else the target rewrites the CRC of every whole batch
//                  first, so mutations reach the records and the compressed sections)
//           bits 2-3: max_bytes 64, 1 KiB, 64 KiB or 16 MiB ("unbounded")
//   byte 1: first_offset, as a distance above the first batch's base offset
// Checks: the converter never fails on a well-formed input except for zstd (unsupported_codec);
// its output reads back as a legacy message set of the target magic, holding `messages`
// messages; they are, in order, the keys and values of the non-control records at or above
// first_offset (a prefix of them when max_bytes cut the conversion, all of them otherwise, and
// at least one when there is one); inflation stays within max_inflated. Malformed input only
// has to be refused or converted without a crash (the sanitizers check the rest).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <vector>

#include "fuzz_check.h"
#include "protocol/down_convert.h"
#include "protocol/legacy_message_set.h"
#include "protocol/record_batch.h"
#include "protocol/record_batch_header.h"

using namespace rill;
using namespace rill::protocol;

namespace {

constexpr size_t kMaxInflated = size_t{4} << 20;

struct kv {
    std::optional<bytes> key;
    std::optional<bytes> value;
    friend bool operator==(const kv&, const kv&) = default;
};

// Rewrites the CRC of every whole batch at the start of `data` (stops at the first that does
// not fit).
void fix_crcs(bytes& data) {
    size_t pos = 0;
    while (data.size() - pos >= kBatchHeaderSize) {
        const auto h = parse_batch_header(std::span(data).subspan(pos));
        if (!h || h->batch_length < 0 || h->total_size() < kBatchHeaderSize ||
            h->total_size() > data.size() - pos)
            return;
        update_batch_crc(std::span(data.data() + pos, h->total_size()));
        pos += h->total_size();
    }
}

// What a correct conversion holds, when every whole batch of `data` is valid; nullopt when one
// is not (then only "no crash" is checked). `zstd` tells whether a zstd batch is among them.
std::optional<std::vector<kv>> expected(bytes_view data, int64_t first_offset, bool* zstd) {
    std::vector<kv> out;
    size_t pos = 0;
    while (data.size() - pos >= kBatchHeaderSize) {
        const auto peek = parse_batch_header(data.subspan(pos));
        if (peek && peek->batch_length >= 0 && peek->total_size() > data.size() - pos)
            break;  // a trailing partial batch is ignored, as in a fetch
        auto h = validate_batch(data.subspan(pos));
        if (!h || h->base_offset < 0 || h->last_offset_delta < 0 ||
            h->base_offset >
                std::numeric_limits<int64_t>::max() - std::numeric_limits<int32_t>::max())
            return std::nullopt;  // offsets no log holds: down_convert refuses them
        const bytes_view batch = data.subspan(pos, h->total_size());
        if (!validate_records(batch, false, kMaxInflated)) return std::nullopt;
        if (h->codec() == compression_codec::zstd) *zstd = true;
        auto records = read_records(batch, kMaxInflated);
        if (!records) return std::nullopt;
        if (!h->is_control())
            for (auto& r : *records)
                if (r.offset >= first_offset)
                    out.push_back(kv{std::move(r.key), std::move(r.value)});
        pos += h->total_size();
    }
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const uint8_t flags = data[0];
    bytes batches(data + 2, data + size);
    if (!(flags & 0x02)) fix_crcs(batches);

    down_convert_options opt;
    opt.magic = static_cast<int8_t>(flags & 0x01);
    static constexpr size_t kMaxBytes[] = {64, 1024, 64 << 10, 16 << 20};
    opt.max_bytes = kMaxBytes[(flags >> 2) & 0x03];
    const bool unbounded = ((flags >> 2) & 0x03) == 3;
    opt.max_inflated = kMaxInflated;
    const auto first = parse_batch_header(batches);
    const int64_t base = first ? first->base_offset : 0;
    opt.first_offset = base > std::numeric_limits<int64_t>::max() - 255 ? base : base + data[1];

    auto res = down_convert(batches, opt);
    bool zstd = false;
    const auto want = expected(batches, opt.first_offset, &zstd);
    if (!want) return 0;  // malformed: refusing or converting without a crash is all we ask
    if (zstd) {
        FUZZ_CHECK(!res && res.error() == record_error::unsupported_codec,
                   "a zstd batch was down-converted");
        return 0;
    }
    FUZZ_CHECK(res.has_value(),
               "a valid input was refused: " + std::string(res ? "" : to_string(res.error())));
    FUZZ_CHECK(res->inflated <= opt.max_inflated, "inflated beyond max_inflated");
    if (res->data.empty()) {
        FUZZ_CHECK(res->messages == 0, "no output but messages counted");
        FUZZ_CHECK(want->empty(), "records to convert but no output");
        return 0;
    }
    auto back = read_legacy_message_set(res->data, size_t{64} << 20);
    FUZZ_CHECK(back.has_value(), "the output is not a legacy message set: " +
                                     std::string(back ? "" : to_string(back.error())));
    FUZZ_CHECK(back->size() == static_cast<size_t>(res->messages),
               "messages disagrees with the output");
    FUZZ_CHECK(back->size() <= want->size(), "more messages than records");
    if (unbounded) FUZZ_CHECK(back->size() == want->size(), "an unbounded conversion stopped");
    for (size_t i = 0; i < back->size(); ++i) {
        const legacy_message& m = (*back)[i];
        FUZZ_CHECK(m.magic == opt.magic, "a message of the wrong magic");
        FUZZ_CHECK((kv{m.key, m.value} == (*want)[i]), "message " + std::to_string(i) + " differs");
    }
    return 0;
}
