#include "broker/produce_validation.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/clock.h"
#include "common/logging.h"
#include "protocol/legacy_message_set.h"
#include "protocol/record_batch.h"
#include "protocol/record_scan.h"

namespace rill::broker {
namespace {

constexpr size_t kInlineBytes = size_t{1} << 20;          // uncompressed batches inline
constexpr size_t kInlineCompressedBytes = 64 * 1024;      // compressed batches inline
constexpr size_t kInlineInflate = size_t{1} << 20;        // ... while they inflate to this
constexpr size_t kInlineDecoderMemory = size_t{1} << 20;  // ... with this much decoder state
// Decoder state any stream may ask for: zstd's own window limit (128 MiB) plus its buffers.
constexpr size_t kMaxDecoderMemory = (size_t{128} << 20) + (size_t{4} << 20);
// Legacy conversion output charged to the budget: the sets inflate at most this much.
constexpr size_t kLegacyChargeFactor = 64;

int64_t int_value(const cluster::topic_info& t, const broker_config& c, std::string_view key,
                  int64_t fallback) {
    auto v = topic_config_value(key, t.configs, c);
    if (!v) return fallback;
    try {
        return std::stoll(*v);
    } catch (const std::exception&) {
        return fallback;  // validated when set
    }
}

void fail(produced_records& p, error_code e, std::optional<std::string> msg = std::nullopt) {
    p.error = e;
    p.message = std::move(msg);
    p.batch.reset();
}

void apply(produced_records& p, protocol::batch_rejection&& r) {
    p.error = static_cast<error_code>(r.error_code);
    p.message = std::move(r.message);
    p.record_errors = std::move(r.records);
    p.batch.reset();
}

bool is_inline_candidate(const produced_records& p) {
    auto magic = protocol::peek_magic(p.data);
    if (!magic || *magic != 2) return false;  // legacy conversion: always off the shard
    auto h = protocol::parse_batch_header(p.data);
    if (!h) return true;  // refused at once
    if (h->codec() == protocol::compression_codec::none) return p.data.size() <= kInlineBytes;
    if (p.data.size() > kInlineCompressedBytes || h->total_size() > p.data.size()) return false;
    protocol::scan_limits l;
    l.max_memory = kInlineDecoderMemory;
    auto mem = protocol::scan_memory(p.data, *h, l);
    return mem.has_value();  // its decoder fits the inline bound (or the batch is refused)
}

// Bytes charged to the budget while `p` is validated off the shard.
size_t pool_charge(const produced_records& p, size_t inflate_left) {
    auto magic = protocol::peek_magic(p.data);
    if (!magic || *magic < 2) return std::min(inflate_left, p.data.size() * kLegacyChargeFactor);
    auto h = protocol::parse_batch_header(p.data);
    if (!h || h->total_size() > p.data.size()) return 0;
    protocol::scan_limits l;
    l.max_memory = kMaxDecoderMemory;
    auto mem = protocol::scan_memory(p.data, *h, l);
    return mem ? *mem : 0;
}

}  // namespace

record_checks record_checks_for(const cluster::topic_info& topic, const broker_config& config) {
    record_checks c;
    c.max_message_bytes = int_value(topic, config, "max.message.bytes", c.max_message_bytes);
    auto& r = c.rules;
    r.log_append_time =
        topic_config_value("message.timestamp.type", topic.configs, config).value_or("") ==
        "LogAppendTime";
    r.require_keys =
        topic_config_value("cleanup.policy", topic.configs, config).value_or("").find("compact") !=
        std::string::npos;
    r.timestamp_before_max_ms =
        int_value(topic, config, "message.timestamp.before.max.ms", r.timestamp_before_max_ms);
    r.timestamp_after_max_ms =
        int_value(topic, config, "message.timestamp.after.max.ms", r.timestamp_after_max_ms);
    // The deprecated single bound caps both (KIP-937 kept it as a fallback).
    const int64_t diff = int_value(topic, config, "message.timestamp.difference.max.ms",
                                   std::numeric_limits<int64_t>::max());
    r.timestamp_before_max_ms = std::min(r.timestamp_before_max_ms, diff);
    r.timestamp_after_max_ms = std::min(r.timestamp_after_max_ms, diff);
    return c;
}

void prepare_records(produced_records& p, const prepare_options& o, size_t& inflate_left,
                     bool* needs_pool) {
    const auto& checks = *p.checks;
    const int64_t max_bytes = checks.max_message_bytes;
    auto too_large = [&](size_t n) {
        return static_cast<int64_t>(n) >
               max_bytes + static_cast<int64_t>(protocol::kBatchLogOverhead);
    };
    if (p.data.empty()) return fail(p, error_code::invalid_record, "no records");
    if (too_large(p.data.size()))
        return fail(p, error_code::message_too_large,
                    fmt::format("{} bytes of records exceed max.message.bytes {}", p.data.size(),
                                max_bytes));

    protocol::record_rules rules = checks.rules;
    rules.now_ms = o.now_ms;
    rules.limits.max_memory = kMaxDecoderMemory;
    rules.limits.max_inflated = inflate_left;
    if (o.inline_limit > 0) {
        rules.limits.max_inflated = std::min(inflate_left, o.inline_limit);
        rules.limits.max_memory = kInlineDecoderMemory;
    }

    protocol::bytes converted;
    protocol::bytes_view batch = p.data;
    auto magic = protocol::peek_magic(p.data);
    const bool legacy = magic && *magic < 2;
    if (legacy) {
        if (o.produce_version >= 3)
            return fail(
                p, error_code::invalid_record,
                fmt::format("Produce v{} requires record batches of magic 2", o.produce_version));
        protocol::legacy_convert_options lo;
        lo.max_decompressed = inflate_left;
        auto c = protocol::convert_legacy_message_set(p.data, lo);
        if (!c)
            return fail(p, static_cast<error_code>(protocol::kafka_error_code(c.error())),
                        fmt::format("message set for {} refused: {}", p.partition,
                                    protocol::to_string(c.error())));
        if (too_large(c->size()))
            return fail(p, error_code::message_too_large,
                        fmt::format("the converted batch of {} bytes exceeds max.message.bytes {}",
                                    c->size(), max_bytes));
        converted = std::move(*c);
        batch = converted;
    } else if (auto h = protocol::parse_batch_header(p.data);
               h && h->magic == 2 && h->codec() == protocol::compression_codec::zstd &&
               o.produce_version < 7) {
        return fail(p, error_code::unsupported_compression_type, "zstd needs Produce v7 or later");
    }

    auto facts = protocol::validate_produced_batch(batch, rules, p.partition);
    if (!facts) {
        if (facts.error().inflate_limit && o.inline_limit > 0 && needs_pool) {
            *needs_pool = true;
            return;
        }
        protocol::batch_rejection rejection = facts.error();
        return apply(p, std::move(rejection));
    }
    if (facts->header.codec() != protocol::compression_codec::none)
        inflate_left -= std::min(inflate_left, facts->inflated);
    if (legacy) inflate_left -= std::min(inflate_left, converted.size());
    p.batch = legacy ? std::move(converted) : protocol::bytes(batch.begin(), batch.end());
    protocol::correct_max_timestamp(*p.batch, *facts);
    p.error = error_code::none;
}

boost::asio::awaitable<void> validate_produced(work_pool& pool, memory_budget* budget,
                                               std::vector<produced_records>& parts,
                                               int16_t produce_version, size_t max_inflated) {
    prepare_options o;
    o.produce_version = produce_version;
    o.now_ms = wall_clock_ms();
    size_t inflate_left = max_inflated;
    std::vector<produced_records*> offload;
    for (auto& p : parts) {
        if (!is_inline_candidate(p)) {
            offload.push_back(&p);
            continue;
        }
        prepare_options io = o;
        io.inline_limit = kInlineInflate;
        bool needs_pool = false;
        prepare_records(p, io, inflate_left, &needs_pool);
        if (needs_pool) offload.push_back(&p);
    }
    if (offload.empty()) co_return;

    // One pool task for the request: its partitions in order, within the request's bound.
    auto work = [&offload, &inflate_left, o, budget] {
        for (produced_records* p : offload) {
            std::optional<memory_budget::lease> lease;
            if (budget)
                lease = budget->try_acquire(static_cast<int64_t>(pool_charge(*p, inflate_left)));
            prepare_records(*p, o, inflate_left, nullptr);
        }
        return true;
    };
    auto op = pool.run(work);
    co_await std::move(op);
}

}  // namespace rill::broker
