#include "storage/checkpoint.h"

#include <algorithm>
#include <iterator>
#include <sstream>

#include "protocol/crc32c.h"
#include "storage/format.h"

namespace rill::storage {

std::string with_crc_line(const std::string& body) {
    uint32_t crc = protocol::crc32c(0, body.data(), body.size());
    return body + "crc " + std::to_string(crc) + "\n";
}

std::optional<std::string> strip_crc_line(const std::string& text) {
    if (text.empty() || text.back() != '\n') return std::nullopt;
    auto pos = text.rfind("crc ", text.size() - 1);
    if (pos == std::string::npos || (pos > 0 && text[pos - 1] != '\n')) return std::nullopt;
    std::string body = text.substr(0, pos);
    std::string num = text.substr(pos + 4, text.size() - pos - 5);
    if (num.empty() || num.size() > 10) return std::nullopt;
    uint64_t v = 0;
    for (char c : num) {
        if (c < '0' || c > '9') return std::nullopt;
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v != protocol::crc32c(0, body.data(), body.size())) return std::nullopt;
    return body;
}

status write_checkpoint_files(file_system& fs, const std::string& dir, const checkpoint_files& c) {
    auto write = [&](const char* name, const std::string& text) {
        return write_file_atomic(
            fs, join_path(dir, name),
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
    };
    if (c.partition) {
        if (auto s = write(kPartitionCheckpoint, *c.partition); !s) return s;
    }
    if (c.leader_epochs) {
        if (auto s = write(kLeaderEpochCheckpoint, *c.leader_epochs); !s) return s;
    }
    if (c.clean_shutdown) return write(kCleanShutdownMarker, std::string());
    return {};
}

std::string partition_checkpoint::serialize() const {
    std::ostringstream o;
    o << "rill-partition 1\n"
      << "recovery_point " << recovery_point << "\n"
      << "log_start " << log_start << "\n"
      << "high_watermark " << high_watermark << "\n"
      << "cleaner " << cleaner_offset << "\n";
    return with_crc_line(o.str());
}

std::optional<partition_checkpoint> partition_checkpoint::parse(const std::string& text) {
    auto body = strip_crc_line(text);
    if (!body) return std::nullopt;
    std::istringstream in(*body);
    std::string magic, k1, k2, k3, k4;
    int version = 0;
    partition_checkpoint c;
    if (!(in >> magic >> version) || magic != "rill-partition" || version != 1) return std::nullopt;
    if (!(in >> k1 >> c.recovery_point >> k2 >> c.log_start >> k3 >> c.high_watermark >> k4 >>
          c.cleaner_offset))
        return std::nullopt;
    if (k1 != "recovery_point" || k2 != "log_start" || k3 != "high_watermark" || k4 != "cleaner")
        return std::nullopt;
    return c;
}

bool leader_epoch_cache::assign(int32_t epoch, int64_t offset) {
    if (epoch < 0) return false;
    if (!entries_.empty() && epoch <= entries_.back().epoch) return false;
    entries_.push_back({epoch, offset});
    return true;
}

void leader_epoch_cache::truncate_from(int64_t offset) {
    while (!entries_.empty() && entries_.back().start_offset >= offset)
        entries_.pop_back();
}

std::optional<std::pair<int32_t, int64_t>> leader_epoch_cache::end_offset_for(int32_t epoch,
                                                                              int64_t leo) const {
    for (size_t i = entries_.size(); i-- > 0;) {
        if (entries_[i].epoch <= epoch) {
            int64_t end = i + 1 < entries_.size() ? entries_[i + 1].start_offset : leo;
            return std::make_pair(entries_[i].epoch, end);
        }
    }
    return std::nullopt;
}

epoch_end_offset leader_epoch_cache::offset_for_leader_epoch(int32_t epoch, int64_t leo) const {
    if (epoch < 0 || entries_.empty()) return {};
    if (epoch == entries_.back().epoch) return {epoch, leo};
    auto hi = std::upper_bound(entries_.begin(), entries_.end(), epoch,
                               [](int32_t e, const entry& x) { return e < x.epoch; });
    if (hi == entries_.end()) return {};  // above the latest known epoch
    if (hi == entries_.begin()) return {epoch, hi->start_offset};
    return {std::prev(hi)->epoch, hi->start_offset};
}

std::optional<int32_t> leader_epoch_cache::latest_epoch() const {
    if (entries_.empty()) return std::nullopt;
    return entries_.back().epoch;
}

std::string leader_epoch_cache::serialize() const {
    std::ostringstream o;
    o << "rill-leader-epoch 1\n" << entries_.size() << "\n";
    for (const auto& e : entries_)
        o << e.epoch << " " << e.start_offset << "\n";
    return with_crc_line(o.str());
}

std::optional<leader_epoch_cache> leader_epoch_cache::parse(const std::string& text) {
    auto body = strip_crc_line(text);
    if (!body) return std::nullopt;
    std::istringstream in(*body);
    std::string magic;
    int version = 0;
    size_t n = 0;
    if (!(in >> magic >> version >> n) || magic != "rill-leader-epoch" || version != 1)
        return std::nullopt;
    leader_epoch_cache c;
    for (size_t i = 0; i < n; ++i) {
        entry e;
        if (!(in >> e.epoch >> e.start_offset)) return std::nullopt;
        if (!c.entries_.empty() &&
            (e.epoch <= c.entries_.back().epoch || e.start_offset < c.entries_.back().start_offset))
            return std::nullopt;
        c.entries_.push_back(e);
    }
    return c;
}

}  // namespace rill::storage
