// Kafka wire primitives: a bounds-checked reader and an appending writer.
//
// The reader has a sticky failure flag: once any read runs past the end or meets an invalid
// encoding, it is marked failed, every later read returns a zero value, and ok() is false.
// Callers (the generated codecs) check ok() after decoding, and before any allocation whose size
// comes from the input (array_length() refuses counts the remaining bytes cannot hold).
//
// The writer appends big-endian integers, varints and length-prefixed data to a byte buffer. A
// `records` field may instead reference file regions (for sendfile); the writer keeps those as
// splices: a position in the buffer where the region's bytes belong on the wire.
//
// Thread-safety: none; both are plain values used by one thread at a time.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rill::protocol {

using bytes = std::vector<uint8_t>;
using bytes_view = std::span<const uint8_t>;

// A 16-byte UUID (topic ids). All zeros means "none".
struct uuid {
    std::array<uint8_t, 16> b{};
    bool is_zero() const {
        for (auto x : b)
            if (x) return false;
        return true;
    }
    friend bool operator==(const uuid&, const uuid&) = default;
    friend auto operator<=>(const uuid&, const uuid&) = default;
};

// A contiguous part of an open file, sent with sendfile. `keepalive` holds whatever keeps the
// descriptor open (a segment handle) until the bytes are on the wire.
struct file_region {
    int fd = -1;
    int64_t position = 0;
    int64_t length = 0;
    std::shared_ptr<const void> keepalive;
};

// The value of a `records` field: null, in-memory bytes, or a list of file regions.
// In-memory bytes are either owned (`owned`) or a view into a buffer kept alive by `keepalive`
// (decoding views the request frame without copying it).
class record_data {
  public:
    record_data() = default;  // null
    static record_data from_bytes(bytes b) {
        record_data r;
        r.owned_ = std::make_shared<bytes>(std::move(b));
        r.view_ = bytes_view(*r.owned_);
        r.null_ = false;
        return r;
    }
    static record_data from_view(bytes_view v, std::shared_ptr<const void> keepalive) {
        record_data r;
        r.view_ = v;
        r.keepalive_ = std::move(keepalive);
        r.null_ = false;
        return r;
    }
    static record_data from_regions(std::vector<file_region> regions) {
        record_data r;
        r.regions_ = std::move(regions);
        r.null_ = false;
        return r;
    }

    bool is_null() const { return null_; }
    bool has_regions() const { return !regions_.empty(); }
    // REQUIRES: !has_regions(). The in-memory bytes (empty when null).
    bytes_view view() const { return view_; }
    const std::vector<file_region>& regions() const { return regions_; }
    // Total byte length on the wire (0 when null).
    size_t size() const {
        if (!regions_.empty()) {
            size_t n = 0;
            for (const auto& r : regions_)
                n += static_cast<size_t>(r.length);
            return n;
        }
        return view_.size();
    }
    friend bool operator==(const record_data& a, const record_data& b) {
        if (a.null_ != b.null_) return false;
        if (a.has_regions() || b.has_regions()) return false;  // regions compare by identity only
        return a.view_.size() == b.view_.size() &&
               (a.view_.empty() ||
                std::memcmp(a.view_.data(), b.view_.data(), a.view_.size()) == 0);
    }

  private:
    bool null_ = true;
    bytes_view view_;
    std::shared_ptr<bytes> owned_;
    std::shared_ptr<const void> keepalive_;
    std::vector<file_region> regions_;
};

class reader {
  public:
    reader() = default;
    explicit reader(bytes_view data, std::shared_ptr<const void> keepalive = {})
        : p_(data.data()), end_(data.data() + data.size()), keepalive_(std::move(keepalive)) {}

    bool ok() const { return !failed_; }
    void fail() {
        failed_ = true;
        p_ = end_;
    }
    size_t remaining() const { return static_cast<size_t>(end_ - p_); }
    const uint8_t* position() const { return p_; }
    // The buffer owner handed to views (records fields) taken from this reader.
    const std::shared_ptr<const void>& keepalive() const { return keepalive_; }

    int8_t read_int8() { return static_cast<int8_t>(read_be<uint8_t>()); }
    int16_t read_int16() { return static_cast<int16_t>(read_be<uint16_t>()); }
    uint16_t read_uint16() { return read_be<uint16_t>(); }
    int32_t read_int32() { return static_cast<int32_t>(read_be<uint32_t>()); }
    uint32_t read_uint32() { return read_be<uint32_t>(); }
    int64_t read_int64() { return static_cast<int64_t>(read_be<uint64_t>()); }
    double read_float64();
    bool read_bool() { return read_be<uint8_t>() != 0; }
    uuid read_uuid();

    // Unsigned LEB128 varint of at most 5 bytes (32 bits).
    uint32_t read_uvarint();
    // Unsigned LEB128 varint of at most 10 bytes (64 bits).
    uint64_t read_uvarlong();
    // Zig-zag signed varints (record fields).
    int32_t read_varint();
    int64_t read_varlong();

    // Strings: int16 length (-1 null) or, when compact, uvarint length+1 (0 null).
    // A null read by the non-nullable variant fails the reader.
    std::string read_string(bool compact);
    std::optional<std::string> read_nullable_string(bool compact);
    // Bytes: int32 length (-1 null) or compact uvarint length+1.
    bytes read_bytes(bool compact);
    std::optional<bytes> read_nullable_bytes(bool compact);
    // A records field: a nullable bytes field viewed (not copied) in the input.
    record_data read_records(bool compact);

    // An array length: int32 (-1 null) or compact uvarint N+1 (0 null). Returns -1 for null.
    // Fails (and returns 0) when the count times `min_element_size` exceeds what remains, so a
    // hostile length never leads to a large allocation.
    int32_t read_array_length(bool compact, size_t min_element_size = 1);

    // Views the next n bytes and advances; an empty view (and failure) if fewer remain.
    bytes_view read_view(size_t n);
    void skip(size_t n) { (void)read_view(n); }

  private:
    template <typename T>
    T read_be() {
        if (remaining() < sizeof(T)) {
            fail();
            return 0;
        }
        T v = 0;
        for (size_t i = 0; i < sizeof(T); ++i)
            v = static_cast<T>((v << 8) | p_[i]);
        p_ += sizeof(T);
        return v;
    }

    const uint8_t* p_ = nullptr;
    const uint8_t* end_ = nullptr;
    bool failed_ = false;
    std::shared_ptr<const void> keepalive_;
};

class writer {
  public:
    writer() = default;
    explicit writer(size_t reserve) { buf_.reserve(reserve); }

    void write_int8(int8_t v) { buf_.push_back(static_cast<uint8_t>(v)); }
    void write_int16(int16_t v) { write_be<uint16_t>(static_cast<uint16_t>(v)); }
    void write_uint16(uint16_t v) { write_be<uint16_t>(v); }
    void write_int32(int32_t v) { write_be<uint32_t>(static_cast<uint32_t>(v)); }
    void write_uint32(uint32_t v) { write_be<uint32_t>(v); }
    void write_int64(int64_t v) { write_be<uint64_t>(static_cast<uint64_t>(v)); }
    void write_float64(double v);
    void write_bool(bool v) { buf_.push_back(v ? 1 : 0); }
    void write_uuid(const uuid& u) { buf_.insert(buf_.end(), u.b.begin(), u.b.end()); }

    void write_uvarint(uint32_t v) { write_uvarlong(v); }
    void write_uvarlong(uint64_t v);
    void write_varint(int32_t v) {
        write_uvarlong(static_cast<uint32_t>((static_cast<uint32_t>(v) << 1) ^
                                             static_cast<uint32_t>(v >> 31)));
    }
    void write_varlong(int64_t v) {
        write_uvarlong((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
    }

    void write_string(std::string_view s, bool compact);
    void write_nullable_string(const std::optional<std::string>& s, bool compact);
    void write_bytes(bytes_view b, bool compact);
    void write_nullable_bytes(const std::optional<bytes>& b, bool compact);
    void write_records(const record_data& r, bool compact);
    // -1 (null) or a count.
    void write_array_length(int32_t n, bool compact);
    void write_raw(bytes_view b) { buf_.insert(buf_.end(), b.begin(), b.end()); }

    size_t size() const { return buf_.size(); }
    // Total size on the wire: buffer plus spliced file regions.
    size_t wire_size() const { return buf_.size() + spliced_bytes_; }
    bytes& buffer() { return buf_; }
    const bytes& buffer() const { return buf_; }
    bytes take() { return std::move(buf_); }

    // A file region whose bytes go on the wire at buffer position `at`.
    struct splice {
        size_t at;
        file_region region;
    };
    const std::vector<splice>& splices() const { return splices_; }
    std::vector<splice> take_splices() { return std::move(splices_); }

    // Overwrites 4 bytes at `pos` with a big-endian int32 (size prefixes).
    void patch_int32(size_t pos, int32_t v);

  private:
    template <typename T>
    void write_be(T v) {
        uint8_t tmp[sizeof(T)];
        for (size_t i = 0; i < sizeof(T); ++i)
            tmp[i] = static_cast<uint8_t>(v >> (8 * (sizeof(T) - 1 - i)));
        buf_.insert(buf_.end(), tmp, tmp + sizeof(T));
    }

    bytes buf_;
    std::vector<splice> splices_;
    size_t spliced_bytes_ = 0;
};

// Encoded sizes of the variable-length primitives.
inline size_t uvarint_size(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        ++n;
    }
    return n;
}
inline size_t varint_size(int32_t v) {
    return uvarint_size(
        static_cast<uint32_t>((static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31)));
}
inline size_t varlong_size(int64_t v) {
    return uvarint_size((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
}
// Size of a length prefix: int16/int32 when not compact, uvarint(len+1) when compact.
inline size_t string_length_size(size_t len, bool compact) {
    return compact ? uvarint_size(len + 1) : 2;
}
inline size_t bytes_length_size(size_t len, bool compact) {
    return compact ? uvarint_size(len + 1) : 4;
}
inline size_t array_length_size(int32_t n, bool compact) {
    return compact ? uvarint_size(static_cast<uint64_t>(n) + 1) : 4;
}

}  // namespace rill::protocol
