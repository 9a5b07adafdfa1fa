#include "common/security_config_defs.h"

namespace rill {
namespace {

using T = config_type;
constexpr double kLo = -1e300;
constexpr double kHi = 1e300;

}  // namespace

const std::vector<config_def>& security_config_defs() {
    static const std::vector<config_def> defs = {
        {"ssl.keystore.type",
         T::string,
         "PEM",
         "Format of the key store (Kafka: JKS; Rill reads PEM only).",
         kLo,
         kHi,
         {"PEM"}},
        {"ssl.keystore.location", T::string, std::nullopt,
         "PEM file with the private key and the certificate chain of the listener."},
        {"ssl.keystore.password",
         T::password,
         std::nullopt,
         "Key store password (unused for PEM: see ssl.key.password).",
         kLo,
         kHi,
         {},
         true,
         true},
        {"ssl.keystore.certificate.chain",
         T::password,
         std::nullopt,
         "The certificate chain in PEM, inline (with ssl.keystore.key).",
         kLo,
         kHi,
         {},
         true,
         true},
        {"ssl.keystore.key",
         T::password,
         std::nullopt,
         "The private key in PEM (PKCS#8, optionally encrypted), inline.",
         kLo,
         kHi,
         {},
         true,
         true},
        {"ssl.key.password",
         T::password,
         std::nullopt,
         "Password of an encrypted private key.",
         kLo,
         kHi,
         {},
         true,
         true},
        {"ssl.truststore.type",
         T::string,
         "PEM",
         "Format of the trust store (Kafka: JKS; Rill reads PEM only).",
         kLo,
         kHi,
         {"PEM"}},
        {"ssl.truststore.location", T::string, std::nullopt,
         "PEM file with the CA certificates that client certificates must chain to."},
        {"ssl.truststore.password",
         T::password,
         std::nullopt,
         "Trust store password (unused for PEM).",
         kLo,
         kHi,
         {},
         true,
         true},
        {"ssl.truststore.certificates",
         T::password,
         std::nullopt,
         "Trusted CA certificates in PEM, inline.",
         kLo,
         kHi,
         {},
         true,
         true},
        {"ssl.client.auth",
         T::string,
         "none",
         "Client certificates: required, requested or none.",
         kLo,
         kHi,
         {"required", "requested", "none"}},
        {"ssl.enabled.protocols",
         T::list,
         "TLSv1.2,TLSv1.3",
         "TLS versions accepted.",
         kLo,
         kHi,
         {"TLSv1.2", "TLSv1.3"}},
        {"ssl.protocol", T::string, "TLSv1.3",
         "Kafka's SSLContext protocol; Rill takes the versions from ssl.enabled.protocols."},
        {"ssl.cipher.suites", T::list, std::nullopt,
         "Cipher suites (IANA names as Kafka, or OpenSSL names); empty: OpenSSL's defaults."},
        {"ssl.principal.mapping.rules",
         T::string,
         "DEFAULT",
         "Rill: only DEFAULT (the principal is the certificate subject).",
         kLo,
         kHi,
         {"DEFAULT"}},
        {"sasl.enabled.mechanisms",
         T::list,
         "PLAIN",
         "SASL mechanisms of SASL listeners (Kafka: GSSAPI, which Rill does not have).",
         kLo,
         kHi,
         {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}},
        {"sasl.jaas.config",
         T::password,
         std::nullopt,
         "JAAS login module of SASL listeners (PLAIN users as user_<name>=\"<password>\").",
         kLo,
         kHi,
         {},
         true,
         true},
    };
    return defs;
}

const config_def* find_listener_override(std::string_view name) {
    constexpr std::string_view prefix = "listener.name.";
    if (!name.starts_with(prefix)) return nullptr;
    auto rest = name.substr(prefix.size());
    auto dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0) return nullptr;
    auto key = rest.substr(dot + 1);
    // <mechanism>.sasl.jaas.config, e.g. plain.sasl.jaas.config, scram-sha-256.sasl.jaas.config.
    if (auto mdot = key.find('.');
        mdot != std::string_view::npos && key.substr(mdot + 1) == "sasl.jaas.config")
        key = key.substr(mdot + 1);
    for (const auto& d : security_config_defs())
        if (d.name == key) return &d;
    return nullptr;
}

}  // namespace rill
