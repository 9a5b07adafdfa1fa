// SaslHandshake (v0, v1) and SaslAuthenticate (v0-v2), as Kafka's SaslServerAuthenticator
// answers them; the connection's state lives in net::connection_auth (net/sasl.h).
//
// - On a listener without SASL, or once authenticated, both answer ILLEGAL_SASL_STATE.
// - A mechanism that is not enabled: UNSUPPORTED_SASL_MECHANISM with the enabled list, then the
//   connection closes.
// - SaslHandshake v0: the tokens that follow are raw size-prefixed frames without request
//   headers (handle_sasl_raw_token); v1: they come in SaslAuthenticate requests.
// - A failed exchange: SASL_AUTHENTICATION_FAILED with Kafka's message, then the connection
//   closes. The log line names the peer, the mechanism and the reason, never the password.
#include "net/sasl.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "protocol/frame.h"

namespace rill::broker {
namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = rill::logger("sasl");
    return l;
}

using stage = net::connection_auth::stage;

void authenticated(const net::connection_info& conn, net::connection_auth& auth) {
    auth.st = stage::done;
    auth.principal = "User:" + auth.exchange->user();
    auth.exchange.reset();
    log()->debug("connection {} from {}: authenticated as {} with {}", conn.id, conn.peer,
                 auth.principal, auth.mechanism);
}

void failed(const net::connection_info& conn, const net::connection_auth& auth,
            const std::string& reason) {
    log()->info("connection {} from {} ({}): failed authentication with {} ({})", conn.id,
                conn.peer, conn.listener_name, auth.mechanism, reason);
}

}  // namespace

task<m::sasl_handshake_response> handle_sasl_handshake(request_context& ctx,
                                                       m::sasl_handshake_request& req) {
    m::sasl_handshake_response resp;
    auto* auth = ctx.conn.auth.get();
    if (!auth || auth->st != stage::handshake) {
        // Kafka answers ILLEGAL_SASL_STATE; during an exchange the connection then closes.
        resp.error_code = wire(error_code::illegal_sasl_state);
        if (auth && (auth->st == stage::authenticate || auth->st == stage::raw_token))
            ctx.close_connection = true;
        co_return resp;
    }
    resp.mechanisms = auth->config->mechanisms;
    auth->exchange = net::make_sasl_exchange(*auth->config, req.mechanism);
    if (!auth->exchange) {
        log()->info("connection {} from {} ({}): unsupported SASL mechanism '{}'", ctx.conn.id,
                    ctx.conn.peer, ctx.conn.listener_name, req.mechanism);
        resp.error_code = wire(error_code::unsupported_sasl_mechanism);
        ctx.close_connection = true;
        co_return resp;
    }
    auth->mechanism = req.mechanism;
    auth->st = ctx.api_version == 0 ? stage::raw_token : stage::authenticate;
    co_return resp;
}

task<m::sasl_authenticate_response> handle_sasl_authenticate(request_context& ctx,
                                                             m::sasl_authenticate_request& req) {
    m::sasl_authenticate_response resp;
    auto* auth = ctx.conn.auth.get();
    if (!auth || auth->st != stage::authenticate) {
        resp.error_code = wire(error_code::illegal_sasl_state);
        resp.error_message = !auth || auth->st == stage::none
                                 ? "SaslAuthenticate request received on a listener without SASL"
                             : auth->st == stage::done
                                 ? "SaslAuthenticate request received after successful "
                                   "authentication"
                                 : "Unexpected SaslAuthenticate request before SaslHandshake";
        if (auth && auth->st != stage::none && auth->st != stage::done) ctx.close_connection = true;
        co_return resp;
    }
    const std::string_view token(reinterpret_cast<const char*>(req.auth_bytes.data()),
                                 req.auth_bytes.size());
    auto r = auth->exchange->step(token);
    if (r.error) {
        failed(ctx.conn, *auth, r.reason);
        resp.error_code = wire(error_code::sasl_authentication_failed);
        resp.error_message = *r.error;
        ctx.close_connection = true;
        co_return resp;
    }
    resp.auth_bytes.assign(r.response.begin(), r.response.end());
    if (r.complete) authenticated(ctx.conn, *auth);
    co_return resp;
}

net::handler_result handle_sasl_raw_token(const net::connection_info& conn,
                                          const protocol::bytes& frame) {
    auto& auth = *conn.auth;
    const std::string_view token(reinterpret_cast<const char*>(frame.data()), frame.size());
    auto r = auth.exchange->step(token);
    if (r.error) {  // v0 has no way to carry an error: the connection closes
        failed(conn, auth, r.reason);
        return net::handler_result{std::nullopt, true};
    }
    if (r.complete) authenticated(conn, auth);
    protocol::writer w(r.response.size() + 4);
    w.write_int32(static_cast<int32_t>(r.response.size()));
    w.write_raw(protocol::bytes_view(reinterpret_cast<const uint8_t*>(r.response.data()),
                                     r.response.size()));
    return net::handler_result{net::response_frame{w.take(), {}}, false};
}

}  // namespace rill::broker
