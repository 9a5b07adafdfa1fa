// TLS responses with file regions (Fetch): the regions are read off the shard, so a pread that
// waits for the disk does not stall the other connections of that shard (#14).
//
// pread is interposed for the whole test binary (the server is linked in statically): a read of
// the test's "slow" file blocks until the test releases it, as a read from a stalled disk would.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "net/listener_security.h"
#include "net/server.h"

namespace {

std::atomic<int> g_slow_fd{-1};
std::mutex g_mu;
std::condition_variable g_cv;
bool g_released = false;
std::atomic<int> g_blocked_reads{0};
std::atomic<bool> g_read_on_shard{false};
thread_local bool t_is_shard = false;

ssize_t real_pread(int fd, void* buf, size_t n, off_t off) {
    return static_cast<ssize_t>(::syscall(SYS_pread64, fd, buf, n, off));
}

ssize_t interposed(int fd, void* buf, size_t n, off_t off) {
    if (fd >= 0 && fd == g_slow_fd.load()) {
        if (t_is_shard) g_read_on_shard = true;
        ++g_blocked_reads;
        std::unique_lock lk(g_mu);
        g_cv.wait_for(lk, std::chrono::seconds(20), [] { return g_released; });
    }
    return real_pread(fd, buf, n, off);
}

}  // namespace

extern "C" ssize_t pread(int fd, void* buf, size_t n, off_t off) {
    return interposed(fd, buf, n, off);
}
extern "C" ssize_t pread64(int fd, void* buf, size_t n, off64_t off) {
    return interposed(fd, buf, n, off);
}

namespace rill::net {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using namespace std::chrono_literals;

struct temp_dir {
    temp_dir() {
        char tmpl[] = "/tmp/rill-tls-read-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    ~temp_dir() { std::filesystem::remove_all(path); }
    std::string path;
};

// A response: size prefix, then `prefix`, then the file region (spliced).
response_frame region_response(const std::string& prefix, const protocol::file_region& region) {
    response_frame r;
    const uint32_t len = static_cast<uint32_t>(prefix.size() + region.length);
    const uint32_t be = htonl(len);
    r.buffer.resize(4);
    std::memcpy(r.buffer.data(), &be, 4);
    r.buffer.insert(r.buffer.end(), prefix.begin(), prefix.end());
    r.splices.push_back({r.buffer.size(), region});
    return r;
}

response_frame small_response(const std::string& payload) {
    response_frame r;
    const uint32_t be = htonl(static_cast<uint32_t>(payload.size()));
    r.buffer.resize(4);
    std::memcpy(r.buffer.data(), &be, 4);
    r.buffer.insert(r.buffer.end(), payload.begin(), payload.end());
    return r;
}

std::string frame(const std::string& body) {
    const uint32_t be = htonl(static_cast<uint32_t>(body.size()));
    return std::string(reinterpret_cast<const char*>(&be), 4) + body;
}

template <typename Stream>
std::string read_frame(Stream& s) {
    char hdr[4];
    asio::read(s, asio::buffer(hdr, 4));
    uint32_t n;
    std::memcpy(&n, hdr, 4);
    std::string out(ntohl(n), '\0');
    asio::read(s, asio::buffer(out.data(), out.size()));
    return out;
}

TEST(TlsFileRead, RegionsAreReadOffTheShard) {
    if (std::system("openssl version >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
    temp_dir d;
    const std::string key = d.path + "/key.pem", cert = d.path + "/cert.pem";
    const std::string gen =
        "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 "
        "-keyout " +
        key + " -out " + cert + " >/dev/null 2>&1";
    ASSERT_EQ(std::system(gen.c_str()), 0);

    // The "log segment": 1 MiB of a known pattern (several 256 KiB chunks).
    std::string content(1 << 20, '\0');
    for (size_t i = 0; i < content.size(); ++i)
        content[i] = static_cast<char>('a' + (i * 7 + i / 1000) % 26);
    const std::string seg = d.path + "/segment.log";
    {
        int fd = ::open(seg.c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::write(fd, content.data(), content.size()),
                  static_cast<ssize_t>(content.size()));
        ::close(fd);
    }
    int seg_fd = ::open(seg.c_str(), O_RDONLY);
    ASSERT_GE(seg_fd, 0);
    g_slow_fd = seg_fd;

    auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
    tls->use_certificate_chain_file(cert);
    tls->use_private_key_file(key, ssl::context::pem);
    auto security = std::make_shared<listener_security>();
    security->listener_name = "SSL";
    security->protocol = security_protocol::ssl;
    security->tls = tls;

    asio::io_context shard(1);  // one shard: both connections live on it
    server srv(
        {&shard},
        [&](const connection_info&, request_frame f) -> asio::awaitable<handler_result> {
            const auto& body = *f.data;
            if (!body.empty() && body[0] == 'f')
                co_return handler_result{
                    region_response("head:", {seg_fd, 100, int64_t(content.size()) - 100, {}}),
                    false};
            co_return handler_result{small_response("pong"), false};
        },
        server_limits{});
    auto r =
        srv.listen({{"PLAINTEXT", "127.0.0.1", 0, nullptr}, {"SSL", "127.0.0.1", 0, security}});
    ASSERT_TRUE(r) << r.error();
    std::thread shard_thread([&] {
        t_is_shard = true;
        auto guard = asio::make_work_guard(shard);
        shard.run();
    });

    asio::io_context client_ctx;
    ssl::context client_tls(ssl::context::tls_client);
    client_tls.set_verify_mode(ssl::verify_none);
    ssl::stream<asio::ip::tcp::socket> tls_client(client_ctx, client_tls);
    tls_client.next_layer().connect({asio::ip::make_address("127.0.0.1"), srv.bound_port(1)});
    tls_client.handshake(ssl::stream_base::client);
    asio::write(tls_client, asio::buffer(frame("fetch")));
    // The server is now reading the region (blocked in pread on the slow file).
    for (int i = 0; i < 2000 && g_blocked_reads.load() == 0; ++i)
        std::this_thread::sleep_for(1ms);
    ASSERT_GT(g_blocked_reads.load(), 0);

    // Another connection of the same shard is served meanwhile.
    asio::ip::tcp::socket plain(client_ctx);
    plain.connect({asio::ip::make_address("127.0.0.1"), srv.bound_port(0)});
    asio::write(plain, asio::buffer(frame("ping")));
    std::atomic<bool> answered{false};
    std::string pong;
    std::thread reader([&] {
        try {
            pong = read_frame(plain);
            answered = true;
        } catch (...) {
        }
    });
    for (int i = 0; i < 2000 && !answered; ++i)
        std::this_thread::sleep_for(1ms);
    const bool served_while_reading = answered.load();
    {
        std::lock_guard lk(g_mu);
        g_released = true;
    }
    g_cv.notify_all();
    reader.join();
    EXPECT_TRUE(served_while_reading) << "the shard was blocked by the TLS file read";
    EXPECT_FALSE(g_read_on_shard.load()) << "the file region was read on the shard thread";
    EXPECT_EQ(pong, "pong");

    // The TLS response is complete and in order: prefix, then the region's bytes.
    const std::string got = read_frame(tls_client);
    EXPECT_EQ(got.size(), 5 + content.size() - 100);
    EXPECT_TRUE(got.compare(0, 5, "head:") == 0);
    EXPECT_TRUE(got.compare(5, std::string::npos, content, 100) == 0);

    // A second fetch on the same connection still works (responses stay in order).
    asio::write(tls_client, asio::buffer(frame("fetch")));
    asio::write(tls_client, asio::buffer(frame("ping")));
    EXPECT_EQ(read_frame(tls_client).size(), 5 + content.size() - 100);
    EXPECT_EQ(read_frame(tls_client), "pong");

    boost::system::error_code ec;
    tls_client.next_layer().close(ec);
    plain.close(ec);
    srv.stop();
    for (int i = 0; i < 2000 && srv.connection_count() > 0; ++i)
        std::this_thread::sleep_for(1ms);
    shard.stop();
    shard_thread.join();
    g_slow_fd = -1;
    ::close(seg_fd);
}

}  // namespace
}  // namespace rill::net
