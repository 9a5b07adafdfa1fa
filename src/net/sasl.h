// SASL on the server side of a Kafka connection: the enabled mechanisms of a listener with
// their users (PLAIN from the JAAS user_<name>="<password>" options, SCRAM from the credential
// store), one exchange per connection, and the connection's authentication state, which the
// broker's SaslHandshake/SaslAuthenticate handlers drive (src/broker/handlers/sasl.cc).
//
// Messages of authentication failures are Kafka's; passwords are never logged or returned.
//
// Threading: sasl_server_config is immutable (shared by a listener's connections);
// connection_auth and sasl_exchange belong to one connection (its shard).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/result.h"
#include "net/scram.h"

namespace rill::net {

struct sasl_server_config {
    std::vector<std::string> mechanisms;             // sasl.enabled.mechanisms (validated)
    std::map<std::string, std::string> plain_users;  // PLAIN: user -> password
    std::shared_ptr<const scram_credential_store> scram;
};

// Builds a SASL listener's config: listener.name.<l>.sasl.enabled.mechanisms (else
// sasl.enabled.mechanisms), and for PLAIN the users of listener.name.<l>.plain.sasl.jaas.config
// (else sasl.jaas.config), which must name Kafka's PlainLoginModule.
result<std::shared_ptr<const sasl_server_config>, std::string> make_sasl_config(
    const broker_config& config, const std::string& listener,
    std::shared_ptr<const scram_credential_store> scram);

// The users of a PLAIN JAAS value (its user_<name> options).
result<std::map<std::string, std::string>, std::string> plain_users_from_jaas(
    std::string_view jaas);

// One mechanism exchange.
class sasl_exchange {
  public:
    virtual ~sasl_exchange() = default;
    struct step_result {
        std::string response;
        bool complete = false;
        // Set when authentication failed: `error` is the message for the client (Kafka's),
        // `reason` a detail for the broker's log (never a password).
        std::optional<std::string> error;
        std::string reason;
    };
    virtual step_result step(std::string_view token) = 0;
    // After completion: the authenticated user name.
    virtual const std::string& user() const = 0;
};

// nullptr if `mechanism` is not enabled in `config`.
std::unique_ptr<sasl_exchange> make_sasl_exchange(const sasl_server_config& config,
                                                  std::string_view mechanism);

// A connection's authentication state.
struct connection_auth {
    enum class stage {
        none,          // not a SASL listener: nothing to authenticate
        handshake,     // SASL listener: waiting for SaslHandshake
        authenticate,  // after SaslHandshake v1: SaslAuthenticate requests
        raw_token,     // after SaslHandshake v0: size-prefixed raw tokens without headers
        done,          // authenticated
    };
    stage st = stage::none;
    // User:<name> after SASL, User:<certificate subject> after a TLS handshake with a client
    // certificate, User:ANONYMOUS otherwise (Kafka's principal names).
    std::string principal = "User:ANONYMOUS";
    std::string mechanism;
    std::shared_ptr<const sasl_server_config> config;
    std::unique_ptr<sasl_exchange> exchange;

    // Requests other than ApiVersions, SaslHandshake and SaslAuthenticate wait for this.
    bool authenticated() const { return st == stage::none || st == stage::done; }
};

}  // namespace rill::net
