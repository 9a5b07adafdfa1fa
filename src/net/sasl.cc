#include "net/sasl.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>

#include "common/config.h"
#include "net/jaas.h"
#include "net/listener_security.h"

namespace rill::net {
namespace {

bool equal_secret(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// RFC 4616: [authzid] NUL authcid NUL passwd.
class plain_exchange : public sasl_exchange {
  public:
    explicit plain_exchange(const std::map<std::string, std::string>& users) : users_(users) {}

    step_result step(std::string_view token) override {
        step_result r;
        auto fail = [&](std::string msg, std::string reason) {
            r.error = std::move(msg);
            r.reason = std::move(reason);
            return r;
        };
        if (done_) return fail("Authentication failed: unexpected token", "second PLAIN token");
        done_ = true;
        auto a = token.find('\0');
        auto b = a == std::string_view::npos ? a : token.find('\0', a + 1);
        if (b == std::string_view::npos || token.find('\0', b + 1) != std::string_view::npos)
            return fail("Invalid SASL/PLAIN response: expected 3 tokens", "malformed PLAIN token");
        auto authzid = token.substr(0, a);
        auto user = token.substr(a + 1, b - a - 1);
        auto password = token.substr(b + 1);
        if (user.empty())
            return fail("Authentication failed: username not specified", "empty user name");
        if (password.empty())
            return fail("Authentication failed: password not specified", "empty password");
        if (!authzid.empty() && authzid != user)
            return fail(
                "Authentication failed: Client requested an authorization id that is different "
                "from username",
                "authorization id differs from the user name");
        auto it = users_.find(std::string(user));
        if (it == users_.end() || !equal_secret(it->second, password))
            return fail("Authentication failed: Invalid username or password",
                        "invalid user name or password for user " + std::string(user));
        user_ = std::string(user);
        r.complete = true;
        return r;
    }
    const std::string& user() const override { return user_; }

  private:
    const std::map<std::string, std::string>& users_;
    std::string user_;
    bool done_ = false;
};

class scram_exchange : public sasl_exchange {
  public:
    scram_exchange(scram_hash h, const scram_credential_store* store)
        : hash_(h), server_(h, store) {}

    step_result step(std::string_view token) override {
        auto s = server_.step(token);
        step_result r;
        r.response = std::move(s.response);
        r.complete = s.complete;
        if (s.error) {
            r.error =
                "Authentication failed during authentication due to invalid credentials with "
                "SASL mechanism " +
                std::string(scram_mechanism_name(hash_));
            r.reason = *s.error;
        }
        return r;
    }
    const std::string& user() const override { return server_.user(); }

  private:
    scram_hash hash_;
    scram_server server_;
};

}  // namespace

result<std::map<std::string, std::string>, std::string> plain_users_from_jaas(
    std::string_view jaas) {
    auto modules = parse_jaas(jaas);
    if (!modules) return unexpected(modules.error());
    if (modules->size() != 1)
        return unexpected("JAAS config contains " + std::to_string(modules->size()) +
                          " login modules, should be 1 module");
    const auto& m = modules->front();
    if (m.login_module != kPlainLoginModule)
        return unexpected("JAAS config for PLAIN names login module " + m.login_module +
                          ", expected " + std::string(kPlainLoginModule));
    std::map<std::string, std::string> users;
    for (const auto& [k, v] : m.options)
        if (k.starts_with("user_") && k.size() > 5) users[k.substr(5)] = v;
    return users;
}

result<std::shared_ptr<const sasl_server_config>, std::string> make_sasl_config(
    const broker_config& config, const std::string& listener,
    std::shared_ptr<const scram_credential_store> scram) {
    auto cfg = std::make_shared<sasl_server_config>();
    cfg->scram = std::move(scram);
    auto fail = [&](const std::string& why) {
        return unexpected("listener " + listener + ": " + why);
    };
    for (const auto& m :
         split_list(listener_setting(config, listener, "sasl.enabled.mechanisms").value_or(""))) {
        if (m != "PLAIN" && !scram_mechanism(m))
            return fail("sasl.enabled.mechanisms: mechanism " + m +
                        " is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)");
        cfg->mechanisms.push_back(m);
    }
    if (cfg->mechanisms.empty()) return fail("sasl.enabled.mechanisms is empty");
    if (std::find(cfg->mechanisms.begin(), cfg->mechanisms.end(), "PLAIN") !=
        cfg->mechanisms.end()) {
        std::string lower;
        for (char c : listener)
            lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
        const auto* prefixed =
            config.static_values().get("listener.name." + lower + ".plain.sasl.jaas.config");
        std::optional<std::string> jaas =
            prefixed ? std::optional<std::string>(*prefixed) : config.get("sasl.jaas.config");
        if (!jaas)
            return fail("PLAIN needs listener.name." + lower +
                        ".plain.sasl.jaas.config (or sasl.jaas.config) with user_<name> entries");
        auto users = plain_users_from_jaas(*jaas);
        if (!users) return fail(users.error());
        cfg->plain_users = std::move(*users);
    }
    return std::shared_ptr<const sasl_server_config>(std::move(cfg));
}

std::unique_ptr<sasl_exchange> make_sasl_exchange(const sasl_server_config& config,
                                                  std::string_view mechanism) {
    if (std::find(config.mechanisms.begin(), config.mechanisms.end(), mechanism) ==
        config.mechanisms.end())
        return nullptr;
    if (mechanism == "PLAIN") return std::make_unique<plain_exchange>(config.plain_users);
    if (auto h = scram_mechanism(mechanism))
        return std::make_unique<scram_exchange>(*h, config.scram.get());
    return nullptr;
}

}  // namespace rill::net
