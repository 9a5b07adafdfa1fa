// SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677) on the server side, with OpenSSL's
// PBKDF2 and HMAC: credentials (salt, iterations, StoredKey, ServerKey), the credential store
// the broker is started with (--add-scram, in the syntax of Kafka's storage tool), and the
// server's half of one exchange.
//
// Threading: the store is immutable once built (shared by every shard); a scram_server belongs
// to one connection.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace rill::net {

enum class scram_hash { sha256, sha512 };

std::optional<scram_hash> scram_mechanism(std::string_view name);  // "SCRAM-SHA-256" ...
std::string_view scram_mechanism_name(scram_hash h);

using octets = std::vector<uint8_t>;

std::string base64_encode(const octets& in);
std::optional<octets> base64_decode(std::string_view in);

struct scram_credential {
    octets salt;
    int32_t iterations = 4096;
    octets stored_key;
    octets server_key;
};

// The math of RFC 5802 §3.
octets scram_hi(scram_hash h, std::string_view password, const octets& salt, int32_t iterations);
octets scram_hmac(scram_hash h, const octets& key, std::string_view data);
octets scram_digest(scram_hash h, const octets& data);
scram_credential scram_credential_from_salted(scram_hash h, const octets& salted_password,
                                              octets salt, int32_t iterations);
scram_credential make_scram_credential(scram_hash h, std::string_view password, octets salt,
                                       int32_t iterations);
octets random_octets(size_t n);

// Credentials by mechanism and user name.
class scram_credential_store {
  public:
    void put(scram_hash h, std::string user, scram_credential c) {
        creds_[{h, std::move(user)}] = std::move(c);
    }
    const scram_credential* find(scram_hash h, const std::string& user) const {
        auto it = creds_.find({h, user});
        return it == creds_.end() ? nullptr : &it->second;
    }
    size_t size() const { return creds_.size(); }

  private:
    std::map<std::pair<scram_hash, std::string>, scram_credential> creds_;
};

// Parses one --add-scram argument, Kafka's kafka-storage syntax:
//   SCRAM-SHA-256=[name=alice,password=alice-secret]
//   SCRAM-SHA-512=[name=bob,iterations=8192,salt="MWx2NHBkbnc0ZndxN25vdGN4bTB5eTFrN3E=",
//                  saltedpassword="mT0yyUUxnlJaC99HXgRTSYlbuqa4FSGtJCJfTMvjYCE="]
// (password or salt+saltedpassword; iterations 4096..16384 default 4096; values may be
// quoted). Adds the credential to `store`; errors never quote the password.
result<void, std::string> add_scram_argument(std::string_view arg, scram_credential_store& store);

// The server side of one exchange: client-first → server-first, client-final → server-final.
class scram_server {
  public:
    // `nonce` is the server's nonce part (random printable characters when empty; tests pass
    // RFC 7677's).
    scram_server(scram_hash h, const scram_credential_store* store, std::string nonce = {});

    struct step_result {
        std::string response;
        bool complete = false;
        std::optional<std::string> error;  // authentication failed: why (for the log)
    };
    step_result step(std::string_view message);
    const std::string& user() const { return user_; }

  private:
    step_result first(std::string_view message);
    step_result final(std::string_view message);

    scram_hash hash_;
    const scram_credential_store* store_;
    std::string server_nonce_;
    int stage_ = 0;
    std::string user_;
    std::string client_first_bare_;
    std::string server_first_;
    std::string nonce_;
    const scram_credential* cred_ = nullptr;
};

}  // namespace rill::net
