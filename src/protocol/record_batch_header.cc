#include "protocol/record_batch_header.h"

#include <limits>

#include "protocol/crc32c.h"

namespace rill::protocol {
namespace {

template <typename T>
T load_be(const uint8_t* p) {
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
        v = static_cast<T>((v << 8) | p[i]);
    return v;
}

template <typename T>
void store_be(uint8_t* p, T v) {
    for (size_t i = 0; i < sizeof(T); ++i)
        p[i] = static_cast<uint8_t>(v >> (8 * (sizeof(T) - 1 - i)));
}

}  // namespace

int32_t batch_header::last_sequence() const {
    if (base_sequence < 0) return -1;
    int64_t s = static_cast<int64_t>(base_sequence) + last_offset_delta;
    if (s > std::numeric_limits<int32_t>::max())
        s -= static_cast<int64_t>(std::numeric_limits<int32_t>::max()) + 1;
    return static_cast<int32_t>(s);
}

std::optional<batch_slice> next_batch(std::span<const uint8_t>& rest) {
    auto h = parse_batch_header(rest);
    if (!h || h->batch_length < 0 || h->total_size() > rest.size()) return std::nullopt;
    batch_slice s{*h, rest.first(h->total_size())};
    rest = rest.subspan(h->total_size());
    return s;
}

std::optional<batch_header> parse_batch_header(std::span<const uint8_t> d) {
    if (d.size() < kBatchHeaderSize) return std::nullopt;
    const uint8_t* p = d.data();
    batch_header h;
    h.base_offset = static_cast<int64_t>(load_be<uint64_t>(p));
    h.batch_length = static_cast<int32_t>(load_be<uint32_t>(p + 8));
    h.partition_leader_epoch = static_cast<int32_t>(load_be<uint32_t>(p + 12));
    h.magic = static_cast<int8_t>(p[16]);
    h.crc = load_be<uint32_t>(p + 17);
    h.attributes = static_cast<int16_t>(load_be<uint16_t>(p + 21));
    h.last_offset_delta = static_cast<int32_t>(load_be<uint32_t>(p + 23));
    h.base_timestamp = static_cast<int64_t>(load_be<uint64_t>(p + 27));
    h.max_timestamp = static_cast<int64_t>(load_be<uint64_t>(p + 35));
    h.producer_id = static_cast<int64_t>(load_be<uint64_t>(p + 43));
    h.producer_epoch = static_cast<int16_t>(load_be<uint16_t>(p + 51));
    h.base_sequence = static_cast<int32_t>(load_be<uint32_t>(p + 53));
    h.record_count = static_cast<int32_t>(load_be<uint32_t>(p + 57));
    return h;
}

void write_batch_header(const batch_header& h, std::span<uint8_t> out) {
    uint8_t* p = out.data();
    store_be<uint64_t>(p, static_cast<uint64_t>(h.base_offset));
    store_be<uint32_t>(p + 8, static_cast<uint32_t>(h.batch_length));
    store_be<uint32_t>(p + 12, static_cast<uint32_t>(h.partition_leader_epoch));
    p[16] = static_cast<uint8_t>(h.magic);
    store_be<uint32_t>(p + 17, h.crc);
    store_be<uint16_t>(p + 21, static_cast<uint16_t>(h.attributes));
    store_be<uint32_t>(p + 23, static_cast<uint32_t>(h.last_offset_delta));
    store_be<uint64_t>(p + 27, static_cast<uint64_t>(h.base_timestamp));
    store_be<uint64_t>(p + 35, static_cast<uint64_t>(h.max_timestamp));
    store_be<uint64_t>(p + 43, static_cast<uint64_t>(h.producer_id));
    store_be<uint16_t>(p + 51, static_cast<uint16_t>(h.producer_epoch));
    store_be<uint32_t>(p + 53, static_cast<uint32_t>(h.base_sequence));
    store_be<uint32_t>(p + 57, static_cast<uint32_t>(h.record_count));
}

uint32_t compute_batch_crc(std::span<const uint8_t> batch) {
    return crc32c(0, batch.data() + kAttributesOffset, batch.size() - kAttributesOffset);
}

}  // namespace rill::protocol
