#include "net/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "net/listener_security.h"

namespace rill::net {

namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's queued errors as one line (and clears the queue).
std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "unknown OpenSSL error" : out;
}

int protocol_version(std::string_view name) {
    if (name == "TLSv1.2") return TLS1_2_VERSION;
    if (name == "TLSv1.3") return TLS1_3_VERSION;
    return 0;
}

constexpr std::array<std::string_view, 5> kTls13Suites = {
    "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256", "TLS_AES_128_CCM_8_SHA256"};

// Adds every certificate of PEM text to the context's trust store and its client CA list.
result<int, std::string> add_trusted_pem(SSL_CTX* ctx, const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (!bio) return unexpected(openssl_errors());
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int n = 0;
    while (X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
        X509_STORE_add_cert(store, cert);
        SSL_CTX_add_client_CA(ctx, cert);
        X509_free(cert);
        ++n;
    }
    BIO_free(bio);
    ERR_clear_error();  // the end of the text reads as "no start line"
    return n;
}

}  // namespace

result<std::shared_ptr<ssl::context>, std::string> make_tls_context(const broker_config& config,
                                                                    const std::string& listener) {
    auto get = [&](std::string_view key) { return listener_setting(config, listener, key); };
    auto fail = [&](std::string_view key, const std::string& why) {
        return unexpected("listener " + listener + ": " + std::string(key) + ": " + why);
    };
    ERR_clear_error();
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* raw = ctx->native_handle();
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::single_dh_use);
    SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION);

    // Protocol versions: the lowest and highest of ssl.enabled.protocols.
    int lo = 0, hi = 0;
    for (const auto& p : split_list(get("ssl.enabled.protocols").value_or(""))) {
        int v = protocol_version(p);
        if (v == 0) return fail("ssl.enabled.protocols", "unsupported protocol '" + p + "'");
        lo = lo == 0 ? v : std::min(lo, v);
        hi = std::max(hi, v);
    }
    if (lo == 0) return fail("ssl.enabled.protocols", "no protocol enabled");
    SSL_CTX_set_min_proto_version(raw, lo);
    SSL_CTX_set_max_proto_version(raw, hi);

    // Cipher suites: TLS 1.3 suites and older ones are configured apart in OpenSSL.
    if (auto suites = get("ssl.cipher.suites"); suites && !suites->empty()) {
        std::string tls12, tls13;
        for (const auto& s : split_list(*suites)) {
            if (std::find(kTls13Suites.begin(), kTls13Suites.end(), s) != kTls13Suites.end()) {
                tls13 += (tls13.empty() ? "" : ":") + s;
                continue;
            }
            std::string name = s;
            if (const char* o = OPENSSL_cipher_name(s.c_str());
                o && std::string_view(o) != "(NONE)")
                name = o;  // an IANA name, as Kafka (Java) spells suites
            if (!SSL_CTX_set_cipher_list(raw, name.c_str())) {
                ERR_clear_error();
                return fail("ssl.cipher.suites", "unknown cipher suite '" + s + "'");
            }
            tls12 += (tls12.empty() ? "" : ":") + name;
        }
        if (!tls12.empty() && !SSL_CTX_set_cipher_list(raw, tls12.c_str()))
            return fail("ssl.cipher.suites", openssl_errors());
        // Only the TLS 1.3 suites listed (none if the list names only older suites).
        if (!SSL_CTX_set_ciphersuites(raw, tls13.c_str()))
            return fail("ssl.cipher.suites", openssl_errors());
    }

    // The private key's password; always set, so that OpenSSL never prompts on a terminal.
    const std::string key_password = get("ssl.key.password").value_or("");
    ctx->set_password_callback(
        [key_password](std::size_t, ssl::context::password_purpose) { return key_password; });

    const auto type = get("ssl.keystore.type").value_or("PEM");
    if (type != "PEM") return fail("ssl.keystore.type", "only PEM key stores are supported");
    const auto location = get("ssl.keystore.location");
    const auto chain = get("ssl.keystore.certificate.chain");
    const auto key = get("ssl.keystore.key");
    boost::system::error_code ec;
    if (location && !location->empty()) {
        if (chain || key)
            return fail("ssl.keystore.location",
                        "set either it or ssl.keystore.certificate.chain and ssl.keystore.key");
        if (SSL_CTX_use_certificate_chain_file(raw, location->c_str()) != 1)
            return fail("ssl.keystore.location",
                        *location + ": cannot read the certificate chain: " + openssl_errors());
        ctx->use_private_key_file(*location, ssl::context::pem, ec);
        if (ec)
            return fail(
                "ssl.keystore.location",
                *location +
                    ": cannot read the private key (missing, or wrong ssl.key.password?): " +
                    openssl_errors());
    } else if (chain && key) {
        ctx->use_certificate_chain(boost::asio::buffer(*chain), ec);
        if (ec)
            return fail("ssl.keystore.certificate.chain",
                        "not a PEM certificate chain: " + openssl_errors());
        ctx->use_private_key(boost::asio::buffer(*key), ssl::context::pem, ec);
        if (ec)
            return fail(
                "ssl.keystore.key",
                "cannot read the private key (wrong ssl.key.password?): " + openssl_errors());
    } else {
        return fail("ssl.keystore.location",
                    "a TLS listener needs a key store: ssl.keystore.location, or "
                    "ssl.keystore.certificate.chain with ssl.keystore.key");
    }
    if (SSL_CTX_check_private_key(raw) != 1)
        return fail("ssl.keystore.key",
                    "the private key does not match the certificate: " + openssl_errors());

    // Trust store: the CAs client certificates must chain to.
    const auto ttype = get("ssl.truststore.type").value_or("PEM");
    if (ttype != "PEM") return fail("ssl.truststore.type", "only PEM trust stores are supported");
    bool have_trust = false;
    if (auto tl = get("ssl.truststore.location"); tl && !tl->empty()) {
        std::string pem;
        {
            FILE* f = std::fopen(tl->c_str(), "rb");
            if (!f) return fail("ssl.truststore.location", *tl + ": cannot open");
            char buf[4096];
            size_t n;
            while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
                pem.append(buf, n);
            std::fclose(f);
        }
        auto added = add_trusted_pem(raw, pem);
        if (!added) return fail("ssl.truststore.location", added.error());
        if (*added == 0) return fail("ssl.truststore.location", *tl + ": no PEM certificate");
        have_trust = true;
    }
    if (auto tc = get("ssl.truststore.certificates"); tc && !tc->empty()) {
        auto added = add_trusted_pem(raw, *tc);
        if (!added) return fail("ssl.truststore.certificates", added.error());
        if (*added == 0) return fail("ssl.truststore.certificates", "no PEM certificate");
        have_trust = true;
    }
    const auto client_auth = get("ssl.client.auth").value_or("none");
    if (client_auth == "required" || client_auth == "requested") {
        if (!have_trust) SSL_CTX_set_default_verify_paths(raw);
        ctx->set_verify_mode(client_auth == "required"
                                 ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                                 : ssl::verify_peer);
    } else if (client_auth == "none") {
        ctx->set_verify_mode(ssl::verify_none);
    } else {
        return fail("ssl.client.auth", "expected required, requested or none");
    }
    // Session resumption stays within this listener's contexts.
    static const unsigned char kSessionId[] = "rill";
    SSL_CTX_set_session_id_context(raw, kSessionId, sizeof kSessionId - 1);
    ERR_clear_error();
    return ctx;
}

std::string tls_peer_principal(SSL* ssl) {
    X509* cert = SSL_get_peer_certificate(ssl);
    if (!cert) return "User:ANONYMOUS";
    std::string out = "User:";
    if (BIO* bio = BIO_new(BIO_s_mem())) {
        X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
        char* data = nullptr;
        long len = BIO_get_mem_data(bio, &data);
        if (len > 0) out.append(data, static_cast<size_t>(len));
        BIO_free(bio);
    }
    X509_free(cert);
    return out;
}

}  // namespace rill::net
