#include "coordinator/offsets_records.h"

#include <algorithm>

#include "coordinator/group_coordinator.h"
#include "protocol/generated/group_metadata_key.h"
#include "protocol/generated/offset_commit_key.h"

namespace rill::coordinator {

namespace m = protocol::messages;

protocol::bytes encode_offset_key(const offset_key& k) {
    m::offset_commit_key key;
    key.group = k.group;
    key.topic = k.topic;
    key.partition = k.partition;
    protocol::writer w;
    w.write_int16(1);
    key.encode(w, 1);
    return w.take();
}

protocol::bytes encode_group_key(const std::string& group) {
    m::group_metadata_key key;
    key.group = group;
    protocol::writer w;
    w.write_int16(2);
    key.encode(w, 2);
    return w.take();
}

protocol::bytes encode_offset_value(const m::offset_commit_value& v) {
    int16_t version = v.expire_timestamp >= 0 ? 1 : 3;
    protocol::writer w;
    w.write_int16(version);
    v.encode(w, version);
    return w.take();
}

protocol::bytes encode_group_value(const m::group_metadata_value& v) {
    protocol::writer w;
    w.write_int16(3);
    v.encode(w, 3);
    return w.take();
}

std::optional<record_key> decode_key(protocol::bytes_view b) {
    protocol::reader r(b);
    int16_t version = r.read_int16();
    if (!r.ok()) return std::nullopt;
    if (version == 0 || version == 1) {
        m::offset_commit_key k;
        k.decode(r, version);
        if (!r.ok()) return std::nullopt;
        return offset_key{std::move(k.group), std::move(k.topic), k.partition};
    }
    if (version == 2) {
        m::group_metadata_key k;
        k.decode(r, version);
        if (!r.ok()) return std::nullopt;
        return group_key{std::move(k.group)};
    }
    return other_key{version};
}

std::optional<m::offset_commit_value> decode_offset_value(protocol::bytes_view b) {
    protocol::reader r(b);
    int16_t version = r.read_int16();
    if (!r.ok() || version < 0 || version > m::offset_commit_value::max_version)
        return std::nullopt;
    m::offset_commit_value v;
    v.decode(r, version);
    if (!r.ok()) return std::nullopt;
    return v;
}

std::optional<m::group_metadata_value> decode_group_value(protocol::bytes_view b) {
    protocol::reader r(b);
    int16_t version = r.read_int16();
    if (!r.ok() || version < 0 || version > m::group_metadata_value::max_version)
        return std::nullopt;
    m::group_metadata_value v;
    v.decode(r, version);
    if (!r.ok()) return std::nullopt;
    return v;
}

int32_t java_string_hash(const std::string& s) {
    uint32_t h = 0;
    auto unit = [&h](uint32_t u) { h = h * 31u + u; };
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    while (p < end) {
        uint32_t c = *p;
        int extra = 0;
        uint32_t min = 0;
        if (c < 0x80) {
            extra = 0;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1;
            c &= 0x1F;
            min = 0x80;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2;
            c &= 0x0F;
            min = 0x800;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3;
            c &= 0x07;
            min = 0x10000;
        } else {
            unit(0xFFFD);
            ++p;
            continue;
        }
        if (end - p <= extra) {
            unit(0xFFFD);
            break;
        }
        bool ok = true;
        for (int i = 1; i <= extra; ++i) {
            if ((p[i] & 0xC0) != 0x80) {
                ok = false;
                break;
            }
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (!ok || c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            unit(0xFFFD);
            ++p;
            continue;
        }
        p += extra + 1;
        if (c >= 0x10000) {
            c -= 0x10000;
            unit(0xD800 + (c >> 10));
            unit(0xDC00 + (c & 0x3FF));
        } else {
            unit(c);
        }
    }
    return static_cast<int32_t>(h);
}

int32_t partition_for_group(const std::string& group_id, int32_t partitions) {
    int32_t h = java_string_hash(group_id);
    // Kafka's Utils.abs: Integer.MIN_VALUE maps to 0.
    int32_t a = h == std::numeric_limits<int32_t>::min() ? 0 : (h < 0 ? -h : h);
    return partitions > 0 ? a % partitions : 0;
}

}  // namespace rill::coordinator
