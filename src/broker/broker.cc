#include "broker/broker.h"

#include <algorithm>
#include <thread>

#include "broker/api_registry.h"
#include "broker/handlers/handlers.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "net/sasl.h"
#include "protocol/frame.h"
#include "protocol/generated/api.h"
#include "protocol/generated/api_versions.h"
#include "protocol/generated/error_code.h"

namespace rill::broker {

namespace m = protocol::messages;
using boost::asio::awaitable;

namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = rill::logger("broker");
    return l;
}

// The KIP-511 answer to an ApiVersions request of a version we do not know: a v0 body with
// UNSUPPORTED_VERSION and our full API list, so the client can retry with a version we have.
void encode_api_versions_fallback(protocol::writer& w) {
    m::api_versions_response resp;
    resp.error_code = static_cast<int16_t>(protocol::error_code::unsupported_version);
    for (const auto& e : supported_apis())
        resp.api_keys.push_back({e.key, e.min_version, e.max_version});
    resp.encode(w, 0);
}

}  // namespace

broker::broker(broker_config& config, cluster::metadata_store& metadata,
               std::vector<boost::asio::io_context*> shards, partition_manager* partitions)
    : config_(config),
      metadata_(metadata),
      shards_(std::move(shards)),
      partitions_(partitions),
      node_id_(static_cast<int32_t>(config.get_int("broker.id"))),
      fetch_sessions_(fetch_session_options{.max_sessions = static_cast<size_t>(config.get_int(
                                                "max.incremental.fetch.session.cache.slots"))}) {
    size_t threads = static_cast<size_t>(config.get_int("rill.validation.threads"));
    if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
    validation_pool_ = std::make_unique<work_pool>(threads, "rill-validate");
    metadata_pool_ = std::make_unique<work_pool>(1, "rill-meta");
}

awaitable<net::handler_result> broker::handle(const net::connection_info& conn,
                                              net::request_frame frame) {
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
    // After SaslHandshake v0 the client sends raw SASL tokens, without a request header.
    if (conn.auth && conn.auth->st == net::connection_auth::stage::raw_token)
        co_return handle_sasl_raw_token(conn, *frame.data);
    const auto started = std::chrono::steady_clock::now();
    protocol::reader r(*frame.data, frame.data);
    protocol::request_header_info h;
    const auto status = protocol::decode_request_header(r, h);
    const api_entry* entry = find_supported_api(h.api_key);
    auto close = [&](std::string_view why) {
        stats_.bad_requests++;
        metrics::registry::global().record_bad_request();
        log()->warn("connection {} from {}: {} (api {} v{}, {} bytes); closing", conn.id, conn.peer,
                    why, h.api_key, h.api_version, frame.data->size());
        return net::handler_result{std::nullopt, true};
    };
    if (status == protocol::header_status::malformed) co_return close("malformed request header");

    protocol::writer w(256);
    const auto mark = protocol::begin_frame(w);
    // ApiVersions of an unknown (newer) version: answer in v0 form, never close (KIP-511).
    if (h.api_key == m::api_versions_request::api_key && entry &&
        (status == protocol::header_status::unsupported_version ||
         h.api_version > entry->max_version)) {
        protocol::encode_response_header(w, h.correlation_id, 0);
        encode_api_versions_fallback(w);
        protocol::end_frame(w, mark);
        co_return net::handler_result{net::response_frame{w.take(), {}}, false};
    }
    if (status != protocol::header_status::ok || !entry || h.api_version < entry->min_version ||
        h.api_version > entry->max_version)
        co_return close("unsupported API or version");
    // Before SASL authentication only ApiVersions, SaslHandshake and SaslAuthenticate (Kafka
    // closes the connection on anything else).
    if (conn.auth && !conn.auth->authenticated() && h.api_key != m::api_versions_request::api_key &&
        h.api_key != m::sasl_handshake_request::api_key &&
        h.api_key != m::sasl_authenticate_request::api_key)
        co_return close("unexpected request during SASL authentication");

    // One line per request at debug level (rill.log.level=debug); the compatibility matrix
    // (tests/compat/test_client_matrix.py) reads the API versions each client used from it.
    if (log()->should_log(spdlog::level::debug))
        log()->debug("request {} v{} from connection {} client '{}' correlation {}", h.api->name,
                     h.api_version, conn.id, h.client_id.value_or(""), h.correlation_id);
    request_context ctx{*this, conn, h.api_key, h.api_version, h.correlation_id, h.client_id};
    protocol::encode_response_header(w, h.correlation_id,
                                     h.api->response_header_version(h.api_version));
    bool decoded = false;
    try {
        decoded = co_await entry->invoke(ctx, r, w);
    } catch (const std::exception& e) {
        log()->error("connection {} from {}: {} v{} failed: {}", conn.id, conn.peer, h.api->name,
                     h.api_version, e.what());
        co_return net::handler_result{std::nullopt, true};
    }
    if (!decoded) co_return close("malformed request body");
    metrics::registry::global().record_request(h.api_key, h.api_version,
                                               std::chrono::steady_clock::now() - started);
    // Trailing bytes after a parsed request are ignored (librdkafka 2.0.2 sends some, see
    // KAFKA-COMPAT.md §2.1).
    if (ctx.suppress_response) co_return net::handler_result{std::nullopt, ctx.close_connection};
    protocol::end_frame(w, mark);
    net::response_frame resp;
    resp.splices = w.take_splices();
    resp.buffer = w.take();
    co_return net::handler_result{std::move(resp), ctx.close_connection};
}

}  // namespace rill::broker
