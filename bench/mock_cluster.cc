// mock_cluster: librdkafka's in-memory mock cluster (rd_kafka_mock_cluster_new) in its own
// process, the benchmark peer. Prints "bootstrap=HOST:PORT" on stdout once it accepts
// connections and stays up until SIGTERM or SIGINT.
//
//   mock_cluster [--port PORT] [--brokers N] [--topic NAME:PARTITIONS ...]
//
// --port: librdkafka 2.0 binds its mock brokers to 127.0.0.1 on an ephemeral port and has no
// setting for it, so this program interposes bind(): the first loopback bind to port 0 gets
// PORT instead (broker 1; further brokers keep ephemeral ports). librdkafka reads the port
// back with getsockname(), so Metadata advertises it. --port 0 keeps the ephemeral port.
// Topics are created up front because the mock cluster has no CreateTopics (it auto-creates
// unknown topics with its default partition count).
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {
std::atomic<int> g_port{0};
}

extern "C" int bind(int fd, const sockaddr* addr, socklen_t len) {
    using bind_fn = int (*)(int, const sockaddr*, socklen_t);
    static const auto real = reinterpret_cast<bind_fn>(dlsym(RTLD_NEXT, "bind"));
    if (addr && addr->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
        sockaddr_in sin;
        std::memcpy(&sin, addr, sizeof sin);
        int port = g_port.load();
        if (sin.sin_port == 0 && port != 0 && g_port.compare_exchange_strong(port, 0)) {
            sin.sin_port = htons(static_cast<uint16_t>(port));
            int one = 1;
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            return real(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin);
        }
    }
    return real(fd, addr, len);
}

int main(int argc, char** argv) {
    int brokers = 1;
    int port = 0;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--port" && i + 1 < argc)
            port = std::atoi(argv[++i]);
        else if (a == "--brokers" && i + 1 < argc)
            brokers = std::atoi(argv[++i]);
        else if (a == "--topic" && i + 1 < argc)
            ++i;  // created below, once the cluster is up
        else {
            std::fprintf(stderr,
                         "usage: mock_cluster [--port PORT] [--brokers N] "
                         "[--topic NAME:PARTITIONS ...]\n");
            return 2;
        }
    }
    g_port.store(port);

    // Block the stop signals before librdkafka starts its threads, then wait for them below.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        std::fprintf(stderr, "mock_cluster: rd_kafka_new: %s\n", err);
        return 1;
    }
    rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
    if (!mc) {
        std::fprintf(stderr, "mock_cluster: rd_kafka_mock_cluster_new failed (port %d busy?)\n",
                     port);
        return 1;
    }
    if (port != 0 && g_port.load() != 0) {
        std::fprintf(stderr, "mock_cluster: could not bind port %d\n", port);
        return 1;
    }
    for (int i = 1; i < argc; ++i) {
        if (std::string(argv[i]) != "--topic") continue;
        std::string spec = argv[++i];
        auto colon = spec.rfind(':');
        std::string name = spec.substr(0, colon);
        int parts = colon == std::string::npos ? 1 : std::atoi(spec.c_str() + colon + 1);
        if (rd_kafka_mock_topic_create(mc, name.c_str(), parts, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            std::fprintf(stderr, "mock_cluster: cannot create topic %s\n", spec.c_str());
            return 1;
        }
    }
    std::printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    std::fflush(stdout);

    int sig = 0;
    sigwait(&stop, &sig);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
