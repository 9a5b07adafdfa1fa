#include "protocol/record_batch.h"

#include <algorithm>
#include <limits>

#include "protocol/crc32c.h"
#include "protocol/record_scan.h"

namespace rill::protocol {
namespace {

using unexpected_error = unexpected<record_error>;

// batch_length covers everything after itself: at least the rest of the fixed header.
constexpr int32_t kMinBatchLength = static_cast<int32_t>(kBatchHeaderSize - kBatchLogOverhead);
// The smallest encoded record: length, attributes, timestamp delta, offset delta, key length,
// value length, header count, one byte each.
constexpr size_t kMinRecordSize = 7;

void store_be32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
}
void store_be64(uint8_t* p, uint64_t v) {
    store_be32(p, static_cast<uint32_t>(v >> 32));
    store_be32(p + 4, static_cast<uint32_t>(v));
}

// Two's-complement addition and subtraction: hostile headers must not cause signed overflow.
int64_t wrap_add(int64_t a, int64_t b) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
int64_t wrap_sub(int64_t a, int64_t b) {
    return static_cast<int64_t>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}

record_error from_compression(compression_error e) {
    switch (e) {
        case compression_error::output_too_large:
        case compression_error::memory_limit:
            return record_error::decompressed_too_large;
        case compression_error::unsupported_codec:
            return record_error::unsupported_codec;
        default:
            return record_error::decompression_failed;
    }
}

// Reads a varint-length nullable byte field. nullopt for null; fails `r` for lengths < -1.
std::optional<bytes_view> read_varint_bytes(reader& r) {
    const int32_t len = r.read_varint();
    if (len == -1 || !r.ok()) return std::nullopt;
    if (len < -1) {
        r.fail();
        return std::nullopt;
    }
    bytes_view v = r.read_view(static_cast<size_t>(len));
    if (!r.ok()) return std::nullopt;
    return v;
}

// Parses one record from `r` (positioned at its length field) into `out`.
bool parse_record(reader& r, const batch_header& h, record_view& out) {
    const int32_t length = r.read_varint();
    if (!r.ok() || length < 0 || static_cast<size_t>(length) > r.remaining()) return false;
    reader rec(r.read_view(static_cast<size_t>(length)));
    out.attributes = rec.read_int8();
    out.timestamp_delta = rec.read_varlong();
    out.offset_delta = rec.read_varint();
    out.key = read_varint_bytes(rec);
    out.value = read_varint_bytes(rec);
    const int32_t header_count = rec.read_varint();
    out.headers.clear();
    if (!rec.ok() || header_count < 0) return false;
    // Each header takes at least two bytes: refuse counts the record cannot hold.
    if (static_cast<size_t>(header_count) > rec.remaining() / 2) return false;
    out.headers.reserve(static_cast<size_t>(header_count));
    for (int32_t i = 0; i < header_count; ++i) {
        const int32_t key_len = rec.read_varint();
        if (!rec.ok() || key_len < 0) return false;
        bytes_view key = rec.read_view(static_cast<size_t>(key_len));
        auto value = read_varint_bytes(rec);
        if (!rec.ok()) return false;
        out.headers.push_back(
            {std::string_view(reinterpret_cast<const char*>(key.data()), key.size()), value});
    }
    if (!rec.ok() || rec.remaining() != 0) return false;  // fields must fill the record exactly
    out.offset = wrap_add(h.base_offset, out.offset_delta);
    out.timestamp =
        h.log_append_time() ? h.max_timestamp : wrap_add(h.base_timestamp, out.timestamp_delta);
    return true;
}

size_t record_body_size(int64_t ts_delta, int32_t offset_delta, std::optional<bytes_view> key,
                        std::optional<bytes_view> value, std::span<const header_view> headers) {
    auto nullable = [](std::optional<bytes_view> b) {
        return b ? varint_size(static_cast<int32_t>(b->size())) + b->size() : varint_size(-1);
    };
    size_t n = 1 + varlong_size(ts_delta) + varint_size(offset_delta) + nullable(key) +
               nullable(value) + varint_size(static_cast<int32_t>(headers.size()));
    for (const auto& h : headers)
        n += varint_size(static_cast<int32_t>(h.key.size())) + h.key.size() + nullable(h.value);
    return n;
}

void write_varint_bytes(writer& w, std::optional<bytes_view> b) {
    if (!b) {
        w.write_varint(-1);
        return;
    }
    w.write_varint(static_cast<int32_t>(b->size()));
    w.write_raw(*b);
}

}  // namespace

std::string_view to_string(record_error e) {
    switch (e) {
        case record_error::truncated:
            return "truncated";
        case record_error::invalid_length:
            return "invalid length field";
        case record_error::trailing_bytes:
            return "bytes after the batch";
        case record_error::unsupported_magic:
            return "unsupported magic";
        case record_error::crc_mismatch:
            return "CRC mismatch";
        case record_error::invalid_record_count:
            return "invalid record count";
        case record_error::invalid_offset_delta:
            return "inconsistent offset deltas";
        case record_error::unsupported_codec:
            return "unsupported compression codec";
        case record_error::corrupt_record:
            return "corrupt record";
        case record_error::record_count_mismatch:
            return "record count mismatch";
        case record_error::decompression_failed:
            return "decompression failed";
        case record_error::decompressed_too_large:
            return "decompressed records too large";
        case record_error::control_batch_not_allowed:
            return "control batch not allowed";
        case record_error::invalid_control_record:
            return "invalid control record";
        case record_error::empty_batch:
            return "batch without records";
        case record_error::lz4_magic0_unsupported:
            return "lz4 with magic 0 is not supported";
        case record_error::nested_compression:
            return "nested compression";
        case record_error::compression_failed:
            return "compression failed";
    }
    return "unknown record error";
}

int16_t kafka_error_code(record_error e) {
    switch (e) {
        case record_error::truncated:
        case record_error::invalid_length:
        case record_error::crc_mismatch:
        case record_error::decompression_failed:
            return 2;  // CORRUPT_MESSAGE
        case record_error::unsupported_codec:
        case record_error::lz4_magic0_unsupported:
            return 76;  // UNSUPPORTED_COMPRESSION_TYPE
        case record_error::unsupported_magic:
            return 43;  // UNSUPPORTED_FOR_MESSAGE_FORMAT
        default:
            return 87;  // INVALID_RECORD
    }
}

std::optional<int8_t> peek_magic(bytes_view data) {
    if (data.size() <= kMagicOffset) return std::nullopt;
    return static_cast<int8_t>(data[kMagicOffset]);
}

result<batch_header, record_error> validate_batch(bytes_view data, const validate_options& o) {
    if (data.size() < kBatchHeaderSize) {
        auto magic = peek_magic(data);
        if (magic && *magic != 2) return unexpected_error{record_error::unsupported_magic};
        return unexpected_error{record_error::truncated};
    }
    const batch_header h = *parse_batch_header(data);
    if (h.magic != 2) return unexpected_error{record_error::unsupported_magic};
    if (h.batch_length < kMinBatchLength) return unexpected_error{record_error::invalid_length};
    if (h.total_size() > data.size()) return unexpected_error{record_error::truncated};
    if (o.require_exact_size && h.total_size() != data.size())
        return unexpected_error{record_error::trailing_bytes};
    const bytes_view batch = data.first(h.total_size());
    if (o.verify_crc && compute_batch_crc(batch) != h.crc)
        return unexpected_error{record_error::crc_mismatch};

    if (!is_known_codec(h.attributes & kAttrCodecMask))
        return unexpected_error{record_error::unsupported_codec};
    if (h.record_count < 0) return unexpected_error{record_error::invalid_record_count};
    if (h.last_offset_delta < 0 || h.last_offset_delta < h.record_count - 1)
        return unexpected_error{record_error::invalid_offset_delta};
    if (h.codec() == compression_codec::none &&
        (h.total_size() - kBatchHeaderSize) / kMinRecordSize < static_cast<size_t>(h.record_count))
        return unexpected_error{record_error::invalid_record_count};
    if (o.producer) {
        if (h.record_count == 0) return unexpected_error{record_error::invalid_record_count};
        if (h.last_offset_delta != h.record_count - 1)
            return unexpected_error{record_error::invalid_offset_delta};
        if (h.is_control()) return unexpected_error{record_error::control_batch_not_allowed};
    }
    return h;
}

namespace {
// Offset deltas strictly increasing within [0, last_offset_delta]; exactly 0..n-1 for producers.
class delta_checker final : public record_visitor {
  public:
    delta_checker(int32_t last, bool producer) : last_(last), producer_(producer) {}
    bool on_record(const record_meta& r) override {
        if (r.offset_delta <= previous_ || r.offset_delta > last_ ||
            (producer_ && r.offset_delta != previous_ + 1)) {
            bad_ = true;
            return false;
        }
        previous_ = r.offset_delta;
        return true;
    }
    bool bad_ = false;
    int64_t previous_ = -1;

  private:
    int32_t last_;
    bool producer_;
};
}  // namespace

result<void, record_error> validate_records(bytes_view batch, bool producer,
                                            size_t max_decompressed) {
    auto h = parse_batch_header(batch);
    if (!h) return unexpected_error{record_error::truncated};
    if (h->magic != 2) return unexpected_error{record_error::unsupported_magic};
    if (h->batch_length < kMinBatchLength) return unexpected_error{record_error::invalid_length};
    delta_checker deltas(h->last_offset_delta, producer);
    scan_limits limits;
    limits.max_inflated = max_decompressed;
    auto scanned = scan_records(batch, *h, deltas, limits);
    if (!scanned) return unexpected_error{scanned.error()};
    if (deltas.bad_) return unexpected_error{record_error::invalid_offset_delta};
    // A producer's last record carries last_offset_delta; after compaction it may be smaller.
    if (producer && deltas.previous_ != h->last_offset_delta)
        return unexpected_error{record_error::invalid_offset_delta};
    return {};
}

// ---- record_reader ----

result<record_reader, record_error> record_reader::open(bytes_view batch, size_t max_decompressed) {
    auto parsed = parse_batch_header(batch);
    if (!parsed) return unexpected_error{record_error::truncated};
    const batch_header& h = *parsed;
    if (h.magic != 2) return unexpected_error{record_error::unsupported_magic};
    if (h.batch_length < kMinBatchLength) return unexpected_error{record_error::invalid_length};
    if (h.total_size() > batch.size()) return unexpected_error{record_error::truncated};
    if (h.record_count < 0) return unexpected_error{record_error::invalid_record_count};
    if (!is_known_codec(h.attributes & kAttrCodecMask))
        return unexpected_error{record_error::unsupported_codec};

    record_reader rr;
    rr.header_ = h;
    rr.left_ = h.record_count;
    const bytes_view section = batch.subspan(kBatchHeaderSize, h.total_size() - kBatchHeaderSize);
    if (h.codec() == compression_codec::none) {
        rr.in_ = reader(section);
    } else {
        auto d = decompress(h.codec(), section, max_decompressed);
        if (!d) return unexpected_error{from_compression(d.error())};
        rr.decompressed_ = std::move(*d);
        rr.in_ = reader(rr.decompressed_);
    }
    return rr;
}

bool record_reader::fail(record_error e) {
    error_ = e;
    done_ = true;
    return false;
}

bool record_reader::next(record_view& out) {
    if (done_) return false;
    if (left_ == 0) {
        done_ = true;
        if (in_.remaining() != 0) return fail(record_error::record_count_mismatch);
        return false;
    }
    if (in_.remaining() == 0) return fail(record_error::record_count_mismatch);
    if (!parse_record(in_, header_, out)) return fail(record_error::corrupt_record);
    --left_;
    return true;
}

result<std::vector<record>, record_error> read_records(bytes_view batch, size_t max_decompressed) {
    auto rr = record_reader::open(batch, max_decompressed);
    if (!rr) return unexpected_error{rr.error()};
    std::vector<record> out;
    // record_count is untrusted: reserve no more than the bytes could hold.
    out.reserve(std::min<size_t>(static_cast<size_t>(rr->header().record_count),
                                 batch.size() / kMinRecordSize));
    record_view v;
    auto own = [](std::optional<bytes_view> b) -> std::optional<bytes> {
        if (!b) return std::nullopt;
        return bytes(b->begin(), b->end());
    };
    while (rr->next(v)) {
        record r;
        r.key = own(v.key);
        r.value = own(v.value);
        r.timestamp = v.timestamp;
        r.offset_delta = v.offset_delta;
        r.offset = v.offset;
        r.headers.reserve(v.headers.size());
        for (const auto& hv : v.headers)
            r.headers.push_back({std::string(hv.key), own(hv.value)});
        out.push_back(std::move(r));
    }
    if (rr->error()) return unexpected_error{*rr->error()};
    return out;
}

// ---- batch_builder ----

void batch_builder::append(int64_t timestamp, std::optional<bytes_view> key,
                           std::optional<bytes_view> value, std::span<const header_view> headers,
                           int32_t offset_delta) {
    if (offset_delta < 0) offset_delta = count_;
    if (offset_delta <= last_delta_) deltas_ok_ = false;
    last_delta_ = std::max(last_delta_, offset_delta);
    if (count_ == 0) {
        base_timestamp_ = timestamp;
        max_timestamp_ = timestamp;
    } else {
        max_timestamp_ = std::max(max_timestamp_, timestamp);
    }
    const int64_t ts_delta = wrap_sub(timestamp, base_timestamp_);
    const size_t body = record_body_size(ts_delta, offset_delta, key, value, headers);
    body_.write_varint(static_cast<int32_t>(body));
    body_.write_int8(0);
    body_.write_varlong(ts_delta);
    body_.write_varint(offset_delta);
    write_varint_bytes(body_, key);
    write_varint_bytes(body_, value);
    body_.write_varint(static_cast<int32_t>(headers.size()));
    for (const auto& h : headers) {
        body_.write_varint(static_cast<int32_t>(h.key.size()));
        body_.write_raw(bytes_view(reinterpret_cast<const uint8_t*>(h.key.data()), h.key.size()));
        write_varint_bytes(body_, h.value);
    }
    ++count_;
}

void batch_builder::append(const record& r) {
    auto view = [](const std::optional<bytes>& b) -> std::optional<bytes_view> {
        if (!b) return std::nullopt;
        return bytes_view(*b);
    };
    std::vector<header_view> hs;
    hs.reserve(r.headers.size());
    for (const auto& h : r.headers)
        hs.push_back({h.key, view(h.value)});
    append(r.timestamp, view(r.key), view(r.value), hs, r.offset_delta);
}

result<bytes, record_error> batch_builder::finish() {
    if (count_ == 0 && !spec_.last_offset_delta) return unexpected_error{record_error::empty_batch};
    if (!deltas_ok_) return unexpected_error{record_error::invalid_offset_delta};
    int32_t last_delta = last_delta_;
    if (spec_.last_offset_delta) {
        if (*spec_.last_offset_delta < std::max(last_delta_, 0))
            return unexpected_error{record_error::invalid_offset_delta};
        last_delta = *spec_.last_offset_delta;
    }
    bytes out;
    if (spec_.codec == compression_codec::none) {
        out.reserve(kBatchHeaderSize + body_.size());
        out.resize(kBatchHeaderSize);
        out.insert(out.end(), body_.buffer().begin(), body_.buffer().end());
    } else {
        auto c = compress(spec_.codec, body_.buffer(), spec_.compression);
        if (!c) {
            return unexpected_error{c.error() == compression_error::unsupported_codec
                                        ? record_error::unsupported_codec
                                        : record_error::compression_failed};
        }
        out.reserve(kBatchHeaderSize + c->size());
        out.resize(kBatchHeaderSize);
        out.insert(out.end(), c->begin(), c->end());
    }
    if (out.size() - kBatchLogOverhead > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        return unexpected_error{record_error::invalid_length};
    batch_header h;
    h.base_offset = spec_.base_offset;
    h.batch_length = static_cast<int32_t>(out.size() - kBatchLogOverhead);
    h.partition_leader_epoch = spec_.partition_leader_epoch;
    h.magic = 2;
    h.attributes = static_cast<int16_t>(static_cast<uint16_t>(spec_.codec) & kAttrCodecMask);
    if (spec_.transactional) h.attributes |= kAttrTransactional;
    if (spec_.control) h.attributes |= kAttrControl;
    if (spec_.log_append_time) h.attributes |= kAttrLogAppendTime;
    h.last_offset_delta = last_delta;
    h.base_timestamp = base_timestamp_;
    h.max_timestamp = spec_.log_append_time ? *spec_.log_append_time : max_timestamp_;
    h.producer_id = spec_.producer_id;
    h.producer_epoch = spec_.producer_epoch;
    h.base_sequence = spec_.base_sequence;
    h.record_count = count_;
    write_batch_header(h, out);
    update_batch_crc(out);
    body_ = writer();
    count_ = 0;
    return out;
}

result<bytes, record_error> build_batch(const batch_spec& spec, std::span<const record> records) {
    batch_builder b(spec);
    for (const auto& r : records)
        b.append(r);
    return b.finish();
}

// ---- control batches ----

result<bytes, record_error> build_control_batch(const batch_spec& spec, const control_record& c,
                                                int64_t timestamp) {
    batch_spec s = spec;
    s.control = true;
    s.transactional = true;
    s.codec = compression_codec::none;
    writer key(4), value(6);
    key.write_int16(c.version);
    key.write_int16(static_cast<int16_t>(c.type));
    value.write_int16(c.version);
    value.write_int32(c.coordinator_epoch);
    batch_builder b(std::move(s));
    b.append(timestamp, bytes_view(key.buffer()), bytes_view(value.buffer()));
    return b.finish();
}

result<control_record, record_error> parse_control_record(const record_view& r) {
    if (!r.key || r.key->size() < 4) return unexpected_error{record_error::invalid_control_record};
    reader k(*r.key);
    control_record c;
    c.version = k.read_int16();
    const int16_t type = k.read_int16();
    if (c.version < 0 || (type != 0 && type != 1))
        return unexpected_error{record_error::invalid_control_record};
    c.type = static_cast<control_type>(type);
    if (r.value) {  // version int16 + coordinator epoch int32
        reader v(*r.value);
        v.read_int16();
        c.coordinator_epoch = v.read_int32();
        if (!v.ok()) return unexpected_error{record_error::invalid_control_record};
    } else {
        return unexpected_error{record_error::invalid_control_record};
    }
    return c;
}

// ---- stamping ----

void set_base_offset(std::span<uint8_t> batch, int64_t base_offset) {
    store_be64(batch.data(), static_cast<uint64_t>(base_offset));
}

void set_partition_leader_epoch(std::span<uint8_t> batch, int32_t epoch) {
    store_be32(batch.data() + kLeaderEpochOffset, static_cast<uint32_t>(epoch));
}

void set_log_append_time(std::span<uint8_t> batch, int64_t timestamp_ms) {
    uint16_t attrs =
        static_cast<uint16_t>((batch[kAttributesOffset] << 8) | batch[kAttributesOffset + 1]);
    attrs |= kAttrLogAppendTime;
    batch[kAttributesOffset] = static_cast<uint8_t>(attrs >> 8);
    batch[kAttributesOffset + 1] = static_cast<uint8_t>(attrs);
    store_be64(batch.data() + kMaxTimestampOffset, static_cast<uint64_t>(timestamp_ms));
    update_batch_crc(batch);
}

void update_batch_crc(std::span<uint8_t> batch) {
    store_be32(batch.data() + kCrcOffset, compute_batch_crc(batch));
}

}  // namespace rill::protocol
