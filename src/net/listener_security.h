// Listener security as Kafka configures it: each listener name maps to a security protocol
// through listener.security.protocol.map (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), and its
// TLS and SASL settings come from listener.name.<name, lower case>.<key> before <key>.
//
// Threading: parsing and building run at start-up (they read files); the built
// listener_security is immutable and shared by every connection of the listener.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/result.h"

namespace boost::asio::ssl {
class context;
}

namespace rill::net {

enum class security_protocol { plaintext, ssl, sasl_plaintext, sasl_ssl };

std::string_view protocol_name(security_protocol p);
std::optional<security_protocol> parse_protocol(std::string_view name);
inline bool uses_tls(security_protocol p) {
    return p == security_protocol::ssl || p == security_protocol::sasl_ssl;
}
inline bool uses_sasl(security_protocol p) {
    return p == security_protocol::sasl_plaintext || p == security_protocol::sasl_ssl;
}

// Parses listener.security.protocol.map: "NAME:PROTOCOL,..." (whitespace around entries
// ignored; names upper-cased as Kafka does). Errors name the bad entry.
result<std::map<std::string, security_protocol>, std::string> parse_protocol_map(
    std::string_view text);

// The value of `key` for listener `listener`: listener.name.<listener lower-case>.<key>, else
// <key> (set or default), else nullopt.
std::optional<std::string> listener_setting(const broker_config& config, std::string_view listener,
                                            std::string_view key);

struct sasl_server_config;  // net/sasl.h
class scram_credential_store;

// What a listener's connections need: the TLS context (TLS listeners) and the SASL settings
// (SASL listeners).
struct listener_security {
    std::string listener_name;
    security_protocol protocol = security_protocol::plaintext;
    std::shared_ptr<boost::asio::ssl::context> tls;
    std::shared_ptr<const sasl_server_config> sasl;
};

// Builds the security of listener `name` with protocol `p` from the configuration: loads key
// and trust stores (errors say which key and why: missing file, wrong password, bad PEM) and
// parses the JAAS configuration. `scram` may be null (no SCRAM credentials).
result<std::shared_ptr<const listener_security>, std::string> make_listener_security(
    const broker_config& config, const std::string& name, security_protocol p,
    std::shared_ptr<const scram_credential_store> scram);

}  // namespace rill::net
