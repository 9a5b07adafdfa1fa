#include "broker/broker.h"

#include "broker/api_registry.h"
#include "common/logging.h"
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
      node_id_(static_cast<int32_t>(config.get_int("broker.id"))) {}

awaitable<net::handler_result> broker::handle(const net::connection_info& conn,
                                              net::request_frame frame) {
    stats_.requests.fetch_add(1, std::memory_order_relaxed);
    protocol::reader r(*frame.data, frame.data);
    // The api key and version come first in every request header version.
    int16_t api_key = r.read_int16();
    int16_t api_version = r.read_int16();
    int32_t correlation_id = r.read_int32();
    if (!r.ok()) {
        stats_.bad_requests++;
        log()->warn("connection {} from {}: truncated request header ({} bytes); closing", conn.id,
                    conn.peer, frame.data->size());
        co_return net::handler_result{std::nullopt, true};
    }

    const m::api_info* info = m::find_api(api_key);
    const api_entry* entry = find_supported_api(api_key);
    request_context ctx{*this, conn, api_key, api_version, correlation_id, std::nullopt};

    protocol::writer w(256);
    w.write_int32(0);  // size, patched below
    w.write_int32(correlation_id);

    // ApiVersions of an unknown (newer) version: answer in v0 form, never close (KIP-511).
    if (api_key == m::api_versions_request::api_key && entry &&
        (api_version > entry->max_version || api_version < 0)) {
        encode_api_versions_fallback(w);
        w.patch_int32(0, static_cast<int32_t>(w.wire_size() - 4));
        co_return net::handler_result{net::response_frame{w.take(), {}}, false};
    }
    if (!info || !entry || api_version < entry->min_version || api_version > entry->max_version) {
        stats_.bad_requests++;
        log()->warn(
            "connection {} from {}: unsupported API {} ({}) version {}; closing the connection",
            conn.id, conn.peer, api_key, info ? info->name : "unknown", api_version);
        co_return net::handler_result{std::nullopt, true};
    }

    // The rest of the header: client id (header v1+, always int16-length) and tagged fields (v2).
    int16_t header_version = info->request_header_version(api_version);
    if (header_version >= 1) ctx.client_id = r.read_nullable_string(false);
    if (header_version >= 2) {
        uint32_t n = r.read_uvarint();
        for (uint32_t i = 0; i < n && r.ok(); ++i) {
            r.read_uvarint();
            r.skip(r.read_uvarint());
        }
    }
    if (info->response_header_version(api_version) >= 1) w.write_uvarint(0);  // no tagged fields
    if (!r.ok()) {
        stats_.bad_requests++;
        log()->warn("connection {} from {}: malformed {} v{} request header; closing", conn.id,
                    conn.peer, info->name, api_version);
        co_return net::handler_result{std::nullopt, true};
    }

    bool decoded = false;
    try {
        decoded = co_await entry->invoke(ctx, r, w);
    } catch (const std::exception& e) {
        log()->error("connection {} from {}: {} v{} failed: {}", conn.id, conn.peer, info->name,
                     api_version, e.what());
        co_return net::handler_result{std::nullopt, true};
    }
    if (!decoded) {
        stats_.bad_requests++;
        log()->warn("connection {} from {}: malformed {} v{} request body ({} bytes); closing",
                    conn.id, conn.peer, info->name, api_version, frame.data->size());
        co_return net::handler_result{std::nullopt, true};
    }
    // Trailing bytes after a parsed request are ignored (librdkafka 2.0.2 sends some, see
    // KAFKA-COMPAT.md §2.1).
    if (ctx.suppress_response) co_return net::handler_result{std::nullopt, ctx.close_connection};
    w.patch_int32(0, static_cast<int32_t>(w.wire_size() - 4));
    net::response_frame resp;
    resp.splices = w.take_splices();
    resp.buffer = w.take();
    co_return net::handler_result{std::move(resp), ctx.close_connection};
}

}  // namespace rill::broker
