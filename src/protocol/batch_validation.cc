#include "protocol/batch_validation.h"

#include <fmt/format.h>

#include <algorithm>

#include "protocol/crc32c.h"

namespace rill::protocol {
namespace {

using unexpected_rejection = unexpected<batch_rejection>;

constexpr int16_t kInvalidRecord = 87;
constexpr int16_t kInvalidTimestamp = 32;

int64_t wrap_add(int64_t a, int64_t b) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// Whether `ts` lies outside [now - before, now + after], without overflow.
bool timestamp_out_of_range(int64_t ts, int64_t now, int64_t before, int64_t after) {
    const __int128 diff = static_cast<__int128>(now) - ts;  // > 0: in the past
    return diff > before || -diff > after;
}

class rule_checker final : public record_visitor {
  public:
    rule_checker(const batch_header& h, const record_rules& r, std::string_view partition)
        : h_(h), rules_(r), partition_(partition) {}

    bool on_record(const record_meta& m) override {
        if (m.offset_delta != m.index) {
            reject(m.index, false,
                   fmt::format("record {} has offset delta {}; a producer's records carry 0..{}",
                               m.index, m.offset_delta, h_.record_count - 1));
            return true;
        }
        if (rules_.require_keys && m.key_size < 0) {
            reject(m.index, false,
                   fmt::format("record {} has no key, but {} is compacted and needs one", m.index,
                               partition_));
            return true;
        }
        if (!rules_.log_append_time) {
            const int64_t ts = h_.log_append_time()
                                   ? h_.max_timestamp
                                   : wrap_add(h_.base_timestamp, m.timestamp_delta);
            if (ts != -1) {
                if (timestamp_out_of_range(ts, rules_.now_ms, rules_.timestamp_before_max_ms,
                                           rules_.timestamp_after_max_ms)) {
                    reject(m.index, true,
                           fmt::format("record {} has timestamp {}, outside the window this topic "
                                       "accepts around the broker's clock {} "
                                       "(message.timestamp.before.max.ms {}, after.max.ms {})",
                                       m.index, ts, rules_.now_ms, rules_.timestamp_before_max_ms,
                                       rules_.timestamp_after_max_ms));
                    return true;
                }
                if (ts > max_ts_) {
                    max_ts_ = ts;
                    max_ts_delta_ = m.offset_delta;
                }
            } else if (h_.log_append_time()) {
                reject(m.index, true, "the producer flagged the batch LogAppendTime");
                return true;
            }
        } else if (h_.log_append_time()) {
            reject(m.index, true,
                   fmt::format("record {}: producers must not set timestamp type LogAppendTime",
                               m.index));
        }
        return true;
    }

    size_t errors() const { return total_; }
    const std::string& first_message() const { return first_; }
    bool any_timestamp_error() const { return timestamp_errors_ > 0; }
    std::vector<record_rejection>& kept() { return kept_; }
    int64_t max_timestamp() const { return max_ts_; }
    int32_t max_timestamp_delta() const { return max_ts_delta_; }

  private:
    void reject(int32_t index, bool timestamp, std::string message) {
        ++total_;
        if (timestamp) ++timestamp_errors_;
        if (total_ == 1) first_ = message;  // named in the partition's message even if not kept
        if (kept_.size() < rules_.max_record_errors) kept_.push_back({index, std::move(message)});
    }

    const batch_header& h_;
    const record_rules& rules_;
    std::string_view partition_;
    size_t total_ = 0;
    size_t timestamp_errors_ = 0;
    std::vector<record_rejection> kept_;
    std::string first_;
    int64_t max_ts_ = -1;
    int32_t max_ts_delta_ = -1;
};

batch_rejection batch_level(int16_t code, std::string message) {
    batch_rejection r;
    r.error_code = code;
    r.message = std::move(message);
    return r;
}

}  // namespace

result<batch_facts, batch_rejection> validate_produced_batch(bytes_view data,
                                                             const record_rules& rules,
                                                             std::string_view partition) {
    validate_options opts;
    opts.require_exact_size = true;
    opts.producer = true;
    auto h = validate_batch(data, opts);
    if (!h)
        return unexpected_rejection{
            batch_level(kafka_error_code(h.error()),
                        fmt::format("batch for {} refused: {}", partition, to_string(h.error())))};
    if (h->producer_id >= 0 && h->base_sequence < 0)
        return unexpected_rejection{batch_level(
            kInvalidRecord, fmt::format("batch for {} has producer id {} but base sequence {}",
                                        partition, h->producer_id, h->base_sequence))};

    rule_checker checker(*h, rules, partition);
    auto scanned = scan_records(data, *h, checker, rules.limits);
    if (!scanned) {
        std::string why(to_string(scanned.error()));
        if (scanned.error() == record_error::decompressed_too_large)
            why = fmt::format(
                "records inflate beyond {} bytes or need more than {} bytes to "
                "decompress",
                rules.limits.max_inflated, rules.limits.max_memory);
        auto r = batch_level(kafka_error_code(scanned.error()),
                             fmt::format("batch for {} refused: {}", partition, why));
        r.inflate_limit = scanned.error() == record_error::decompressed_too_large;
        return unexpected_rejection{std::move(r)};
    }
    if (checker.errors() > 0) {
        batch_rejection r;
        r.error_code = checker.any_timestamp_error() ? kInvalidTimestamp : kInvalidRecord;
        r.records = std::move(checker.kept());
        r.message = fmt::format("{} of {} records for {} rejected; first: {}", checker.errors(),
                                h->record_count, partition, checker.first_message());
        return unexpected_rejection{std::move(r)};
    }
    batch_facts f;
    f.header = *h;
    f.max_timestamp = checker.max_timestamp();
    f.max_timestamp_delta = checker.max_timestamp_delta();
    f.inflated = scanned->inflated;
    return f;
}

void correct_max_timestamp(std::span<uint8_t> batch, const batch_facts& facts) {
    if (facts.header.log_append_time() || facts.max_timestamp < 0) return;
    if (facts.header.max_timestamp == facts.max_timestamp) return;
    const uint64_t v = static_cast<uint64_t>(facts.max_timestamp);
    for (int i = 0; i < 8; ++i)
        batch[kMaxTimestampOffset + i] = static_cast<uint8_t>(v >> (56 - 8 * i));
    update_batch_crc(batch);
}

}  // namespace rill::protocol
