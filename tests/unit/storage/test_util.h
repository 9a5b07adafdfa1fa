// Helpers for storage tests: temp dirs, hand-built batches (the fault-injecting file system is
// in fault_fs.h).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "fault_fs.h"
#include "protocol/record_batch_header.h"
#include "storage/file_system.h"
#include "storage/partition_log.h"
#include "storage/records.h"

namespace rill::storage::test {

class temp_dir {
  public:
    // tmpfs (/dev/shm) when available: recovery fuzzing rewrites files thousands of times and
    // ext4's implicit flushes on rename-over would dominate the run time.
    temp_dir() {
        std::string base = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        std::string tmpl = base + "/rill-storage-XXXXXX";
        char* p = ::mkdtemp(tmpl.data());
        if (!p) std::abort();
        path_ = p;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::string& path() const { return path_; }
    std::string sub(const std::string& n) const { return path_ + "/" + n; }

  private:
    std::string path_;
};

struct rec {
    std::optional<std::string> key;
    std::optional<std::string> value;
    int64_t timestamp = 0;
};

struct batch_opts {
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int32_t base_sequence = -1;
    int32_t extra_offset_gap = 0;  // adds to last_offset_delta (compacted-style gaps)
};

inline void put_bytes(std::vector<uint8_t>& out, const std::optional<std::string>& s) {
    uint8_t tmp[16];
    size_t n = 0;
    write_varlong(s ? static_cast<int64_t>(s->size()) : -1, tmp, n);
    out.insert(out.end(), tmp, tmp + n);
    if (s) out.insert(out.end(), s->begin(), s->end());
}

inline std::vector<uint8_t> make_batch(const std::vector<rec>& recs, batch_opts o = {}) {
    protocol::batch_header h;
    h.magic = 2;
    h.producer_id = o.producer_id;
    h.producer_epoch = o.producer_epoch;
    h.base_sequence = o.base_sequence;
    h.record_count = static_cast<int32_t>(recs.size());
    h.last_offset_delta = static_cast<int32_t>(recs.size()) - 1 + o.extra_offset_gap;
    h.base_timestamp = recs.empty() ? 0 : recs.front().timestamp;
    h.max_timestamp = -1;
    for (const auto& r : recs)
        h.max_timestamp = std::max(h.max_timestamp, r.timestamp);
    std::vector<uint8_t> body;
    for (size_t i = 0; i < recs.size(); ++i) {
        std::vector<uint8_t> r;
        r.push_back(0);
        uint8_t tmp[16];
        size_t n = 0;
        write_varlong(recs[i].timestamp - h.base_timestamp, tmp, n);
        write_varlong(static_cast<int64_t>(i), tmp, n);
        r.insert(r.end(), tmp, tmp + n);
        put_bytes(r, recs[i].key);
        put_bytes(r, recs[i].value);
        r.push_back(0);  // no headers
        n = 0;
        write_varlong(static_cast<int64_t>(r.size()), tmp, n);
        body.insert(body.end(), tmp, tmp + n);
        body.insert(body.end(), r.begin(), r.end());
    }
    h.batch_length = static_cast<int32_t>(protocol::kBatchHeaderSize - protocol::kBatchLogOverhead +
                                          body.size());
    std::vector<uint8_t> out(protocol::kBatchHeaderSize);
    protocol::write_batch_header(h, out);
    out.insert(out.end(), body.begin(), body.end());
    h.crc = protocol::compute_batch_crc(out);
    protocol::write_batch_header(h, out);
    return out;
}

// A batch of `n` records of `value_size` bytes each, timestamps ts.
inline std::vector<uint8_t> make_simple(int n, size_t value_size, int64_t ts, batch_opts o = {}) {
    std::vector<rec> recs;
    for (int i = 0; i < n; ++i)
        recs.push_back({std::string("k") + std::to_string(i), std::string(value_size, 'v'), ts});
    return make_batch(recs, o);
}

// Reads the bytes a read_result points at.
inline std::vector<uint8_t> region_bytes(const read_result& r) {
    std::vector<uint8_t> out;
    for (const auto& reg : r.regions) {
        size_t at = out.size();
        out.resize(at + static_cast<size_t>(reg.length));
        ssize_t n = ::pread(reg.fd, out.data() + at, static_cast<size_t>(reg.length), reg.position);
        if (n != reg.length) std::abort();
    }
    return out;
}

// Parses consecutive batch headers.
inline std::vector<protocol::batch_header> headers_of(const std::vector<uint8_t>& bytes) {
    std::vector<protocol::batch_header> out;
    for (size_t p = 0; p + protocol::kBatchHeaderSize <= bytes.size();) {
        auto h = protocol::parse_batch_header(std::span<const uint8_t>(bytes).subspan(p));
        out.push_back(*h);
        p += h->total_size();
    }
    return out;
}

// The value of a successful result (aborts with the message otherwise).
template <typename R>
auto take(R r) {
    if (!r) {
        fprintf(stderr, "unexpected error: %s\n", r.error().message.c_str());
        std::abort();
    }
    return std::move(r.value());
}

inline partition_log::options opts_for(const std::string& dir, log_config cfg = {},
                                       std::shared_ptr<file_system> fs = nullptr) {
    partition_log::options o;
    o.fs = fs ? fs : posix_file_system();
    o.dir = dir;
    o.config = cfg;
    return o;
}

inline std::unique_ptr<partition_log> open_log(const std::string& dir, log_config cfg = {},
                                               std::shared_ptr<file_system> fs = nullptr,
                                               int64_t now = 1000) {
    auto r = partition_log::open(opts_for(dir, cfg, fs), now);
    if (!r) {
        fprintf(stderr, "open failed: %s\n", r.error().message.c_str());
        std::abort();
    }
    return std::move(*r);
}

inline append_result must_append(partition_log& log, std::vector<uint8_t> b, int64_t now = 1000,
                                 int32_t epoch = 0) {
    auto r = log.append(b, epoch, now);
    if (!r) {
        fprintf(stderr, "append failed: %s\n", r.error().message.c_str());
        std::abort();
    }
    return *r;
}

}  // namespace rill::storage::test
