// A small blocking Kafka client for the operator CLI: one TCP connection per broker, requests
// built and parsed with the generated codecs (protocol/generated), one request in flight.
//
//   kafka_client c = kafka_client::connect("127.0.0.1:9092", 30000);   // throws connect_error
//   auto md = c.call(messages::metadata_request{});  // the highest version both sides speak
//
// The API versions come from an ApiVersions exchange right after connecting; call() picks the
// highest version both this build and the broker support, and throws kafka_error
// (UNSUPPORTED_VERSION) when there is none. Not a shard: it blocks on its socket (poll with the
// request timeout).
//
// Thread-safety: one thread per kafka_client.
#pragma once

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include "protocol/frame.h"
#include "protocol/wire.h"

namespace rill::cli {

// The broker cannot be reached (refused, unresolvable, timed out, closed): exit code 3.
struct connect_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A Kafka error answer (or a protocol-level failure we map to one): exit code 1.
struct kafka_error : std::runtime_error {
    kafka_error(int16_t code, const std::string& context, const std::string& message);
    int16_t code;
};

class kafka_client {
  public:
    // `bootstrap` is host:port[,host:port...]; the first that accepts and answers ApiVersions
    // wins. Throws connect_error when none does, std::invalid_argument for a malformed address.
    static kafka_client connect(const std::string& bootstrap, int timeout_ms);
    // One host and port (e.g. the controller from a Metadata response).
    static kafka_client connect_to(const std::string& host, int port, int timeout_ms);

    kafka_client(kafka_client&& o) noexcept;
    kafka_client& operator=(kafka_client&& o) noexcept;
    kafka_client(const kafka_client&) = delete;
    kafka_client& operator=(const kafka_client&) = delete;
    ~kafka_client();

    const std::string& address() const { return address_; }
    int timeout_ms() const { return timeout_ms_; }

    // The version call() uses for `Request`; throws kafka_error when the broker and this build
    // share none.
    template <typename Request>
    int16_t version_for() const {
        return pick_version(Request::api_key, Request::min_version, Request::max_version);
    }

    // Sends `req` and decodes the response, at version_for<Request>(). Response is the
    // matching *_response type.
    template <typename Response, typename Request>
    Response call(const Request& req) {
        const int16_t v = version_for<Request>();
        return call_at<Response>(req, v);
    }

    template <typename Response, typename Request>
    Response call_at(const Request& req, int16_t v) {
        protocol::writer w;
        const int32_t corr = next_correlation_++;
        protocol::encode_request_frame(w, corr, std::string("rill-cli"), v, req);
        protocol::bytes body =
            round_trip(w.buffer(), corr,
                       protocol::messages::response_header_version(
                           Response::api_key, v, Response::first_flexible_version));
        protocol::reader r(body);
        Response resp;
        resp.decode(r, v);
        if (!r.ok()) throw_malformed(Response::api_key);
        return resp;
    }

  private:
    kafka_client(int fd, std::string address, int timeout_ms);
    void negotiate_versions();
    int16_t pick_version(int16_t key, int16_t ours_min, int16_t ours_max) const;
    // Writes the frame, reads the matching response frame, strips its header.
    protocol::bytes round_trip(const protocol::bytes& frame, int32_t correlation_id,
                               int16_t response_header_version);
    void send_all(const uint8_t* p, size_t n);
    void recv_all(uint8_t* p, size_t n);
    [[noreturn]] void throw_malformed(int16_t api_key) const;

    int fd_ = -1;
    std::string address_;
    int timeout_ms_ = 30000;
    int32_t next_correlation_ = 1;
    std::map<int16_t, std::pair<int16_t, int16_t>> versions_;  // api key -> broker's [min, max]
};

}  // namespace rill::cli
