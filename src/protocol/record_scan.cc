#include "protocol/record_scan.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <type_traits>

#include "protocol/decompressor.h"

namespace rill::protocol {
namespace {

using unexpected_error = unexpected<record_error>;

constexpr size_t kChunk = 64 * 1024;  // inflated bytes held at once
constexpr size_t kMaxVarlong = 10;

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

// The records section of an uncompressed batch: all bytes at hand.
class view_source {
  public:
    explicit view_source(bytes_view v)
        : begin_(v.data()), p_(v.data()), end_(v.data() + v.size()) {}
    const uint8_t* data() const { return p_; }
    size_t available() const { return static_cast<size_t>(end_ - p_); }
    bool refill(size_t) { return true; }
    void consume(size_t n) { p_ += n; }
    bool skip(size_t n) {
        if (available() < n) return false;
        p_ += n;
        return true;
    }
    template <typename F>
    bool deliver(size_t n, F&& f) {
        if (available() < n) return false;
        f(bytes_view(p_, n));
        p_ += n;
        return true;
    }
    bool at_end() const { return p_ == end_; }
    size_t consumed() const { return static_cast<size_t>(p_ - begin_); }
    std::optional<record_error> error() const { return std::nullopt; }
    size_t inflated() const { return consumed(); }

  private:
    const uint8_t* begin_;
    const uint8_t* p_;
    const uint8_t* end_;
};

// The records section of a compressed batch, inflated kChunk bytes at a time.
class stream_source {
  public:
    stream_source(decompressor& d, size_t max_inflated) : d_(d), max_inflated_(max_inflated) {}
    const uint8_t* data() const { return buf_->data() + pos_; }
    size_t available() const { return end_ - pos_; }
    // Makes at least min(want, kChunk) bytes available unless the stream ends first. False on a
    // decompression error or when the inflated size passes the limit (error() tells).
    bool refill(size_t want) {
        want = std::min(want, kChunk);
        // After an error (the inflate limit included) nothing more is inflated.
        if (error_) return false;
        if (available() >= want || done_) return true;
        if (pos_ > 0) {
            std::memmove(buf_->data(), buf_->data() + pos_, available());
            base_ += pos_;
            end_ -= pos_;
            pos_ = 0;
        }
        while (end_ < want && !done_) {
            auto n = d_.read(std::span<uint8_t>(buf_->data() + end_, kChunk - end_));
            if (!n) {
                error_ = from_compression(n.error());
                return false;
            }
            if (*n == 0) {
                done_ = true;
                break;
            }
            end_ += *n;
            inflated_ += *n;
            if (inflated_ > max_inflated_) {
                error_ = record_error::decompressed_too_large;
                return false;
            }
        }
        return true;
    }
    void consume(size_t n) { pos_ += n; }
    bool skip(size_t n) {
        return deliver(n, [](bytes_view) {});
    }
    template <typename F>
    bool deliver(size_t n, F&& f) {
        while (n > 0) {
            if (available() == 0 && (!refill(kChunk) || available() == 0)) return false;
            const size_t k = std::min(n, available());
            f(bytes_view(data(), k));
            pos_ += k;
            n -= k;
        }
        return true;
    }
    bool at_end() {
        if (available() > 0) return false;
        refill(1);
        return available() == 0;
    }
    size_t consumed() const { return base_ + pos_; }
    std::optional<record_error> error() const { return error_; }
    size_t inflated() const { return inflated_; }

  private:
    decompressor& d_;
    size_t max_inflated_;
    std::unique_ptr<std::array<uint8_t, kChunk>> buf_ =
        std::make_unique<std::array<uint8_t, kChunk>>();
    size_t pos_ = 0, end_ = 0;
    size_t base_ = 0;  // stream offset of buf_[0]
    size_t inflated_ = 0;
    bool done_ = false;
    std::optional<record_error> error_;
};

// Reads an unsigned LEB128 varint of at most `max_bytes` bytes.
template <typename Source>
bool read_uvarint(Source& s, size_t max_bytes, uint64_t& out) {
    if (s.available() < max_bytes && !s.refill(max_bytes)) return false;
    const uint8_t* p = s.data();
    const size_t n = std::min(s.available(), max_bytes);
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
        v |= uint64_t{p[i] & 0x7fu} << (7 * i);
        if ((p[i] & 0x80) == 0) {
            if (max_bytes == 5 && v > 0xffffffffu) return false;
            out = v;
            s.consume(i + 1);
            return true;
        }
    }
    return false;  // unterminated or too long
}

template <typename Source>
bool read_varint(Source& s, int32_t& out) {
    uint64_t u;
    if (!read_uvarint(s, 5, u)) return false;
    const uint32_t v = static_cast<uint32_t>(u);
    out = static_cast<int32_t>((v >> 1) ^ (~(v & 1) + 1));
    return true;
}

template <typename Source>
bool read_varlong(Source& s, int64_t& out) {
    uint64_t u;
    if (!read_uvarint(s, kMaxVarlong, u)) return false;
    out = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
}

template <typename Source>
bool parse_body(Source& s, record_meta& m, record_visitor* sink);

// Parses one record into `m`; false when malformed. With `sink`, key and value bytes go to
// sink->on_data().
template <typename Source>
bool parse_record(Source& s, record_meta& m, record_visitor* sink) {
    if (!read_varint(s, m.size) || m.size < 0) return false;
    if constexpr (!std::is_same_v<Source, view_source>) {
        // Fast path: the whole record is in the chunk; parse it as a view.
        if (s.available() < static_cast<size_t>(m.size)) s.refill(static_cast<size_t>(m.size));
        if (s.available() >= static_cast<size_t>(m.size)) {
            view_source v(bytes_view(s.data(), static_cast<size_t>(m.size)));
            if (!parse_body(v, m, sink)) return false;
            s.consume(static_cast<size_t>(m.size));
            return true;
        }
    }
    return parse_body(s, m, sink);
}

// Parses the fields after the length (m.size) and checks they fill exactly m.size bytes.
template <typename Source>
bool parse_body(Source& s, record_meta& m, record_visitor* sink) {
    const size_t start = s.consumed();
    const size_t size = static_cast<size_t>(m.size);
    auto used = [&] { return s.consumed() - start; };
    // Skips a nullable field of `len` bytes, never past the record's end.
    auto skip_field = [&](int32_t len, int32_t min_len) {
        if (len < min_len) return false;
        if (len <= 0) return true;
        if (static_cast<size_t>(len) > size - std::min(size, used())) return false;
        return s.skip(static_cast<size_t>(len));
    };
    if (!s.refill(1) || s.available() < 1) return false;
    m.attributes = static_cast<int8_t>(*s.data());
    s.consume(1);
    if (!read_varlong(s, m.timestamp_delta) || !read_varint(s, m.offset_delta)) return false;
    // Key and value: skipped, or handed to the sink.
    auto data_field = [&](int32_t len, record_field f) {
        if (!sink || len <= 0) return skip_field(len, -1);
        if (static_cast<size_t>(len) > size - std::min(size, used())) return false;
        return s.deliver(static_cast<size_t>(len),
                         [&](bytes_view piece) { sink->on_data(f, piece); });
    };
    if (!read_varint(s, m.key_size) || !data_field(m.key_size, record_field::key)) return false;
    if (!read_varint(s, m.value_size) || !data_field(m.value_size, record_field::value))
        return false;
    if (!read_varint(s, m.header_count) || m.header_count < 0) return false;
    for (int32_t i = 0; i < m.header_count; ++i) {
        // Each header takes at least two bytes: a lying count ends at the record's end.
        if (used() >= size) return false;
        int32_t key_len, value_len;
        if (!read_varint(s, key_len) || !skip_field(key_len, 0)) return false;
        if (!read_varint(s, value_len) || !skip_field(value_len, -1)) return false;
    }
    return used() == size;
}

template <typename Source>
result<scan_result, record_error> scan(Source& s, const batch_header& h, record_visitor& v) {
    scan_result out;
    record_meta m;
    for (int32_t i = 0; i < h.record_count; ++i) {
        if (s.at_end()) {
            if (auto e = s.error()) return unexpected_error{*e};
            return unexpected_error{record_error::record_count_mismatch};
        }
        m.index = i;
        if (!parse_record(s, m, v.wants_data ? &v : nullptr)) {
            if (auto e = s.error()) return unexpected_error{*e};
            return unexpected_error{record_error::corrupt_record};
        }
        ++out.records;
        if (!v.on_record(m)) {
            out.stopped = true;
            out.inflated = s.inflated();
            return out;
        }
    }
    if (!s.at_end()) {
        if (auto e = s.error()) return unexpected_error{*e};
        return unexpected_error{record_error::record_count_mismatch};  // bytes after the last
    }
    if (auto e = s.error()) return unexpected_error{*e};
    out.inflated = s.inflated();
    return out;
}

bytes_view records_section(bytes_view batch, const batch_header& h) {
    return batch.subspan(kBatchHeaderSize, h.total_size() - kBatchHeaderSize);
}

}  // namespace

result<size_t, record_error> scan_memory(bytes_view batch, const batch_header& h,
                                         const scan_limits& limits) {
    if (h.codec() == compression_codec::none) return size_t{0};
    auto d = decompressor::open(h.codec(), records_section(batch, h), limits.max_memory);
    if (!d) return unexpected_error{from_compression(d.error())};
    return kChunk + (*d)->memory();
}

result<scan_result, record_error> scan_records(bytes_view batch, const batch_header& h,
                                               record_visitor& visitor, const scan_limits& limits) {
    if (h.total_size() > batch.size() || h.total_size() < kBatchHeaderSize)
        return unexpected_error{record_error::truncated};
    if (!is_known_codec(h.attributes & kAttrCodecMask))
        return unexpected_error{record_error::unsupported_codec};
    if (h.record_count < 0) return unexpected_error{record_error::invalid_record_count};
    const bytes_view section = records_section(batch, h);
    if (h.codec() == compression_codec::none) {
        if (section.size() > limits.max_inflated)
            return unexpected_error{record_error::decompressed_too_large};
        view_source s(section);
        return scan(s, h, visitor);
    }
    auto d = decompressor::open(h.codec(), section, limits.max_memory);
    if (!d) return unexpected_error{from_compression(d.error())};
    stream_source s(**d, limits.max_inflated);
    return scan(s, h, visitor);
}

}  // namespace rill::protocol
