// A minimal Kafka protocol client for broker-to-broker requests (the replica fetcher):
// one TCP connection, one request in flight at a time, requests encoded and responses
// decoded with the generated codecs.
//
// Threading: a client belongs to one executor; call its coroutines from that executor only,
// one at a time. close() may be called from that executor at any time (it fails the pending
// call).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "common/asio.h"
#include "protocol/frame.h"
#include "protocol/wire.h"

namespace rill::net {

class kafka_client {
  public:
    kafka_client(boost::asio::any_io_executor ex, std::string client_id);

    // Connects (closing any previous connection). False on failure or timeout.
    boost::asio::awaitable<bool> connect(std::string host, uint16_t port,
                                         std::chrono::milliseconds timeout);
    bool connected() const { return socket_.is_open(); }
    void close();

    // Sends `req` at `version` and decodes the response. nullopt on an I/O error, a timeout
    // (the connection is then closed) or an undecodable response. The response owns its
    // buffer (records fields view into it).
    template <typename Req, typename Resp>
    boost::asio::awaitable<std::optional<Resp>> call(const Req& req, int16_t version,
                                                     std::chrono::milliseconds timeout) {
        protocol::writer w(256);
        const int32_t corr = ++correlation_;
        protocol::encode_request_frame(w, corr, client_id_, version, req);
        auto exchange = roundtrip(w.take(), corr,
                                  protocol::messages::response_header_version(
                                      Req::api_key, version, Req::first_flexible_version),
                                  timeout);
        auto body = co_await std::move(exchange);
        if (!body) co_return std::nullopt;
        protocol::reader r(body->view, body->owner);
        Resp resp;
        resp.decode(r, version);
        if (!r.ok()) {
            close();
            co_return std::nullopt;
        }
        co_return resp;
    }

  private:
    struct response_body {
        std::shared_ptr<protocol::bytes> owner;
        protocol::bytes_view view;  // after the response header
    };
    boost::asio::awaitable<std::optional<response_body>> roundtrip(
        protocol::bytes frame, int32_t correlation_id, int16_t response_header_version,
        std::chrono::milliseconds timeout);

    boost::asio::ip::tcp::socket socket_;
    boost::asio::steady_timer timer_;
    std::optional<std::string> client_id_;
    int32_t correlation_ = 0;
};

}  // namespace rill::net
