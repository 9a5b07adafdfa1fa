// The TLS side of a listener: an OpenSSL server context built from Kafka's ssl.* keys (PEM key
// and trust stores only), and the principal of a TLS peer.
//
//   ssl.keystore.location          PEM file: private key and certificate chain
//   ssl.keystore.certificate.chain + ssl.keystore.key   the same, inline
//   ssl.key.password               password of an encrypted private key
//   ssl.truststore.location / ssl.truststore.certificates   CA certificates (PEM)
//   ssl.client.auth                none | requested | required
//   ssl.enabled.protocols          TLSv1.2,TLSv1.3
//   ssl.cipher.suites              IANA names (Kafka's) or OpenSSL names
//
// Every key is first looked up as listener.name.<listener>.<key> (listener_security.h).
//
// Threading: make_tls_context reads files (start-up only). A built context is shared by the
// connections of its listener (OpenSSL contexts are thread-safe once configured).
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl.hpp>

#include "common/config.h"
#include "common/result.h"

namespace rill::net {

// Errors name the listener and the key, e.g. "listener SSL: ssl.keystore.location
// /x/key.pem: cannot read the private key (wrong ssl.key.password?): bad decrypt".
result<std::shared_ptr<boost::asio::ssl::context>, std::string> make_tls_context(
    const broker_config& config, const std::string& listener);

// The principal of the peer of a completed handshake, as Kafka's default principal builder
// names it: "User:" + the certificate subject in RFC 2253 form ("User:CN=client,O=Example"),
// or "User:ANONYMOUS" without a client certificate.
std::string tls_peer_principal(SSL* ssl);

}  // namespace rill::net
