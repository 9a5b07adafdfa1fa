#include "protocol/legacy_message_set.h"

#include <zlib.h>

#include <limits>

namespace rill::protocol {
namespace {

using unexpected_error = unexpected<record_error>;

constexpr size_t kEntryOverhead = 12;  // offset + message_size
constexpr size_t kMinMessageV0 =
    4 + 1 + 1 + 4 + 4;  // crc, magic, attributes, key and value lengths
constexpr size_t kMinMessageV1 = kMinMessageV0 + 8;  // + timestamp
constexpr int8_t kLegacyAttrLogAppendTime = 0x08;

struct message_view {
    int64_t offset = 0;
    int8_t magic = 0;
    int8_t attributes = 0;
    int64_t timestamp = -1;
    std::optional<bytes_view> key;
    std::optional<bytes_view> value;
};

// Parses a message set into views. Decompressed inner sets are kept alive in `buffers`.
class set_parser {
  public:
    explicit set_parser(size_t max_decompressed) : budget_(max_decompressed) {}

    std::optional<record_error> parse(bytes_view data, const message_view* wrapper) {
        reader r(data);
        while (r.remaining() > 0) {
            if (r.remaining() < kEntryOverhead) return record_error::truncated;
            const int64_t offset = r.read_int64();
            const int32_t size = r.read_int32();
            if (size < static_cast<int32_t>(kMinMessageV0)) return record_error::invalid_length;
            if (static_cast<size_t>(size) > r.remaining()) return record_error::truncated;
            if (auto e = parse_message(offset, r.read_view(static_cast<size_t>(size)), wrapper))
                return e;
        }
        return std::nullopt;
    }

    std::vector<message_view>& messages() { return messages_; }
    // The codec of the first compressed wrapper, none if there was none.
    compression_codec first_codec() const { return first_codec_; }

  private:
    std::optional<record_error> parse_message(int64_t offset, bytes_view msg,
                                              const message_view* wrapper) {
        reader r(msg);
        const uint32_t stored_crc = r.read_uint32();
        message_view m;
        m.offset = offset;
        m.magic = r.read_int8();
        if (m.magic != 0 && m.magic != 1) return record_error::unsupported_magic;
        if (m.magic == 1 && msg.size() < kMinMessageV1) return record_error::invalid_length;
        const uint32_t crc =
            static_cast<uint32_t>(crc32(0, msg.data() + 4, static_cast<uInt>(msg.size() - 4)));
        if (crc != stored_crc) return record_error::crc_mismatch;
        m.attributes = r.read_int8();
        if (m.magic == 1) m.timestamp = r.read_int64();
        auto read_bytes = [&r](std::optional<bytes_view>& out) {
            const int32_t len = r.read_int32();
            if (len == -1) return true;
            if (len < -1 || static_cast<size_t>(len) > r.remaining()) return false;
            out = r.read_view(static_cast<size_t>(len));
            return true;
        };
        if (!read_bytes(m.key) || !read_bytes(m.value)) return record_error::corrupt_record;
        if (!r.ok() || r.remaining() != 0) return record_error::corrupt_record;

        const int codec = m.attributes & 0x07;
        if (wrapper) {
            if (codec != 0) return record_error::nested_compression;
            if (m.magic != wrapper->magic) return record_error::corrupt_record;
            if (wrapper->magic == 1 && (wrapper->attributes & kLegacyAttrLogAppendTime))
                m.timestamp = wrapper->timestamp;
        }
        if (codec == 0) {
            messages_.push_back(m);
            return std::nullopt;
        }
        if (codec > 3) return record_error::unsupported_codec;  // zstd needs magic 2
        const auto c = static_cast<compression_codec>(codec);
        if (c == compression_codec::lz4 && m.magic == 0)
            return record_error::lz4_magic0_unsupported;
        if (!m.value) return record_error::corrupt_record;
        auto inner = decompress(c, *m.value, budget_);
        if (!inner) {
            return inner.error() == compression_error::output_too_large
                       ? record_error::decompressed_too_large
                       : record_error::decompression_failed;
        }
        budget_ -= inner->size();
        if (first_codec_ == compression_codec::none) first_codec_ = c;
        buffers_.push_back(std::move(*inner));
        return parse(buffers_.back(), &m);
    }

    size_t budget_;
    compression_codec first_codec_ = compression_codec::none;
    std::vector<message_view> messages_;
    std::vector<bytes> buffers_;  // moving a bytes keeps its heap block, so views stay valid
};

std::optional<bytes> own(std::optional<bytes_view> v) {
    if (!v) return std::nullopt;
    return bytes(v->begin(), v->end());
}

}  // namespace

result<std::vector<legacy_message>, record_error> read_legacy_message_set(bytes_view data,
                                                                          size_t max_decompressed) {
    set_parser p(max_decompressed);
    if (auto e = p.parse(data, nullptr)) return unexpected_error{*e};
    std::vector<legacy_message> out;
    out.reserve(p.messages().size());
    for (const auto& m : p.messages())
        out.push_back({m.offset, m.magic, m.attributes, m.timestamp, own(m.key), own(m.value)});
    return out;
}

result<bytes, record_error> convert_legacy_message_set(bytes_view data,
                                                       const legacy_convert_options& options) {
    set_parser p(options.max_decompressed);
    if (auto e = p.parse(data, nullptr)) return unexpected_error{*e};
    if (p.messages().empty()) return unexpected_error{record_error::empty_batch};
    if (p.messages().size() > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        return unexpected_error{record_error::invalid_record_count};
    batch_spec spec;
    spec.codec = options.keep_compression ? p.first_codec() : compression_codec::none;
    spec.compression = options.compression;
    batch_builder b(spec);
    for (const auto& m : p.messages())
        b.append(m.timestamp, m.key, m.value);
    return b.finish();
}

}  // namespace rill::protocol
