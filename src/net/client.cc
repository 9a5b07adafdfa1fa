#include "net/client.h"

#include "protocol/generated/support.h"

#include <array>
#include <memory>

namespace rill::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// Inter-broker responses are bounded by replica.fetch.response.max.bytes and friends; refuse
// anything absurd rather than allocating it.
constexpr int32_t kMaxResponseBytes = 512 * 1024 * 1024;
}  // namespace

kafka_client::kafka_client(asio::any_io_executor ex, std::string client_id)
    : socket_(ex), timer_(ex), client_id_(std::move(client_id)) {}

void kafka_client::close() {
    boost::system::error_code ec;
    if (socket_.is_open()) socket_.close(ec);
    timer_.cancel();
}

asio::awaitable<bool> kafka_client::connect(std::string host, uint16_t port,
                                            std::chrono::milliseconds timeout) {
    close();
    boost::system::error_code ec;
    tcp::resolver resolver(socket_.get_executor());
    auto resolving = resolver.async_resolve(host, std::to_string(port),
                                            asio::redirect_error(asio::use_awaitable, ec));
    auto endpoints = co_await std::move(resolving);
    if (ec) co_return false;
    auto expired = std::make_shared<bool>(false);
    timer_.expires_after(timeout);
    timer_.async_wait([this, expired](const boost::system::error_code& e) {
        if (e) return;
        *expired = true;
        boost::system::error_code ignored;
        socket_.close(ignored);
    });
    auto connecting =
        asio::async_connect(socket_, endpoints, asio::redirect_error(asio::use_awaitable, ec));
    co_await std::move(connecting);
    timer_.cancel();
    if (ec || *expired) {
        close();
        co_return false;
    }
    socket_.set_option(tcp::no_delay(true), ec);
    co_return true;
}

asio::awaitable<std::optional<kafka_client::response_body>> kafka_client::roundtrip(
    protocol::bytes frame, int32_t correlation_id, int16_t response_header_version,
    std::chrono::milliseconds timeout) {
    if (!socket_.is_open()) co_return std::nullopt;
    auto expired = std::make_shared<bool>(false);
    timer_.expires_after(timeout);
    timer_.async_wait([this, expired](const boost::system::error_code& e) {
        if (e) return;
        *expired = true;
        boost::system::error_code ignored;
        socket_.close(ignored);
    });
    boost::system::error_code ec;
    auto writing = asio::async_write(socket_, asio::buffer(frame),
                                     asio::redirect_error(asio::use_awaitable, ec));
    co_await std::move(writing);
    std::optional<response_body> out;
    while (!ec) {
        std::array<uint8_t, 4> size_buf{};
        auto reading_size = asio::async_read(socket_, asio::buffer(size_buf),
                                             asio::redirect_error(asio::use_awaitable, ec));
        co_await std::move(reading_size);
        if (ec) break;
        const int32_t size = protocol::decode_frame_size(size_buf.data());
        if (size < 4 || size > kMaxResponseBytes) break;
        auto body = std::make_shared<protocol::bytes>(static_cast<size_t>(size));
        auto reading_body = asio::async_read(socket_, asio::buffer(*body),
                                             asio::redirect_error(asio::use_awaitable, ec));
        co_await std::move(reading_body);
        if (ec) break;
        protocol::reader r(*body, body);
        const int32_t corr = r.read_int32();
        if (corr != correlation_id) continue;  // a late answer to a call that timed out
        if (response_header_version >= 1) protocol::messages::detail::skip_tagged_fields(r);
        if (!r.ok()) break;
        const size_t header = body->size() - r.remaining();
        out = response_body{body, protocol::bytes_view(*body).subspan(header)};
        break;
    }
    timer_.cancel();
    if (!out || *expired) {
        close();
        co_return std::nullopt;
    }
    co_return out;
}

}  // namespace rill::net
