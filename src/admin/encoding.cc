#include "admin/encoding.h"

#include <array>

namespace rill::admin {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

}  // namespace

std::string base64_encode(std::span<const uint8_t> data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        uint32_t v = (uint32_t(data[i]) << 16) | (uint32_t(data[i + 1]) << 8) | data[i + 2];
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(kAlphabet[(v >> 6) & 63]);
        out.push_back(kAlphabet[v & 63]);
    }
    if (size_t rest = data.size() - i; rest > 0) {
        uint32_t v = uint32_t(data[i]) << 16;
        if (rest == 2) v |= uint32_t(data[i + 1]) << 8;
        out.push_back(kAlphabet[(v >> 18) & 63]);
        out.push_back(kAlphabet[(v >> 12) & 63]);
        out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
        out.push_back('=');
    }
    return out;
}

std::optional<protocol::bytes> base64_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=')
        text.remove_suffix(1);
    if (text.size() % 4 == 1) return std::nullopt;
    protocol::bytes out;
    out.reserve(text.size() * 3 / 4);
    uint32_t acc = 0;
    int bits = 0;
    for (char c : text) {
        int v = b64_value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<uint8_t>((acc >> bits) & 0xff));
        }
    }
    return out;
}

bool valid_utf8(std::span<const uint8_t> d) {
    size_t i = 0;
    while (i < d.size()) {
        uint8_t c = d[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + n >= d.size()) return false;
        for (size_t k = 1; k <= n; ++k) {
            if ((d[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (d[i + k] & 0x3f);
        }
        // Overlong forms, surrogates and out-of-range code points.
        static constexpr std::array<uint32_t, 4> kMin = {0, 0x80, 0x800, 0x10000};
        if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

int32_t murmur2(std::span<const uint8_t> data) {
    const uint32_t seed = 0x9747b28c;
    const uint32_t m = 0x5bd1e995;
    const int r = 24;
    const size_t length = data.size();
    uint32_t h = seed ^ static_cast<uint32_t>(length);
    const size_t blocks = length / 4;
    for (size_t i = 0; i < blocks; ++i) {
        const size_t o = i * 4;
        uint32_t k = uint32_t(data[o]) | (uint32_t(data[o + 1]) << 8) |
                     (uint32_t(data[o + 2]) << 16) | (uint32_t(data[o + 3]) << 24);
        k *= m;
        k ^= k >> r;
        k *= m;
        h *= m;
        h ^= k;
    }
    const size_t tail = blocks * 4;
    switch (length % 4) {
        case 3:
            h ^= uint32_t(data[tail + 2]) << 16;
            [[fallthrough]];
        case 2:
            h ^= uint32_t(data[tail + 1]) << 8;
            [[fallthrough]];
        case 1:
            h ^= uint32_t(data[tail]);
            h *= m;
    }
    h ^= h >> 13;
    h *= m;
    h ^= h >> 15;
    return static_cast<int32_t>(h);
}

int32_t partition_for_key(std::span<const uint8_t> key, int32_t partitions) {
    if (partitions <= 0) return 0;
    return static_cast<int32_t>((static_cast<uint32_t>(murmur2(key)) & 0x7fffffffu) %
                                static_cast<uint32_t>(partitions));
}

result<std::optional<protocol::bytes>, std::string> decode_produce_data(
    const nlohmann::ordered_json* field, std::string_view what) {
    using R = result<std::optional<protocol::bytes>, std::string>;
    if (!field || field->is_null()) return R(std::optional<protocol::bytes>());
    if (!field->is_object())
        return unexpected{std::string(what) + " must be an object {\"type\", \"data\"}"};
    std::string type = "JSON";
    if (auto t = field->find("type"); t != field->end()) {
        if (!t->is_string()) return unexpected{std::string(what) + ".type must be a string"};
        type = t->get<std::string>();
    }
    auto d = field->find("data");
    if (d == field->end() || d->is_null()) return R(std::optional<protocol::bytes>());
    if (type == "BINARY") {
        if (!d->is_string())
            return unexpected{std::string(what) + ".data must be a base64 string for BINARY"};
        auto b = base64_decode(d->get_ref<const std::string&>());
        if (!b) return unexpected{std::string(what) + ".data is not valid base64"};
        return R(std::optional<protocol::bytes>(std::move(*b)));
    }
    if (type == "STRING") {
        if (!d->is_string())
            return unexpected{std::string(what) + ".data must be a string for STRING"};
        const auto& s = d->get_ref<const std::string&>();
        return R(std::optional<protocol::bytes>(protocol::bytes(s.begin(), s.end())));
    }
    if (type == "JSON") {
        std::string s = d->dump();
        return R(std::optional<protocol::bytes>(protocol::bytes(s.begin(), s.end())));
    }
    return unexpected{std::string(what) + ".type '" + type +
                      "' is not supported (BINARY, JSON or STRING)"};
}

nlohmann::ordered_json encode_record_data(const std::optional<protocol::bytes_view>& data) {
    if (!data) return nullptr;
    nlohmann::ordered_json j;
    if (valid_utf8(*data)) {
        j["type"] = "STRING";
        j["data"] = std::string(reinterpret_cast<const char*>(data->data()), data->size());
    } else {
        j["type"] = "BINARY";
        j["data"] = base64_encode(*data);
    }
    j["size"] = data->size();
    return j;
}

}  // namespace rill::admin
