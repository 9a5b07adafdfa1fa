#include "net/hangup_watch.h"

#include <gtest/gtest.h>

namespace rill::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

struct socket_pair {
    explicit socket_pair(asio::io_context& io) : server(io), client(io) {
        tcp::acceptor acc(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        client.connect(acc.local_endpoint());
        acc.accept(server);
    }
    tcp::socket server;
    tcp::socket client;
};

void run_for(asio::io_context& io, int ms) {
    io.restart();
    io.run_for(std::chrono::milliseconds(ms));
}

TEST(HangupWatch, FinBehindUnreadBytesIsReported) {
    asio::io_context io;
    hangup_watch watch(io);
    socket_pair p(io);
    asio::write(p.client, asio::buffer(std::string(1000, 'x')));
    int fired = 0;
    auto token = watch.add(p.server.native_handle(), [&] { ++fired; });
    ASSERT_NE(token, 0u);
    run_for(io, 50);
    EXPECT_EQ(fired, 0);  // readable, but the peer is still there
    p.client.close();
    run_for(io, 200);
    EXPECT_EQ(fired, 1);
    EXPECT_EQ(watch.size(), 0u);
    watch.remove(token);  // a no-op once fired
}

TEST(HangupWatch, ResetIsReported) {
    asio::io_context io;
    hangup_watch watch(io);
    socket_pair p(io);
    int fired = 0;
    watch.add(p.server.native_handle(), [&] { ++fired; });
    p.client.set_option(asio::socket_base::linger(true, 0));
    p.client.close();  // RST
    run_for(io, 200);
    EXPECT_EQ(fired, 1);
}

TEST(HangupWatch, AlreadyGoneBeforeWatchingIsReported) {
    asio::io_context io;
    hangup_watch watch(io);
    socket_pair p(io);
    p.client.close();
    int fired = 0;
    watch.add(p.server.native_handle(), [&] { ++fired; });
    run_for(io, 200);
    EXPECT_EQ(fired, 1);
}

TEST(HangupWatch, RemovedWatchNeverFiresAndOthersStillDo) {
    asio::io_context io;
    hangup_watch watch(io);
    socket_pair a(io), b(io), c(io);
    int fired_a = 0, fired_b = 0, fired_c = 0;
    auto ta = watch.add(a.server.native_handle(), [&] { ++fired_a; });
    watch.add(b.server.native_handle(), [&] {
        ++fired_b;
        // A callback may watch another socket.
        watch.add(c.server.native_handle(), [&] { ++fired_c; });
    });
    watch.remove(ta);
    a.client.close();
    b.client.close();
    run_for(io, 100);
    EXPECT_EQ(fired_a, 0);
    EXPECT_EQ(fired_b, 1);
    EXPECT_EQ(fired_c, 0);
    EXPECT_EQ(watch.size(), 1u);
    c.client.close();
    run_for(io, 200);
    EXPECT_EQ(fired_c, 1);
    EXPECT_EQ(watch.size(), 0u);
    // The same socket can be watched again after its watch ended.
    auto again = watch.add(a.server.native_handle(), [&] { ++fired_a; });
    EXPECT_NE(again, 0u);
    run_for(io, 100);
    EXPECT_EQ(fired_a, 1);
}

TEST(HangupWatch, ManySockets) {
    asio::io_context io;
    hangup_watch watch(io);
    std::vector<std::unique_ptr<socket_pair>> pairs;
    int fired = 0;
    for (int i = 0; i < 150; ++i) {  // more than one epoll_wait batch
        pairs.push_back(std::make_unique<socket_pair>(io));
        watch.add(pairs.back()->server.native_handle(), [&] { ++fired; });
    }
    for (auto& p : pairs)
        p->client.close();
    run_for(io, 300);
    EXPECT_EQ(fired, 150);
}

}  // namespace
}  // namespace rill::net
