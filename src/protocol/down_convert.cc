#include "protocol/down_convert.h"

#include <zlib.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "protocol/record_batch_header.h"
#include "protocol/record_scan.h"

namespace rill::protocol {
namespace {

using unexpected_error = unexpected<record_error>;

constexpr int8_t kLegacyLogAppendTime = 0x08;

// Whether the batch's offsets are ones a log can hold: base_offset and base_offset plus any
// int32 delta fit in int64_t. Appends validate this; a damaged file can still hold anything.
bool offsets_in_range(const batch_header& h) {
    constexpr int64_t kMaxBase =
        std::numeric_limits<int64_t>::max() - std::numeric_limits<int32_t>::max();
    return h.base_offset >= 0 && h.base_offset <= kMaxBase && h.last_offset_delta >= 0;
}

void put_be(bytes& out, uint64_t v, size_t n) {
    for (size_t i = n; i-- > 0;)
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void patch_be32(bytes& out, size_t at, uint32_t v) {
    for (size_t i = 0; i < 4; ++i)
        out[at + i] = static_cast<uint8_t>(v >> (8 * (3 - i)));
}

void put_nullable(bytes& out, const bytes* b) {
    if (!b) {
        put_be(out, static_cast<uint32_t>(-1), 4);
        return;
    }
    put_be(out, static_cast<uint32_t>(b->size()), 4);
    out.insert(out.end(), b->begin(), b->end());
}

// Appends one legacy message entry: offset, size, crc (IEEE over magic..end), magic,
// attributes, [timestamp], key, value.
void put_message(bytes& out, int64_t offset, int8_t magic, int8_t attributes, int64_t timestamp,
                 const bytes* key, const bytes* value) {
    const size_t start = out.size();
    put_be(out, static_cast<uint64_t>(offset), 8);
    put_be(out, 0, 4);  // size
    put_be(out, 0, 4);  // crc
    out.push_back(static_cast<uint8_t>(magic));
    out.push_back(static_cast<uint8_t>(attributes));
    if (magic == 1) put_be(out, static_cast<uint64_t>(timestamp), 8);
    put_nullable(out, key);
    put_nullable(out, value);
    patch_be32(out, start + 8, static_cast<uint32_t>(out.size() - start - 12));
    const uLong crc = crc32(0, out.data() + start + 16, static_cast<uInt>(out.size() - start - 16));
    patch_be32(out, start + 12, static_cast<uint32_t>(crc));
}

class converter final : public record_visitor {
  public:
    converter(const down_convert_options& o, bytes& out) : record_visitor(true), o_(o), out_(out) {}

    void begin_batch(const batch_header& h, compression_codec target) {
        h_ = h;
        target_ = target;
    }

    void on_data(record_field f, bytes_view piece) override {
        bytes& b = f == record_field::key ? key_ : value_;
        b.insert(b.end(), piece.begin(), piece.end());
    }

    bool on_record(const record_meta& r) override {
        const bytes* key = r.key_size < 0 ? nullptr : &key_;
        const bytes* value = r.value_size < 0 ? nullptr : &value_;
        const int64_t offset = h_.base_offset + r.offset_delta;
        bool go_on = true;
        if (offset >= o_.first_offset) {
            if (full()) {
                go_on = false;
            } else {
                write(offset, r, key, value);
                if (target_ != compression_codec::none && inner_.size() >= o_.max_bytes)
                    go_on = flush();
            }
        }
        key_.clear();
        value_.clear();
        return go_on && !error_;
    }

    // Writes the pending wrapper, if any. False on a compression failure.
    bool flush() {
        if (inner_.empty()) return true;
        auto packed = compress(target_, inner_, o_.compression);
        if (!packed) {
            error_ = record_error::compression_failed;
            return false;
        }
        const int8_t attrs = static_cast<int8_t>(static_cast<int>(target_) | ts_type_bit());
        put_message(out_, wrapper_last_, o_.magic, attrs, wrapper_ts_, nullptr, &*packed);
        inner_.clear();
        wrapper_ts_ = -1;
        return true;
    }

    bool full() const {
        const size_t n = out_.size() + inner_.size();
        return n > 0 && n >= o_.max_bytes;
    }
    int32_t messages() const { return messages_; }
    const std::optional<record_error>& error() const { return error_; }

  private:
    int8_t ts_type_bit() const {
        return o_.magic == 1 && h_.log_append_time() ? kLegacyLogAppendTime : 0;
    }

    void write(int64_t offset, const record_meta& r, const bytes* key, const bytes* value) {
        int64_t ts = -1;
        if (o_.magic == 1)
            ts = h_.log_append_time() ? h_.max_timestamp : h_.base_timestamp + r.timestamp_delta;
        ++messages_;
        if (target_ == compression_codec::none) {
            put_message(out_, offset, o_.magic, ts_type_bit(), ts, key, value);
            return;
        }
        if (inner_.empty()) wrapper_first_ = offset;
        const int64_t inner_offset = o_.magic == 1 ? offset - wrapper_first_ : offset;
        put_message(inner_, inner_offset, o_.magic, 0, ts, key, value);
        wrapper_last_ = offset;
        wrapper_ts_ = std::max(wrapper_ts_, ts);
    }

    const down_convert_options& o_;
    bytes& out_;
    batch_header h_;
    compression_codec target_ = compression_codec::none;
    bytes key_, value_;  // the current record's, reused
    bytes inner_;        // the pending wrapper's uncompressed message set
    int64_t wrapper_first_ = 0, wrapper_last_ = 0, wrapper_ts_ = -1;
    int32_t messages_ = 0;
    std::optional<record_error> error_;
};

}  // namespace

result<down_convert_result, record_error> down_convert(bytes_view batches,
                                                       const down_convert_options& o) {
    // Kafka refuses the whole fetch when any batch is zstd (it needs Fetch v10).
    {
        std::span<const uint8_t> rest = batches;
        while (auto b = next_batch(rest)) {
            if (b->header.magic != 2) return unexpected_error{record_error::unsupported_magic};
            if (!offsets_in_range(b->header))
                return unexpected_error{record_error::invalid_offset_delta};
            if (b->header.codec() == compression_codec::zstd)
                return unexpected_error{record_error::unsupported_codec};
        }
    }
    down_convert_result res;
    converter conv(o, res.data);
    std::span<const uint8_t> rest = batches;
    while (auto b = next_batch(rest)) {
        const batch_header& h = b->header;
        if (h.is_control() || h.last_offset() < o.first_offset) continue;
        if (conv.full()) break;
        compression_codec target = h.codec();
        if (o.magic == 0 && target == compression_codec::lz4) target = compression_codec::none;
        conv.begin_batch(h, target);
        scan_limits limits;
        limits.max_inflated = o.max_inflated - std::min(o.max_inflated, res.inflated);
        limits.max_memory = o.max_memory;
        auto scanned = scan_records(b->bytes, h, conv, limits);
        const bool flushed = conv.flush();
        std::optional<record_error> err = conv.error();
        if (!scanned && !err) err = scanned.error();
        if (scanned) res.inflated += scanned->inflated;
        if (err) {
            if (conv.messages() == 0 || !flushed) return unexpected_error{*err};
            break;  // keep what is converted; the client fetches the rest again
        }
        if (scanned->stopped) break;
    }
    res.messages = conv.messages();
    return res;
}

}  // namespace rill::protocol
