#include "storage/batch_scanner.h"

#include <algorithm>
#include <cstdio>

#include "storage/format.h"

namespace rill::storage {

using protocol::kBatchHeaderSize;
using protocol::kBatchLogOverhead;

std::string offset_file_stem(int64_t offset) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%020lld", static_cast<long long>(offset));
    return buf;
}

std::optional<int64_t> parse_offset_file_name(const std::string& name, const std::string& suffix) {
    if (name.size() != 20 + suffix.size()) return std::nullopt;
    if (name.compare(20, suffix.size(), suffix) != 0) return std::nullopt;
    int64_t v = 0;
    for (size_t i = 0; i < 20; ++i) {
        char c = name[i];
        if (c < '0' || c > '9') return std::nullopt;
        if (v > (INT64_MAX - (c - '0')) / 10) return std::nullopt;
        v = v * 10 + (c - '0');
    }
    return v;
}

namespace {
constexpr size_t kScanChunk = 256 * 1024;
constexpr int32_t kMinBatchLength = static_cast<int32_t>(kBatchHeaderSize - kBatchLogOverhead);

std::string check_header(const protocol::batch_header& h) {
    if (h.batch_length < kMinBatchLength) return "batch length too small";
    if (h.magic != 2) return "magic is not 2";
    if (h.last_offset_delta < 0) return "negative last offset delta";
    if (h.record_count < 0) return "negative record count";
    if (static_cast<int64_t>(h.record_count) > static_cast<int64_t>(h.last_offset_delta) + 1)
        return "more records than offsets";
    if (h.base_offset < 0) return "negative base offset";
    return {};
}
}  // namespace

std::string check_batch(std::span<const uint8_t> batch, const protocol::batch_header& h) {
    if (auto r = check_header(h); !r.empty()) return r;
    if (batch.size() != h.total_size()) return "batch size mismatch";
    if (protocol::compute_batch_crc(batch) != h.crc) return "CRC mismatch";
    return {};
}

batch_scanner::batch_scanner(file& f, uint64_t start, uint64_t end, bool validate)
    : f_(f), pos_(start), end_(end), validate_(validate) {}

bool batch_scanner::ensure(uint64_t pos, size_t n) {
    if (pos >= buf_start_ && pos + n <= buf_start_ + buf_len_) return true;
    size_t want = validate_ ? std::max(n, kScanChunk) : n;
    want = static_cast<size_t>(std::min<uint64_t>(want, end_ - pos));
    if (want < n) return false;
    if (buf_.size() < want) buf_.resize(want);
    auto r = f_.pread(pos, std::span<uint8_t>(buf_.data(), want));
    if (!r) {
        err_ = r.error().message;
        buf_len_ = 0;
        return false;
    }
    buf_start_ = pos;
    buf_len_ = *r;
    return buf_len_ >= n;
}

scanned_batch batch_scanner::next() {
    scanned_batch out;
    out.position = pos_;
    if (pos_ >= end_) return out;  // end
    err_.clear();
    if (end_ - pos_ < kBatchHeaderSize || !ensure(pos_, kBatchHeaderSize)) {
        out.status = err_.empty() ? scan_status::invalid : scan_status::io_error;
        out.reason = err_.empty() ? "truncated batch header" : err_;
        return out;
    }
    const uint8_t* p = buf_.data() + (pos_ - buf_start_);
    out.header = *protocol::parse_batch_header(std::span<const uint8_t>(p, kBatchHeaderSize));
    if (auto r = check_header(out.header); !r.empty()) {
        out.status = scan_status::invalid;
        out.reason = r;
        return out;
    }
    size_t total = out.header.total_size();
    if (total > end_ - pos_) {
        out.status = scan_status::invalid;
        out.reason = "truncated batch";
        return out;
    }
    if (validate_) {
        if (!ensure(pos_, total)) {
            out.status = err_.empty() ? scan_status::invalid : scan_status::io_error;
            out.reason = err_.empty() ? "truncated batch" : err_;
            return out;
        }
        out.body = std::span<const uint8_t>(buf_.data() + (pos_ - buf_start_), total);
        if (auto r = check_batch(out.body, out.header); !r.empty()) {
            out.status = scan_status::invalid;
            out.reason = r;
            return out;
        }
    }
    out.status = scan_status::ok;
    pos_ += total;
    return out;
}

}  // namespace rill::storage
