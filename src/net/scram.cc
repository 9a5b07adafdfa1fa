#include "net/scram.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <openssl/crypto.h>

#include <charconv>
#include <stdexcept>

namespace rill::net {
namespace {

const EVP_MD* md(scram_hash h) {
    return h == scram_hash::sha256 ? EVP_sha256() : EVP_sha512();
}

// The attributes of a SCRAM message ("a=...,b=..."), in order.
std::vector<std::pair<char, std::string>> attributes(std::string_view m) {
    std::vector<std::pair<char, std::string>> out;
    size_t pos = 0;
    while (pos < m.size()) {
        size_t comma = m.find(',', pos);
        if (comma == std::string_view::npos) comma = m.size();
        auto part = m.substr(pos, comma - pos);
        if (part.size() >= 2 && part[1] == '=')
            out.emplace_back(part[0], std::string(part.substr(2)));
        else
            out.emplace_back('\0', std::string(part));
        pos = comma + 1;
    }
    return out;
}

// saslname decoding (RFC 5802 §5.1): =2C is ',' and =3D is '='; any other '=' is invalid.
std::optional<std::string> decode_saslname(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '=') {
            out.push_back(s[i]);
            continue;
        }
        if (s.substr(i, 3) == "=2C")
            out.push_back(',');
        else if (s.substr(i, 3) == "=3D")
            out.push_back('=');
        else
            return std::nullopt;
        i += 2;
    }
    return out;
}

std::string random_nonce() {
    static constexpr char kChars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    auto r = random_octets(32);
    std::string out;
    for (auto b : r)
        out.push_back(kChars[b % (sizeof kChars - 1)]);
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

}  // namespace

std::optional<scram_hash> scram_mechanism(std::string_view name) {
    if (name == "SCRAM-SHA-256") return scram_hash::sha256;
    if (name == "SCRAM-SHA-512") return scram_hash::sha512;
    return std::nullopt;
}

std::string_view scram_mechanism_name(scram_hash h) {
    return h == scram_hash::sha256 ? "SCRAM-SHA-256" : "SCRAM-SHA-512";
}

std::string base64_encode(const octets& in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), in.data(),
                            static_cast<int>(in.size()));
    out.resize(static_cast<size_t>(n));
    return out;
}

std::optional<octets> base64_decode(std::string_view in) {
    if (in.size() % 4 != 0) return std::nullopt;
    octets out(in.size() / 4 * 3 + 1);
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(in.data()),
                            static_cast<int>(in.size()));
    if (n < 0) return std::nullopt;
    size_t pad = 0;
    if (!in.empty() && in.back() == '=') ++pad;
    if (in.size() > 1 && in[in.size() - 2] == '=') ++pad;
    out.resize(static_cast<size_t>(n) - pad);
    return out;
}

octets random_octets(size_t n) {
    octets out(n);
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1)
        throw std::runtime_error("RAND_bytes failed");
    return out;
}

octets scram_hi(scram_hash h, std::string_view password, const octets& salt, int32_t iterations) {
    octets out(static_cast<size_t>(EVP_MD_size(md(h))));
    PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), salt.data(),
                      static_cast<int>(salt.size()), iterations, md(h),
                      static_cast<int>(out.size()), out.data());
    return out;
}

octets scram_hmac(scram_hash h, const octets& key, std::string_view data) {
    octets out(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    HMAC(md(h), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data(), &len);
    out.resize(len);
    return out;
}

octets scram_digest(scram_hash h, const octets& data) {
    octets out(EVP_MAX_MD_SIZE);
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), out.data(), &len, md(h), nullptr);
    out.resize(len);
    return out;
}

scram_credential scram_credential_from_salted(scram_hash h, const octets& salted, octets salt,
                                              int32_t iterations) {
    scram_credential c;
    c.salt = std::move(salt);
    c.iterations = iterations;
    c.stored_key = scram_digest(h, scram_hmac(h, salted, "Client Key"));
    c.server_key = scram_hmac(h, salted, "Server Key");
    return c;
}

scram_credential make_scram_credential(scram_hash h, std::string_view password, octets salt,
                                       int32_t iterations) {
    auto salted = scram_hi(h, password, salt, iterations);
    return scram_credential_from_salted(h, salted, std::move(salt), iterations);
}

result<void, std::string> add_scram_argument(std::string_view arg, scram_credential_store& store) {
    auto eq = arg.find('=');
    if (eq == std::string_view::npos)
        return unexpected(std::string("--add-scram: expected MECHANISM=[name=...,...]"));
    const std::string mech(trim(arg.substr(0, eq)));
    auto h = scram_mechanism(mech);
    if (!h)
        return unexpected("--add-scram: unknown mechanism '" + mech +
                          "' (SCRAM-SHA-256 or SCRAM-SHA-512)");
    auto body = trim(arg.substr(eq + 1));
    if (body.size() < 2 || body.front() != '[' || body.back() != ']')
        return unexpected(std::string("--add-scram: expected [name=...,...] after ") + mech + "=");
    body = body.substr(1, body.size() - 2);
    std::map<std::string, std::string> kv;
    size_t pos = 0;
    while (pos < body.size()) {
        size_t comma = body.find(',', pos);
        if (comma == std::string_view::npos) comma = body.size();
        auto part = trim(body.substr(pos, comma - pos));
        pos = comma + 1;
        auto e = part.find('=');
        if (e == std::string_view::npos)
            return unexpected(std::string("--add-scram: expected key=value entries"));
        std::string val(trim(part.substr(e + 1)));
        if (val.size() >= 2 && val.front() == '"' && val.back() == '"')
            val = val.substr(1, val.size() - 2);
        kv[std::string(trim(part.substr(0, e)))] = val;
    }
    auto name = kv.find("name");
    if (name == kv.end() || name->second.empty())
        return unexpected(std::string("--add-scram: name= is required"));
    int32_t iterations = 4096;
    if (auto it = kv.find("iterations"); it != kv.end()) {
        auto [p, ec] =
            std::from_chars(it->second.data(), it->second.data() + it->second.size(), iterations);
        if (ec != std::errc() || p != it->second.data() + it->second.size() || iterations < 4096 ||
            iterations > 16384)
            return unexpected("--add-scram: iterations must be in [4096, 16384], got '" +
                              it->second + "'");
    }
    octets salt;
    if (auto it = kv.find("salt"); it != kv.end()) {
        auto s = base64_decode(it->second);
        if (!s || s->empty()) return unexpected(std::string("--add-scram: salt is not base64"));
        salt = std::move(*s);
    } else {
        salt = random_octets(32);
    }
    if (auto it = kv.find("password"); it != kv.end()) {
        store.put(*h, name->second, make_scram_credential(*h, it->second, salt, iterations));
    } else if (auto sp = kv.find("saltedpassword"); sp != kv.end() && kv.contains("salt")) {
        auto salted = base64_decode(sp->second);
        if (!salted) return unexpected(std::string("--add-scram: saltedpassword is not base64"));
        store.put(*h, name->second, scram_credential_from_salted(*h, *salted, salt, iterations));
    } else {
        return unexpected(
            std::string("--add-scram: password= (or salt= and saltedpassword=) "
                        "is required"));
    }
    return {};
}

scram_server::scram_server(scram_hash h, const scram_credential_store* store, std::string nonce)
    : hash_(h), store_(store), server_nonce_(nonce.empty() ? random_nonce() : std::move(nonce)) {}

scram_server::step_result scram_server::step(std::string_view message) {
    if (stage_ == 0) return first(message);
    if (stage_ == 1) return final(message);
    return {{}, false, "unexpected SCRAM message after the exchange"};
}

scram_server::step_result scram_server::first(std::string_view m) {
    stage_ = 1;
    // gs2-header: "n,," or "y,," (no channel binding), optional a=authzid.
    if (m.size() < 3 || (m[0] != 'n' && m[0] != 'y') || m[1] != ',')
        return {{}, false, "invalid SCRAM client-first message (channel binding unsupported)"};
    auto second = m.find(',', 2);
    if (second == std::string_view::npos) return {{}, false, "invalid SCRAM client-first message"};
    auto authzid = m.substr(2, second - 2);
    client_first_bare_ = std::string(m.substr(second + 1));
    auto attrs = attributes(client_first_bare_);
    if (attrs.size() < 2 || attrs[0].first != 'n' || attrs[1].first != 'r' ||
        attrs[1].second.empty())
        return {{}, false, "invalid SCRAM client-first message"};
    auto user = decode_saslname(attrs[0].second);
    if (!user || user->empty()) return {{}, false, "invalid SCRAM user name"};
    user_ = *user;
    if (!authzid.empty() && authzid != "a=" + attrs[0].second)
        return {{}, false, "authorization id differs from the user name"};
    cred_ = store_ ? store_->find(hash_, user_) : nullptr;
    if (!cred_)
        return {{},
                false,
                "no " + std::string(scram_mechanism_name(hash_)) + " credential for user " + user_};
    nonce_ = attrs[1].second + server_nonce_;
    server_first_ = "r=" + nonce_ + ",s=" + base64_encode(cred_->salt) +
                    ",i=" + std::to_string(cred_->iterations);
    return {server_first_, false, std::nullopt};
}

scram_server::step_result scram_server::final(std::string_view m) {
    stage_ = 2;
    auto p = m.rfind(",p=");
    if (p == std::string_view::npos) return {{}, false, "invalid SCRAM client-final message"};
    const std::string without_proof(m.substr(0, p));
    auto attrs = attributes(without_proof);
    if (attrs.size() < 2 || attrs[0].first != 'c' || attrs[1].first != 'r')
        return {{}, false, "invalid SCRAM client-final message"};
    // Kafka accepts a nonce that ends with the server-first one: librdkafka (up to 2.x at
    // least) sends its client nonce again in front of it.
    if (!attrs[1].second.ends_with(nonce_)) return {{}, false, "SCRAM nonce mismatch"};
    auto cb = base64_decode(attrs[0].second);
    if (!cb || (std::string(cb->begin(), cb->end()) != "n,," &&
                std::string(cb->begin(), cb->end()).rfind("n,", 0) != 0 &&
                std::string(cb->begin(), cb->end()).rfind("y,", 0) != 0))
        return {{}, false, "invalid SCRAM channel binding"};
    auto proof = base64_decode(m.substr(p + 3));
    const std::string auth_message = client_first_bare_ + "," + server_first_ + "," + without_proof;
    auto signature = scram_hmac(hash_, cred_->stored_key, auth_message);
    if (!proof || proof->size() != signature.size())
        return {{}, false, "invalid SCRAM client proof"};
    octets client_key(signature.size());
    for (size_t i = 0; i < signature.size(); ++i)
        client_key[i] = (*proof)[i] ^ signature[i];
    auto stored = scram_digest(hash_, client_key);
    if (CRYPTO_memcmp(stored.data(), cred_->stored_key.data(), stored.size()) != 0 ||
        stored.size() != cred_->stored_key.size())
        return {{}, false, "invalid SCRAM client proof"};
    auto server_signature = scram_hmac(hash_, cred_->server_key, auth_message);
    return {"v=" + base64_encode(server_signature), true, std::nullopt};
}

}  // namespace rill::net
