// The listener in-process: the request budget around a handler, waiting connections that
// leave, stop(), the idle watchdog and the connection limits, over real loopback sockets.
#include "net/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

namespace rill::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// A blocking client socket with a receive timeout.
class client {
  public:
    explicit client(uint16_t port, const char* source = nullptr) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (source) {
            sockaddr_in src{};
            src.sin_family = AF_INET;
            ::inet_pton(AF_INET, source, &src.sin_addr);
            ::bind(fd_, reinterpret_cast<sockaddr*>(&src), sizeof src);
        }
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        set_timeout(2000ms);
    }
    ~client() { close(); }
    void close() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    void set_timeout(std::chrono::milliseconds t) {
        timeval tv{static_cast<time_t>(t.count() / 1000),
                   static_cast<suseconds_t>((t.count() % 1000) * 1000)};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    bool connected() const { return connected_; }
    void send_raw(const std::string& bytes) {
        ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
    }
    // Sends a frame header announcing `size` bytes and the first `body` of them.
    void send_frame(int32_t size, const std::string& body) {
        uint32_t be = htonl(static_cast<uint32_t>(size));
        send_raw(std::string(reinterpret_cast<char*>(&be), 4) + body);
    }
    // The payload of the next response, or nullopt on timeout / close.
    std::optional<std::string> response() {
        char hdr[4];
        if (!read_exact(hdr, 4)) return std::nullopt;
        uint32_t n;
        std::memcpy(&n, hdr, 4);
        std::string out(ntohl(n), '\0');
        if (!read_exact(out.data(), out.size())) return std::nullopt;
        return out;
    }
    // True when the server closed the connection (EOF or reset) within the timeout.
    bool closed_by_peer() {
        char c;
        ssize_t n = ::recv(fd_, &c, 1, 0);
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }

  private:
    bool read_exact(char* p, size_t n) {
        while (n > 0) {
            ssize_t r = ::recv(fd_, p, n, 0);
            if (r <= 0) return false;
            p += r;
            n -= static_cast<size_t>(r);
        }
        return true;
    }
    int fd_ = -1;
    bool connected_ = false;
};

// A broker stand-in: "e..." answers with the budget in use while it runs; "s..." answers after
// 400 ms; anything else closes the connection.
struct fixture {
    explicit fixture(server_limits limits, size_t shards = 1) {
        for (size_t i = 0; i < shards; ++i) {
            ios.push_back(std::make_unique<asio::io_context>(1));
            ptrs.push_back(ios.back().get());
        }
        srv = std::make_unique<server>(
            ptrs,
            [this](const connection_info& c, request_frame f) -> asio::awaitable<handler_result> {
                handled++;
                const auto& body = *f.data;
                if (body.empty()) co_return handler_result{std::nullopt, true};
                if (body[0] == 's') {
                    asio::steady_timer t(co_await asio::this_coro::executor, 400ms);
                    co_await t.async_wait(asio::use_awaitable);
                } else if (body[0] != 'e') {
                    co_return handler_result{std::nullopt, true};
                }
                std::string payload = std::to_string(c.budget ? c.budget->used() : -1) +
                                      (c.budget == &srv->budget() ? " same" : " other");
                response_frame r;
                uint32_t be = htonl(static_cast<uint32_t>(payload.size()));
                r.buffer.resize(4);
                std::memcpy(r.buffer.data(), &be, 4);
                r.buffer.insert(r.buffer.end(), payload.begin(), payload.end());
                co_return handler_result{std::move(r), false};
            },
            std::move(limits));
        auto r = srv->listen({{"PLAINTEXT", "127.0.0.1", 0}});
        EXPECT_TRUE(r) << (r ? "" : r.error());
        port = srv->bound_port(0);
        for (auto* io : ptrs)
            threads.emplace_back([io] {
                auto guard = asio::make_work_guard(*io);
                io->run();
            });
    }
    ~fixture() {
        srv->stop();
        wait_for([&] { return srv->connection_count() == 0; });
        for (auto* io : ptrs)
            io->stop();
        for (auto& t : threads)
            t.join();
        srv.reset();
    }
    static bool wait_for(const std::function<bool()>& pred, std::chrono::milliseconds t = 2000ms) {
        auto deadline = std::chrono::steady_clock::now() + t;
        while (std::chrono::steady_clock::now() < deadline) {
            if (pred()) return true;
            std::this_thread::sleep_for(5ms);
        }
        return pred();
    }
    const memory_budget& budget() const { return srv->budget(); }

    std::vector<std::unique_ptr<asio::io_context>> ios;
    std::vector<asio::io_context*> ptrs;
    std::unique_ptr<server> srv;
    std::vector<std::thread> threads;
    std::atomic<int> handled{0};
    uint16_t port = 0;
};

server_limits small_budget() {
    server_limits l;
    l.max_request_bytes = 1000;
    l.max_inflight_bytes = 1000;
    return l;
}

TEST(Server, HandlerRunsWithItsRequestReservedInTheSharedBudget) {
    fixture f(small_budget());
    client c(f.port);
    c.send_frame(300, "e" + std::string(299, 'x'));
    EXPECT_EQ(c.response(), "300 same");
    EXPECT_TRUE(fixture::wait_for([&] { return f.budget().used() == 0; }));
    c.send_frame(1, "e");
    EXPECT_EQ(c.response(), "1 same");
}

TEST(Server, OversizedAndNegativeFramesClose) {
    fixture f(small_budget());
    client a(f.port);
    a.send_frame(1001, "e");
    EXPECT_TRUE(a.closed_by_peer());
    client b(f.port);
    b.send_frame(-5, "");
    EXPECT_TRUE(b.closed_by_peer());
    EXPECT_EQ(f.handled.load(), 0);
}

TEST(Server, SmallRequestsPassWhileABigOneWaitsAndALeaverStopsWaiting) {
    fixture f(small_budget());
    client holder(f.port);
    holder.send_frame(900, "e");  // reserved, body never completed
    ASSERT_TRUE(fixture::wait_for([&] { return f.budget().used() == 900; }));
    client big(f.port);
    big.send_frame(500, "e");  // does not fit: waits, holding nothing
    ASSERT_TRUE(fixture::wait_for([&] { return f.budget().waiting() == 1; }));
    EXPECT_EQ(f.budget().used(), 900);
    client small(f.port);
    small.send_frame(50, "e" + std::string(49, 'x'));
    EXPECT_EQ(small.response(), "950 same");
    // The waiter's peer leaves with bytes unread: it stops waiting at once.
    big.close();
    EXPECT_TRUE(fixture::wait_for([&] { return f.budget().waiting() == 0; }, 1000ms));
    holder.close();
    EXPECT_TRUE(fixture::wait_for([&] { return f.budget().used() == 0; }, 1000ms));
    EXPECT_TRUE(fixture::wait_for([&] { return f.srv->connection_count() == 1; }));
}

TEST(Server, WaiterIsServedOnceTheHolderFinishes) {
    fixture f(small_budget(), 2);
    client holder(f.port);
    holder.send_frame(900, "e");
    ASSERT_TRUE(fixture::wait_for([&] { return f.budget().used() == 900; }));
    client big(f.port);  // another shard
    big.send_frame(500, "e" + std::string(499, 'y'));
    ASSERT_TRUE(fixture::wait_for([&] { return f.budget().waiting() == 1; }));
    holder.send_raw(std::string(899, 'x'));
    EXPECT_EQ(holder.response(), "900 same");
    EXPECT_EQ(big.response(), "500 same");
    EXPECT_TRUE(fixture::wait_for([&] { return f.budget().used() == 0; }));
}

TEST(Server, StopEndsWaitsButLetsHandlersAnswer) {
    fixture f(small_budget());
    client slow(f.port);
    slow.send_frame(1, "s");
    ASSERT_TRUE(fixture::wait_for([&] { return f.handled.load() == 1; }));
    client holder(f.port);
    holder.send_frame(900, "e");
    ASSERT_TRUE(fixture::wait_for([&] { return f.budget().used() == 901; }));
    client waiter(f.port);
    waiter.send_frame(500, "e");
    ASSERT_TRUE(fixture::wait_for([&] { return f.budget().waiting() == 1; }));
    f.srv->stop();
    EXPECT_TRUE(waiter.closed_by_peer());
    EXPECT_TRUE(holder.closed_by_peer());
    EXPECT_EQ(slow.response(), "1 same");  // the request in flight is still answered
    EXPECT_TRUE(fixture::wait_for([&] { return f.budget().used() == 0; }));
    EXPECT_EQ(f.budget().waiting(), 0u);
}

TEST(Server, IdleConnectionsCloseButBusyAndTricklingOnesDoNot) {
    server_limits l = small_budget();
    l.idle_timeout_ms = 250;
    fixture f(l);
    client idle(f.port);
    auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(idle.closed_by_peer());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
    // A handler running longer than the idle timeout.
    client busy(f.port);
    busy.send_frame(1, "s");
    busy.send_frame(1, "s");
    EXPECT_EQ(busy.response(), "1 same");
    EXPECT_EQ(busy.response(), "1 same");
    // A request arriving a byte at a time, slower than the idle timeout overall.
    client trickle(f.port);
    trickle.send_frame(6, "");
    for (char ch : std::string("eabcde")) {
        std::this_thread::sleep_for(100ms);
        trickle.send_raw(std::string(1, ch));
    }
    EXPECT_EQ(trickle.response(), "6 same");
    // Waiting for budget counts as idle (the peer is not heard from): reclaimed.
    client holder(f.port);
    holder.send_frame(900, "e");
    ASSERT_TRUE(fixture::wait_for([&] { return f.budget().used() == 900; }));
    client waiter(f.port);
    waiter.send_frame(500, "e");
    ASSERT_TRUE(fixture::wait_for([&] { return f.budget().waiting() == 1; }));
    EXPECT_TRUE(waiter.closed_by_peer());
    EXPECT_TRUE(holder.closed_by_peer());
    EXPECT_TRUE(fixture::wait_for([&] { return f.budget().used() == 0; }));
}

TEST(Server, PerIpLimitClosesExtraConnections) {
    server_limits l = small_budget();
    l.max_connections_per_ip = 1;
    l.max_connections_per_ip_overrides = {{asio::ip::make_address("127.0.0.2"), 2}};
    fixture f(l);
    client a(f.port);
    a.send_frame(1, "e");
    EXPECT_EQ(a.response(), "1 same");
    client b(f.port);
    EXPECT_TRUE(b.closed_by_peer());
    client c(f.port, "127.0.0.2"), d(f.port, "127.0.0.2");
    for (auto* x : {&c, &d}) {
        x->send_frame(1, "e");
        EXPECT_EQ(x->response(), "1 same");
    }
    client e(f.port, "127.0.0.2");
    EXPECT_TRUE(e.closed_by_peer());
}

TEST(Server, MaxConnectionsPausesAcceptingUntilOneCloses) {
    server_limits l = small_budget();
    std::atomic<int64_t> max{1};
    l.current_max_connections = [&max] { return max.load(); };
    fixture f(l);
    client a(f.port);
    a.send_frame(1, "e");
    EXPECT_EQ(a.response(), "1 same");
    client b(f.port);
    ASSERT_TRUE(b.connected());  // in the backlog
    b.send_frame(1, "e");
    b.set_timeout(300ms);
    EXPECT_EQ(b.response(), std::nullopt);
    b.set_timeout(2000ms);
    a.close();
    EXPECT_EQ(b.response(), "1 same");
    // A higher limit at runtime lets the next one in without any close.
    client c(f.port);
    c.send_frame(1, "e");
    c.set_timeout(300ms);
    EXPECT_EQ(c.response(), std::nullopt);
    max = 2;
    c.set_timeout(2000ms);
    EXPECT_EQ(c.response(), "1 same");
}

}  // namespace
}  // namespace rill::net
