// Fuzz target: produce-time validation of one magic-2 record batch (batch_validation.h), with
// compressed records inflated in bounded chunks (record_scan.h, decompressor.h).
//
// Input: one flags byte, then the batch.
//   bit 0: keep the batch's CRC as given (else the target writes the right CRC-32C first, so
//          mutations reach the records instead of failing the CRC)
//   bit 1: compacted topic (keys required)      bit 2: LogAppendTime topic
//   bit 3: a 1-hour timestamp window around now  bits 4-5: inflate limit 1 KiB/64 KiB/1 MiB/4 MiB
//   bits 6-7: record errors kept: 100, 1, 0, 3
// Differential checks on a batch that validation accepts: the record reader the broker uses on
// stored data reads exactly record_count records with offset deltas 0..n-1 (and keys when
// required); validate_records() agrees; the batch rebuilt from those records validates again;
// correct_max_timestamp() leaves a batch that still validates and needs no further correction.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_check.h"
#include "protocol/batch_validation.h"
#include "protocol/record_batch.h"
#include "protocol/record_batch_header.h"

using namespace rill;
using namespace rill::protocol;

namespace {

constexpr int64_t now_ms = 1'700'000'000'000;

record_rules rules_for(uint8_t flags) {
    record_rules r;
    r.now_ms = now_ms;
    r.require_keys = flags & 0x02;
    r.log_append_time = flags & 0x04;
    if (flags & 0x08) r.timestamp_before_max_ms = r.timestamp_after_max_ms = 3'600'000;
    static constexpr size_t limits[] = {1 << 10, 64 << 10, 1 << 20, 4 << 20};
    r.limits.max_inflated = limits[(flags >> 4) & 3];
    r.limits.max_memory = size_t{8} << 20;
    static constexpr size_t kept[] = {100, 1, 0, 3};
    r.max_record_errors = kept[(flags >> 6) & 3];
    return r;
}

void check_accepted(bytes& batch, const record_rules& rules, const batch_facts& facts) {
    const batch_header& h = facts.header;
    FUZZ_CHECK(h.total_size() == batch.size(), "accepted batch is not exactly the input");
    FUZZ_CHECK(h.record_count >= 1 && h.last_offset_delta == h.record_count - 1,
               "accepted batch with inconsistent counts");
    FUZZ_CHECK(facts.inflated <= rules.limits.max_inflated, "inflated beyond the limit");

    auto vr = validate_records(batch, true, rules.limits.max_inflated);
    FUZZ_CHECK(vr.has_value(), std::string("validate_records refuses an accepted batch: ") +
                                   std::string(to_string(vr.error())));

    auto records = read_records(batch, rules.limits.max_inflated);
    FUZZ_CHECK(records.has_value(), std::string("record reader refuses an accepted batch: ") +
                                        std::string(to_string(records.error())));
    FUZZ_CHECK(records->size() == static_cast<size_t>(h.record_count), "record count differs");
    for (size_t i = 0; i < records->size(); ++i) {
        FUZZ_CHECK((*records)[i].offset == h.base_offset + static_cast<int64_t>(i),
                   "record offsets are not base_offset + 0..n-1");
        if (rules.require_keys) FUZZ_CHECK((*records)[i].key.has_value(), "keyless record");
    }

    // Rebuilt with the same batch-level fields, the records validate again.
    batch_spec spec;
    spec.base_offset = h.base_offset;
    spec.partition_leader_epoch = h.partition_leader_epoch;
    spec.producer_id = h.producer_id;
    spec.producer_epoch = h.producer_epoch;
    spec.base_sequence = h.base_sequence;
    spec.transactional = h.is_transactional();
    if (h.log_append_time()) spec.log_append_time = h.max_timestamp;
    spec.codec = h.codec();
    for (auto& r : *records)
        r.offset_delta = -1;
    auto rebuilt = build_batch(spec, *records);
    FUZZ_CHECK(rebuilt.has_value(), "accepted records cannot be rebuilt");
    record_rules loose = rules;
    loose.limits.max_inflated = 2 * rules.limits.max_inflated + (64 << 10);
    auto again = validate_produced_batch(*rebuilt, loose, "fuzz-0");
    FUZZ_CHECK(again.has_value(),
               "the rebuilt batch is refused: " + (again ? std::string() : again.error().message));
    FUZZ_CHECK(again->header.record_count == h.record_count, "rebuilt batch count differs");
    FUZZ_CHECK(again->max_timestamp == facts.max_timestamp, "rebuilt max timestamp differs");

    // Correcting max_timestamp keeps the batch valid and is idempotent.
    correct_max_timestamp(batch, facts);
    auto corrected = validate_produced_batch(batch, rules, "fuzz-0");
    FUZZ_CHECK(corrected.has_value(), "the corrected batch is refused: " +
                                          (corrected ? std::string() : corrected.error().message));
    if (!h.log_append_time() && facts.max_timestamp >= 0)
        FUZZ_CHECK(corrected->header.max_timestamp == facts.max_timestamp,
                   "max_timestamp was not corrected");
    FUZZ_CHECK(corrected->max_timestamp == facts.max_timestamp, "corrected facts differ");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    const uint8_t flags = data[0];
    bytes batch(data + 1, data + size);
    if (!(flags & 0x01) && batch.size() >= kBatchHeaderSize) {
        // CRC over attributes..end of the batch (the declared length, when it fits).
        const auto h = parse_batch_header(batch);
        const size_t n = h && h->batch_length >= 0 && h->total_size() >= kBatchHeaderSize &&
                                 h->total_size() <= batch.size()
                             ? h->total_size()
                             : batch.size();
        update_batch_crc(std::span(batch.data(), n));
    }
    const record_rules rules = rules_for(flags);
    auto res = validate_produced_batch(batch, rules, "fuzz-0");
    if (res) {
        check_accepted(batch, rules, *res);
        return 0;
    }
    const batch_rejection& rej = res.error();
    FUZZ_CHECK(rej.error_code != 0, "a rejection without an error code");
    FUZZ_CHECK(!rej.message.empty(), "a rejection without a message");
    FUZZ_CHECK(rej.records.size() <= rules.max_record_errors, "too many record errors kept");
    return 0;
}
