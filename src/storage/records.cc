#include "storage/records.h"

#include "protocol/record_scan.h"

#include "protocol/record_batch_header.h"

namespace rill::storage {

bool read_varlong(std::span<const uint8_t> d, size_t& pos, int64_t& out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (pos >= d.size()) return false;
        uint8_t b = d[pos++];
        v |= static_cast<uint64_t>(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            out = static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
            return true;
        }
    }
    return false;
}

void write_varlong(int64_t v, uint8_t* out, size_t& n) {
    uint64_t z = (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
    while (z >= 0x80) {
        out[n++] = static_cast<uint8_t>(z | 0x80);
        z >>= 7;
    }
    out[n++] = static_cast<uint8_t>(z);
}

raw_record_iterator::raw_record_iterator(std::span<const uint8_t> batch) {
    auto h = protocol::parse_batch_header(batch);
    if (!h || h->codec() != protocol::compression_codec::none || batch.size() < h->total_size()) {
        failed_ = true;
        return;
    }
    data_ = batch.subspan(0, h->total_size());
    pos_ = protocol::kBatchHeaderSize;
    left_ = h->record_count;
}

bool raw_record_iterator::next(raw_record& out) {
    if (failed_ || left_ <= 0) return false;
    size_t start = pos_;
    int64_t len = 0;
    if (!read_varlong(data_, pos_, len) || len < 0 ||
        static_cast<uint64_t>(len) > data_.size() - pos_) {
        failed_ = true;
        return false;
    }
    size_t end = pos_ + static_cast<size_t>(len);
    auto body = data_.subspan(0, end);
    size_t p = pos_;
    int64_t v = 0;
    if (p >= end) return failed_ = true, false;
    ++p;  // attributes
    if (!read_varlong(body, p, out.timestamp_delta)) return failed_ = true, false;
    if (!read_varlong(body, p, v)) return failed_ = true, false;
    out.offset_delta = static_cast<int32_t>(v);
    int64_t klen = 0;
    if (!read_varlong(body, p, klen) || klen > static_cast<int64_t>(end - p))
        return failed_ = true, false;
    if (klen < 0) {
        out.key.reset();
    } else {
        out.key = body.subspan(p, static_cast<size_t>(klen));
        p += static_cast<size_t>(klen);
    }
    int64_t vlen = 0;
    if (!read_varlong(body, p, vlen) || vlen > static_cast<int64_t>(end - p))
        return failed_ = true, false;
    if (vlen < 0) {
        out.value.reset();
    } else {
        out.value = body.subspan(p, static_cast<size_t>(vlen));
        p += static_cast<size_t>(vlen);
    }
    out.bytes = data_.subspan(start, end - start);
    pos_ = end;
    --left_;
    return true;
}

namespace {
class first_at_or_after final : public protocol::record_visitor {
  public:
    first_at_or_after(const protocol::batch_header& h, int64_t ts) : h_(h), ts_(ts) {}
    bool on_record(const protocol::record_meta& r) override {
        const int64_t t = h_.base_timestamp + r.timestamp_delta;
        if (t < ts_) return true;
        hit = std::make_pair(h_.base_offset + r.offset_delta, t);
        return false;
    }
    std::optional<std::pair<int64_t, int64_t>> hit;

  private:
    const protocol::batch_header& h_;
    int64_t ts_;
};
}  // namespace

std::optional<std::pair<int64_t, int64_t>> first_record_at_or_after(std::span<const uint8_t> batch,
                                                                    int64_t ts) {
    auto h = protocol::parse_batch_header(batch);
    if (!h) return std::nullopt;
    first_at_or_after v(*h, ts);
    auto r = protocol::scan_records(batch, *h, v);
    if (!r) return std::nullopt;
    return v.hit;
}

}  // namespace rill::storage
