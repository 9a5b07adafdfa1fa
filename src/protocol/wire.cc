#include "protocol/wire.h"

#include <bit>

namespace rill::protocol {

double reader::read_float64() {
    return std::bit_cast<double>(read_be<uint64_t>());
}

uuid reader::read_uuid() {
    uuid u;
    auto v = read_view(16);
    if (v.size() == 16) std::memcpy(u.b.data(), v.data(), 16);
    return u;
}

uint64_t reader::read_uvarlong() {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p_ >= end_) {
            fail();
            return 0;
        }
        uint8_t b = *p_++;
        if (shift == 63 && (b & 0x7e)) {  // more than 64 bits of payload
            fail();
            return 0;
        }
        v |= static_cast<uint64_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    fail();
    return 0;
}

uint32_t reader::read_uvarint() {
    uint32_t v = 0;
    for (int shift = 0; shift < 35; shift += 7) {
        if (p_ >= end_) {
            fail();
            return 0;
        }
        uint8_t b = *p_++;
        if (shift == 28 && (b & 0xf0)) {  // more than 32 bits of payload
            fail();
            return 0;
        }
        v |= static_cast<uint32_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    fail();
    return 0;
}

int32_t reader::read_varint() {
    uint32_t u = read_uvarint();
    return static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1));
}

int64_t reader::read_varlong() {
    uint64_t u = read_uvarlong();
    return static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
}

bytes_view reader::read_view(size_t n) {
    if (remaining() < n) {
        fail();
        return {};
    }
    bytes_view v(p_, n);
    p_ += n;
    return v;
}

std::optional<std::string> reader::read_nullable_string(bool compact) {
    int64_t len;
    if (compact) {
        len = static_cast<int64_t>(read_uvarint()) - 1;
    } else {
        len = read_int16();
    }
    if (!ok()) return std::nullopt;
    if (len < 0) {
        if (len != -1) fail();
        return std::nullopt;
    }
    auto v = read_view(static_cast<size_t>(len));
    if (!ok()) return std::nullopt;
    return std::string(reinterpret_cast<const char*>(v.data()), v.size());
}

std::string reader::read_string(bool compact) {
    auto s = read_nullable_string(compact);
    if (!s) {
        fail();
        return {};
    }
    return std::move(*s);
}

std::optional<bytes> reader::read_nullable_bytes(bool compact) {
    int64_t len;
    if (compact) {
        len = static_cast<int64_t>(read_uvarint()) - 1;
    } else {
        len = read_int32();
    }
    if (!ok()) return std::nullopt;
    if (len < 0) {
        if (len != -1) fail();
        return std::nullopt;
    }
    auto v = read_view(static_cast<size_t>(len));
    if (!ok()) return std::nullopt;
    return bytes(v.begin(), v.end());
}

bytes reader::read_bytes(bool compact) {
    auto b = read_nullable_bytes(compact);
    if (!b) {
        fail();
        return {};
    }
    return std::move(*b);
}

record_data reader::read_records(bool compact) {
    int64_t len = compact ? static_cast<int64_t>(read_uvarint()) - 1 : read_int32();
    if (!ok()) return {};
    if (len < 0) {
        if (len != -1) fail();
        return {};
    }
    auto v = read_view(static_cast<size_t>(len));
    if (!ok()) return {};
    return record_data::from_view(v, keepalive_);
}

int32_t reader::read_array_length(bool compact, size_t min_element_size) {
    int64_t n = compact ? static_cast<int64_t>(read_uvarint()) - 1 : read_int32();
    if (!ok()) return 0;
    if (n < 0) {
        if (n != -1) {
            fail();
            return 0;
        }
        return -1;
    }
    if (min_element_size == 0) min_element_size = 1;
    if (static_cast<uint64_t>(n) > remaining() / min_element_size) {
        fail();
        return 0;
    }
    return static_cast<int32_t>(n);
}

void writer::write_float64(double v) {
    write_be<uint64_t>(std::bit_cast<uint64_t>(v));
}

void writer::write_uvarlong(uint64_t v) {
    while (v >= 0x80) {
        buf_.push_back(static_cast<uint8_t>(v | 0x80));
        v >>= 7;
    }
    buf_.push_back(static_cast<uint8_t>(v));
}

void writer::write_string(std::string_view s, bool compact) {
    if (compact)
        write_uvarint(static_cast<uint32_t>(s.size() + 1));
    else
        write_int16(static_cast<int16_t>(s.size()));
    buf_.insert(buf_.end(), s.begin(), s.end());
}

void writer::write_nullable_string(const std::optional<std::string>& s, bool compact) {
    if (!s) {
        if (compact)
            write_uvarint(0);
        else
            write_int16(-1);
        return;
    }
    write_string(*s, compact);
}

void writer::write_bytes(bytes_view b, bool compact) {
    if (compact)
        write_uvarint(static_cast<uint32_t>(b.size() + 1));
    else
        write_int32(static_cast<int32_t>(b.size()));
    write_raw(b);
}

void writer::write_nullable_bytes(const std::optional<bytes>& b, bool compact) {
    if (!b) {
        if (compact)
            write_uvarint(0);
        else
            write_int32(-1);
        return;
    }
    write_bytes(*b, compact);
}

void writer::write_records(const record_data& r, bool compact) {
    if (r.is_null()) {
        if (compact)
            write_uvarint(0);
        else
            write_int32(-1);
        return;
    }
    size_t n = r.size();
    if (compact)
        write_uvarint(static_cast<uint32_t>(n + 1));
    else
        write_int32(static_cast<int32_t>(n));
    if (r.has_regions()) {
        for (const auto& region : r.regions()) {
            splices_.push_back(splice{buf_.size(), region});
            spliced_bytes_ += static_cast<size_t>(region.length);
        }
    } else {
        write_raw(r.view());
    }
}

void writer::write_array_length(int32_t n, bool compact) {
    if (compact)
        write_uvarint(static_cast<uint32_t>(n + 1));
    else
        write_int32(n);
}

void writer::patch_int32(size_t pos, int32_t v) {
    auto u = static_cast<uint32_t>(v);
    buf_[pos] = static_cast<uint8_t>(u >> 24);
    buf_[pos + 1] = static_cast<uint8_t>(u >> 16);
    buf_[pos + 2] = static_cast<uint8_t>(u >> 8);
    buf_[pos + 3] = static_cast<uint8_t>(u);
}

}  // namespace rill::protocol
