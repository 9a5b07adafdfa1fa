#include "storage/producer_state.h"

#include <algorithm>
#include <limits>

#include "protocol/crc32c.h"
#include "storage/format.h"
#include "storage/logger.h"

namespace rill::storage {

namespace {
int32_t next_seq(int32_t s) {
    return s == std::numeric_limits<int32_t>::max() ? 0 : s + 1;
}
}  // namespace

const producer_entry* producer_state::find(int64_t producer_id) const {
    auto it = producers_.find(producer_id);
    return it == producers_.end() ? nullptr : &it->second;
}

result<std::optional<producer_batch>> producer_state::check(const protocol::batch_header& h) const {
    if (h.producer_id < 0 || h.is_control()) return std::optional<producer_batch>{};
    auto it = producers_.find(h.producer_id);
    if (it == producers_.end()) return std::optional<producer_batch>{};
    const producer_entry& e = it->second;
    if (h.producer_epoch < e.epoch) {
        return make_error(errc::invalid_producer_epoch,
                          "producer " + std::to_string(h.producer_id) + " epoch " +
                              std::to_string(h.producer_epoch) + " < " + std::to_string(e.epoch));
    }
    if (h.base_sequence < 0) return std::optional<producer_batch>{};
    if (h.producer_epoch > e.epoch) {
        if (h.base_sequence != 0)
            return make_error(
                errc::out_of_order_sequence,
                "new epoch must start at sequence 0, got " + std::to_string(h.base_sequence));
        return std::optional<producer_batch>{};
    }
    for (const auto& b : e.batches) {
        if (b.first_seq == h.base_sequence && b.last_seq == h.last_sequence())
            return std::optional<producer_batch>(b);
    }
    if (e.batches.empty()) return std::optional<producer_batch>{};
    int32_t expected = next_seq(e.batches.back().last_seq);
    if (h.base_sequence != expected)
        return make_error(errc::out_of_order_sequence, "expected sequence " +
                                                           std::to_string(expected) + ", got " +
                                                           std::to_string(h.base_sequence));
    return std::optional<producer_batch>{};
}

int16_t control_type_of(std::span<const uint8_t> batch) {
    // Header (61 bytes), then the first record: length, attributes, timestamp delta, offset
    // delta, key length (varints but the attributes byte), key = i16 version, i16 type.
    if (batch.size() < protocol::kBatchHeaderSize) return -1;
    size_t p = protocol::kBatchHeaderSize;
    auto varint = [&](int64_t& out) {
        uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (p >= batch.size()) return false;
            uint8_t b = batch[p++];
            v |= static_cast<uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) {
                out = static_cast<int64_t>((v >> 1) ^ (~(v & 1) + 1));
                return true;
            }
        }
        return false;
    };
    int64_t len = 0, ts = 0, od = 0, klen = 0;
    if (!varint(len)) return -1;
    if (p >= batch.size()) return -1;
    ++p;  // attributes
    if (!varint(ts) || !varint(od) || !varint(klen)) return -1;
    if (klen < 4 || batch.size() - p < 4) return -1;
    return static_cast<int16_t>((batch[p + 2] << 8) | batch[p + 3]);
}

std::vector<aborted_txn> producer_state::aborted_between(int64_t from, int64_t upper) const {
    std::vector<aborted_txn> out;
    // Markers are in offset order: skip those before `from`.
    auto it =
        std::lower_bound(aborted_.begin(), aborted_.end(), from,
                         [](const aborted_txn& a, int64_t off) { return a.last_offset < off; });
    for (; it != aborted_.end(); ++it)
        if (it->first_offset < upper) out.push_back(*it);
    std::sort(out.begin(), out.end(), [](const aborted_txn& a, const aborted_txn& b) {
        return a.first_offset < b.first_offset;
    });
    return out;
}

void producer_state::update(const protocol::batch_header& h, int16_t control_type) {
    if (h.producer_id < 0) return;
    producer_entry& e = producers_[h.producer_id];
    if (h.producer_epoch != e.epoch) {
        e.batches.clear();
        e.epoch = h.producer_epoch;
    }
    e.last_timestamp = std::max(e.last_timestamp, h.max_timestamp);
    if (h.is_control()) {
        if (e.txn_first_offset >= 0) {
            if (control_type == kControlAbort)
                aborted_.push_back(aborted_txn{h.producer_id, e.txn_first_offset, h.base_offset});
            ongoing_.erase(e.txn_first_offset);
            e.txn_first_offset = -1;
        }
        return;
    }
    if (h.is_transactional() && e.txn_first_offset < 0) {
        e.txn_first_offset = h.base_offset;
        ongoing_[h.base_offset] = h.producer_id;
    }
    if (h.base_sequence < 0) return;
    e.batches.push_back(producer_batch{h.base_sequence, h.last_sequence(), h.base_offset,
                                       h.last_offset(), h.max_timestamp});
    while (e.batches.size() > kProducerBatchesToRetain)
        e.batches.pop_front();
}

void producer_state::remove_below(int64_t log_start_offset) {
    for (auto it = producers_.begin(); it != producers_.end();) {
        const auto& b = it->second.batches;
        if (!b.empty() && b.back().last_offset < log_start_offset &&
            it->second.txn_first_offset < 0)
            it = producers_.erase(it);
        else
            ++it;
    }
    auto keep = std::find_if(aborted_.begin(), aborted_.end(), [&](const aborted_txn& a) {
        return a.last_offset >= log_start_offset;
    });
    aborted_.erase(aborted_.begin(), keep);
}

namespace {
struct out_buf {
    std::vector<uint8_t> v;
    void u8(uint8_t x) { v.push_back(x); }
    void u16(uint16_t x) {
        v.push_back(static_cast<uint8_t>(x >> 8));
        v.push_back(static_cast<uint8_t>(x));
    }
    void u32(uint32_t x) {
        size_t n = v.size();
        v.resize(n + 4);
        put_be32(&v[n], x);
    }
    void u64(uint64_t x) {
        size_t n = v.size();
        v.resize(n + 8);
        put_be64(&v[n], x);
    }
};
struct in_buf {
    std::span<const uint8_t> d;
    size_t p = 0;
    bool ok = true;
    bool need(size_t n) {
        if (d.size() - p < n) ok = false;
        return ok;
    }
    uint8_t u8() { return need(1) ? d[p++] : 0; }
    uint16_t u16() {
        if (!need(2)) return 0;
        uint16_t x = static_cast<uint16_t>((d[p] << 8) | d[p + 1]);
        p += 2;
        return x;
    }
    uint32_t u32() {
        if (!need(4)) return 0;
        uint32_t x = get_be32(&d[p]);
        p += 4;
        return x;
    }
    uint64_t u64() {
        if (!need(8)) return 0;
        uint64_t x = get_be64(&d[p]);
        p += 8;
        return x;
    }
};
}  // namespace

std::vector<uint8_t> producer_state::serialize() const {
    out_buf o;
    for (char c : std::string("RPS2"))
        o.u8(static_cast<uint8_t>(c));
    o.u32(static_cast<uint32_t>(producers_.size()));
    for (const auto& [id, e] : producers_) {
        o.u64(static_cast<uint64_t>(id));
        o.u16(static_cast<uint16_t>(e.epoch));
        o.u64(static_cast<uint64_t>(e.last_timestamp));
        o.u64(static_cast<uint64_t>(e.txn_first_offset));
        o.u8(static_cast<uint8_t>(e.batches.size()));
        for (const auto& b : e.batches) {
            o.u32(static_cast<uint32_t>(b.first_seq));
            o.u32(static_cast<uint32_t>(b.last_seq));
            o.u64(static_cast<uint64_t>(b.first_offset));
            o.u64(static_cast<uint64_t>(b.last_offset));
            o.u64(static_cast<uint64_t>(b.timestamp));
        }
    }
    o.u32(static_cast<uint32_t>(aborted_.size()));
    for (const auto& a : aborted_) {
        o.u64(static_cast<uint64_t>(a.producer_id));
        o.u64(static_cast<uint64_t>(a.first_offset));
        o.u64(static_cast<uint64_t>(a.last_offset));
    }
    o.u32(protocol::crc32c(0, o.v.data(), o.v.size()));
    return std::move(o.v);
}

result<producer_state> producer_state::deserialize(std::span<const uint8_t> data) {
    const std::string magic =
        data.size() < 12 ? std::string() : std::string(data.begin(), data.begin() + 4);
    if (magic != "RPS1" && magic != "RPS2") return make_error(errc::corrupt, "bad snapshot header");
    const bool v2 = magic == "RPS2";
    uint32_t crc = get_be32(&data[data.size() - 4]);
    if (protocol::crc32c(0, data.data(), data.size() - 4) != crc)
        return make_error(errc::corrupt, "snapshot CRC mismatch");
    in_buf in{data.subspan(0, data.size() - 4), 4};
    producer_state st;
    uint32_t n = in.u32();
    for (uint32_t i = 0; i < n && in.ok; ++i) {
        int64_t id = static_cast<int64_t>(in.u64());
        producer_entry e;
        e.epoch = static_cast<int16_t>(in.u16());
        e.last_timestamp = static_cast<int64_t>(in.u64());
        if (v2) e.txn_first_offset = static_cast<int64_t>(in.u64());
        if (e.txn_first_offset >= 0) st.ongoing_[e.txn_first_offset] = id;
        uint8_t nb = in.u8();
        for (uint8_t j = 0; j < nb && in.ok; ++j) {
            producer_batch b;
            b.first_seq = static_cast<int32_t>(in.u32());
            b.last_seq = static_cast<int32_t>(in.u32());
            b.first_offset = static_cast<int64_t>(in.u64());
            b.last_offset = static_cast<int64_t>(in.u64());
            b.timestamp = static_cast<int64_t>(in.u64());
            e.batches.push_back(b);
        }
        st.producers_[id] = std::move(e);
    }
    if (v2) {
        uint32_t na = in.u32();
        for (uint32_t i = 0; i < na && in.ok; ++i) {
            aborted_txn a;
            a.producer_id = static_cast<int64_t>(in.u64());
            a.first_offset = static_cast<int64_t>(in.u64());
            a.last_offset = static_cast<int64_t>(in.u64());
            st.aborted_.push_back(a);
        }
    }
    if (!in.ok || in.p != in.d.size()) return make_error(errc::corrupt, "snapshot truncated");
    return st;
}

result<std::vector<int64_t>> list_snapshots(file_system& fs, const std::string& dir) {
    auto names = fs.list(dir);
    if (!names) return unexpected{names.error()};
    std::vector<int64_t> out;
    for (const auto& n : *names)
        if (auto o = parse_offset_file_name(n, kSnapshotSuffix)) out.push_back(*o);
    std::sort(out.begin(), out.end());
    return out;
}

status producer_state::write_snapshot(file_system& fs, const std::string& dir, int64_t offset,
                                      size_t keep) const {
    auto data = serialize();
    std::string path = join_path(dir, offset_file_stem(offset) + kSnapshotSuffix);
    if (auto s = write_file_atomic(fs, path, data); !s) return s;
    auto snaps = list_snapshots(fs, dir);
    if (!snaps) return unexpected{snaps.error()};
    if (snaps->size() > keep) {
        for (size_t i = 0; i + keep < snaps->size(); ++i)
            (void)fs.unlink(join_path(dir, offset_file_stem((*snaps)[i]) + kSnapshotSuffix));
    }
    return {};
}

result<std::optional<int64_t>> producer_state::load_snapshot(file_system& fs,
                                                             const std::string& dir,
                                                             int64_t max_offset) {
    producers_.clear();
    auto snaps = list_snapshots(fs, dir);
    if (!snaps) return unexpected{snaps.error()};
    for (auto it = snaps->rbegin(); it != snaps->rend(); ++it) {
        std::string path = join_path(dir, offset_file_stem(*it) + kSnapshotSuffix);
        if (*it > max_offset) {
            (void)fs.unlink(path);
            continue;
        }
        auto data = read_whole_file(fs, path);
        if (!data) return unexpected{data.error()};
        auto st = deserialize(*data);
        if (!st) {
            logger()->warn("ignoring unreadable producer snapshot {}: {}", path,
                           st.error().message);
            (void)fs.unlink(path);
            continue;
        }
        *this = std::move(*st);
        return std::optional<int64_t>(*it);
    }
    return std::optional<int64_t>{};
}

}  // namespace rill::storage
