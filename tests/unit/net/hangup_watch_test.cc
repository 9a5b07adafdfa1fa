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

}  // namespace
}  // namespace rill::net
