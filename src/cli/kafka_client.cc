#include "cli/kafka_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "protocol/generated/api.h"
#include "protocol/generated/api_versions.h"
#include "protocol/generated/error_code.h"

namespace rill::cli {

namespace {

using clock_type = std::chrono::steady_clock;

// Largest response frame the CLI accepts (a Metadata answer of a very large cluster fits).
constexpr int32_t kMaxResponseBytes = 256 * 1024 * 1024;

std::string error_text(int16_t code, const std::string& message) {
    const auto e = static_cast<protocol::error_code>(code);
    std::string out(protocol::error_name(e));
    std::string msg = message.empty() ? std::string(protocol::error_message(e)) : message;
    if (!msg.empty()) out += ": " + msg;
    return out;
}

int remaining_ms(clock_type::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

// Splits "host:port" (the host may be "[v6]").
std::pair<std::string, std::string> split_host_port(const std::string& s) {
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
            throw std::invalid_argument("bad broker address '" + s + "' (want host:port)");
        return {s.substr(1, close - 1), s.substr(close + 2)};
    }
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size())
        throw std::invalid_argument("bad broker address '" + s + "' (want host:port)");
    return {s.substr(0, colon), s.substr(colon + 1)};
}

// A connected blocking socket to host:port within timeout_ms, or an exception.
int open_socket(const std::string& host, const std::string& port, int timeout_ms) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
        throw connect_error("cannot resolve " + host + ":" + port + ": " + ::gai_strerror(rc));
    std::string last = "no address";
    const auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms);
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
        const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = std::strerror(errno);
            continue;
        }
        const int flags = ::fcntl(fd, F_GETFL, 0);
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            rc = ::poll(&p, 1, remaining_ms(deadline));
            if (rc == 0) {
                last = "connection timed out";
                ::close(fd);
                continue;
            }
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            rc = err == 0 ? 0 : -1;
            errno = err;
        }
        if (rc != 0) {
            last = std::strerror(errno);
            ::close(fd);
            continue;
        }
        ::fcntl(fd, F_SETFL, flags);
        ::freeaddrinfo(res);
        return fd;
    }
    ::freeaddrinfo(res);
    throw connect_error("cannot connect to " + host + ":" + port + ": " + last);
}

}  // namespace

kafka_error::kafka_error(int16_t c, const std::string& context, const std::string& message)
    : std::runtime_error((context.empty() ? "" : context + ": ") + error_text(c, message)),
      code(c) {}

kafka_client::kafka_client(int fd, std::string address, int timeout_ms)
    : fd_(fd), address_(std::move(address)), timeout_ms_(timeout_ms) {}

kafka_client::kafka_client(kafka_client&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      address_(std::move(o.address_)),
      timeout_ms_(o.timeout_ms_),
      next_correlation_(o.next_correlation_),
      versions_(std::move(o.versions_)) {}

kafka_client& kafka_client::operator=(kafka_client&& o) noexcept {
    if (this != &o) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(o.fd_, -1);
        address_ = std::move(o.address_);
        timeout_ms_ = o.timeout_ms_;
        next_correlation_ = o.next_correlation_;
        versions_ = std::move(o.versions_);
    }
    return *this;
}

kafka_client::~kafka_client() {
    if (fd_ >= 0) ::close(fd_);
}

kafka_client kafka_client::connect(const std::string& bootstrap, int timeout_ms) {
    std::string last;
    size_t start = 0;
    while (start <= bootstrap.size()) {
        size_t comma = bootstrap.find(',', start);
        if (comma == std::string::npos) comma = bootstrap.size();
        const std::string one = bootstrap.substr(start, comma - start);
        start = comma + 1;
        if (one.empty()) continue;
        // A malformed address is a bad argument and a broker that answers garbage a Kafka-level
        // failure (both propagate); one that cannot be reached lets the next server try.
        try {
            auto [host, port_text] = split_host_port(one);
            size_t used = 0;
            int port = -1;
            try {
                port = std::stoi(port_text, &used);
            } catch (const std::exception&) {
            }
            if (used != port_text.size() || port <= 0 || port > 65535)
                throw std::invalid_argument("bad broker address '" + one + "' (want host:port)");
            return connect_to(host, port, timeout_ms);
        } catch (const connect_error& e) {
            last = e.what();
        }
    }
    throw connect_error(last.empty() ? "no bootstrap server given" : last);
}

kafka_client kafka_client::connect_to(const std::string& host, int port, int timeout_ms) {
    const int fd = open_socket(host, std::to_string(port), timeout_ms);
    kafka_client c(fd, host + ":" + std::to_string(port), timeout_ms);
    c.negotiate_versions();
    return c;
}

void kafka_client::negotiate_versions() {
    namespace m = protocol::messages;
    // ApiVersions v0 is understood by every broker; newer ones answer a too-new request with
    // UNSUPPORTED_VERSION and their own ranges at v0, so v3 with a v0 fallback covers all.
    m::api_versions_request req;
    req.client_software_name = "rill-cli";
    req.client_software_version = "0.1.0";
    // Sent by hand: a body that does not decode at v3 is an older broker's v0 answer, while
    // framing errors (which leave the stream unusable) propagate.
    protocol::writer w;
    const int32_t corr = next_correlation_++;
    protocol::encode_request_frame(w, corr, std::string("rill-cli"), 3, req);
    const protocol::bytes body = round_trip(w.buffer(), corr, 0);
    protocol::reader r(body);
    m::api_versions_response resp;
    resp.decode(r, 3);
    const bool fallback =
        !r.ok() ||
        resp.error_code == static_cast<int16_t>(protocol::error_code::unsupported_version);
    if (fallback) resp = call_at<m::api_versions_response>(req, 0);
    if (resp.error_code != 0) throw kafka_error(resp.error_code, "ApiVersions", "");
    for (const auto& k : resp.api_keys)
        versions_[k.api_key] = {k.min_version, k.max_version};
}

int16_t kafka_client::pick_version(int16_t key, int16_t ours_min, int16_t ours_max) const {
    const auto it = versions_.find(key);
    const auto* api = protocol::messages::find_api(key);
    const std::string name = api ? std::string(api->name) : std::to_string(key);
    if (it == versions_.end())
        throw kafka_error(static_cast<int16_t>(protocol::error_code::unsupported_version), name,
                          "the broker at " + address_ + " does not support " + name);
    const int16_t hi = std::min(ours_max, it->second.second);
    if (hi < std::max(ours_min, it->second.first))
        throw kafka_error(static_cast<int16_t>(protocol::error_code::unsupported_version), name,
                          "no " + name + " version in common with the broker at " + address_);
    return hi;
}

void kafka_client::send_all(const uint8_t* p, size_t n) {
    const auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms_);
    while (n > 0) {
        pollfd pf{fd_, POLLOUT, 0};
        if (::poll(&pf, 1, remaining_ms(deadline)) <= 0)
            throw connect_error("timed out writing to " + address_);
        const ssize_t k = ::send(fd_, p, n, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            throw connect_error("write to " + address_ + " failed: " + std::strerror(errno));
        }
        p += k;
        n -= static_cast<size_t>(k);
    }
}

void kafka_client::recv_all(uint8_t* p, size_t n) {
    const auto deadline = clock_type::now() + std::chrono::milliseconds(timeout_ms_);
    while (n > 0) {
        pollfd pf{fd_, POLLIN, 0};
        if (::poll(&pf, 1, remaining_ms(deadline)) <= 0)
            throw connect_error("no answer from " + address_ + " within " +
                                std::to_string(timeout_ms_) + " ms");
        const ssize_t k = ::recv(fd_, p, n, 0);
        if (k == 0) throw connect_error("the broker at " + address_ + " closed the connection");
        if (k < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            throw connect_error("read from " + address_ + " failed: " + std::strerror(errno));
        }
        p += k;
        n -= static_cast<size_t>(k);
    }
}

protocol::bytes kafka_client::round_trip(const protocol::bytes& frame, int32_t correlation_id,
                                         int16_t response_header_version) {
    send_all(frame.data(), frame.size());
    uint8_t size_buf[4];
    recv_all(size_buf, sizeof size_buf);
    const int32_t size = protocol::decode_frame_size(size_buf);
    if (size < 4 || size > kMaxResponseBytes)
        throw kafka_error(static_cast<int16_t>(protocol::error_code::corrupt_message), "",
                          "bad response frame size " + std::to_string(size) + " from " + address_);
    protocol::bytes body(static_cast<size_t>(size));
    recv_all(body.data(), body.size());
    protocol::reader r(body);
    const int32_t corr = r.read_int32();
    if (corr != correlation_id)
        throw kafka_error(static_cast<int16_t>(protocol::error_code::corrupt_message), "",
                          "response correlation id " + std::to_string(corr) + ", expected " +
                              std::to_string(correlation_id));
    size_t header = 4;
    if (response_header_version >= 1) {
        // Tagged fields of the response header: skip them.
        const uint32_t n = r.read_uvarint();
        for (uint32_t i = 0; i < n && r.ok(); ++i) {
            r.read_uvarint();
            const uint32_t len = r.read_uvarint();
            if (len > r.remaining()) {
                throw_malformed(-1);
            }
            for (uint32_t j = 0; j < len; ++j)
                r.read_int8();
        }
        if (!r.ok()) throw_malformed(-1);
        header = static_cast<size_t>(r.position() - body.data());
    }
    return protocol::bytes(body.begin() + static_cast<std::ptrdiff_t>(header), body.end());
}

void kafka_client::throw_malformed(int16_t api_key) const {
    const auto* api = protocol::messages::find_api(api_key);
    throw kafka_error(static_cast<int16_t>(protocol::error_code::corrupt_message),
                      api ? std::string(api->name) : std::string(),
                      "malformed response from " + address_);
}

}  // namespace rill::cli
