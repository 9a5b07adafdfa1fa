// Test helper: runs a standalone ZooKeeper server (Debian's `zookeeper` package, Java) on a free
// loopback port in a temporary directory, for the lifetime of the object.
//
//   rill::testing::zk_server zk;
//   ASSERT_TRUE(zk.start()) << zk.error();
//   config "zookeeper.connect" = zk.connect_string() + "/some/chroot"
//
// The server is killed (SIGKILL after SIGTERM) and its directory removed by the destructor; the
// child also dies with the test process (PR_SET_PDEATHSIG).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

namespace rill::testing {

class zk_server {
  public:
    zk_server() = default;
    zk_server(const zk_server&) = delete;
    zk_server& operator=(const zk_server&) = delete;
    ~zk_server() { stop(); }

    // Starts the server and waits until it accepts connections. tick_ms bounds the session
    // timeouts the server grants: [2 * tick, 20 * tick].
    bool start(int tick_ms = 500, std::chrono::seconds timeout = std::chrono::seconds(30)) {
        char tmpl[] = "/tmp/rill-zk-XXXXXX";
        if (!mkdtemp(tmpl)) return fail("mkdtemp failed");
        dir_ = tmpl;
        port_ = free_port();
        if (port_ == 0) return fail("no free port");
        std::string classpath =
            "/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:"
            "/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar";
        if (const char* cp = std::getenv("RILL_ZK_CLASSPATH")) classpath = cp;
        std::vector<std::string> args = {"java",
                                         "-Xmx256m",
                                         "-XX:+UseSerialGC",
                                         "-XX:TieredStopAtLevel=1",
                                         "-Dzookeeper.admin.enableServer=false",
                                         "-Dzookeeper.4lw.commands.whitelist=*",
                                         "-cp",
                                         classpath,
                                         "org.apache.zookeeper.server.ZooKeeperServerMain",
                                         std::to_string(port_),
                                         dir_ + "/data",
                                         std::to_string(tick_ms)};
        std::string log = dir_ + "/server.log";
        pid_ = fork();
        if (pid_ < 0) return fail("fork failed");
        if (pid_ == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0) {
                dup2(fd, 1);
                dup2(fd, 2);
                close(fd);
            }
            std::vector<char*> argv;
            for (auto& a : args)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            execvp("java", argv.data());
            _exit(127);
        }
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return fail("ZooKeeper exited early; see " + log);
            }
            if (can_connect(port_)) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return fail("ZooKeeper did not start within the timeout; see " + log);
    }

    void stop() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            for (int i = 0; i < 100; ++i) {
                if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
                    pid_ = -1;
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            if (pid_ > 0) {
                kill(pid_, SIGKILL);
                waitpid(pid_, nullptr, 0);
                pid_ = -1;
            }
        }
        if (!dir_.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
            dir_.clear();
        }
    }

    int port() const { return port_; }
    std::string connect_string() const { return "127.0.0.1:" + std::to_string(port_); }
    const std::string& error() const { return error_; }

  private:
    bool fail(std::string e) {
        error_ = std::move(e);
        return false;
    }

    static int free_port() {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return 0;
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = 0;
        socklen_t len = sizeof(a);
        int port = 0;
        if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
            getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
            port = ntohs(a.sin_port);
        close(fd);
        return port;
    }

    static bool can_connect(int port) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return false;
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<uint16_t>(port));
        bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
        close(fd);
        return ok;
    }

    std::string dir_;
    int port_ = 0;
    pid_t pid_ = -1;
    std::string error_;
};

}  // namespace rill::testing
