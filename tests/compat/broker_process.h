// Starts the real rill binary (RILL_BIN) on a free loopback port with a temporary data
// directory, for the C++ compat tests. Header-only; one broker per test binary or suite.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace rill::compat {

inline int free_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(s);
    return ntohs(a.sin_port);
}

// A connected socket to 127.0.0.1:port, or -1.
inline int connect_loopback(int port) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(s);
        return -1;
    }
    return s;
}

class broker_process {
  public:
    // Starts the broker with extra `key=value` overrides; false if it does not listen in 10 s.
    bool start(const std::vector<std::string>& overrides = {}) {
        port = free_port();
        dir = std::filesystem::temp_directory_path() /
              ("rill-compat-" + std::to_string(::getpid()) + "-" + std::to_string(port));
        std::filesystem::create_directories(dir);
        const char* bin = std::getenv("RILL_BIN");
        if (!bin) return false;
        std::vector<std::string> args = {bin, "--override",
                                         "listeners=PLAINTEXT://127.0.0.1:" + std::to_string(port),
                                         "--override", "log.dirs=" + (dir / "data").string(),
                                         // No admin HTTP endpoint: parallel brokers would
                                         // collide on its default port.
                                         "--override", "admin.listeners="};
        for (const auto& o : overrides) {
            args.push_back("--override");
            args.push_back(o);
        }
        pid = ::fork();
        if (pid == 0) {
            FILE* f = std::freopen((dir / "broker.log").c_str(), "w", stderr);
            (void)f;
            std::vector<char*> argv;
            for (auto& a : args)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(bin, argv.data());
            std::_Exit(127);
        }
        for (int i = 0; i < 400; ++i) {
            int s = connect_loopback(port);
            if (s >= 0) {
                ::close(s);
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(25));
        }
        return false;
    }

    // SIGTERM and wait; true when the broker exited cleanly with status 0.
    bool stop() {
        if (pid <= 0) return false;
        ::kill(pid, SIGTERM);
        int status = 0;
        ::waitpid(pid, &status, 0);
        pid = -1;
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok) {
            // Show how the broker ended before its directory goes.
            std::ifstream log(dir / "broker.log");
            std::string line;
            std::vector<std::string> tail;
            while (std::getline(log, line)) {
                tail.push_back(line);
                if (tail.size() > 40) tail.erase(tail.begin());
            }
            std::fprintf(stderr, "broker exited with status %d; last log lines:\n", status);
            for (const auto& l : tail)
                std::fprintf(stderr, "  %s\n", l.c_str());
        }
        std::filesystem::remove_all(dir);
        return ok;
    }

    std::string bootstrap() const { return "127.0.0.1:" + std::to_string(port); }

    int port = 0;
    pid_t pid = -1;
    std::filesystem::path dir;
};

}  // namespace rill::compat
