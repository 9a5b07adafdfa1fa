// The Rill broker binary: parses the configuration, wires the layers and runs until SIGTERM or
// SIGINT, then shuts down cleanly (stop accepting, finish in-flight requests, flush, write the
// clean-shutdown markers).
//
//   rill [--config FILE] [--override key=value ...] [--add-scram 'SCRAM-SHA-256=[...]' ...]
//   rill <noun> <verb> [options]     the operator CLI (src/cli, e.g. `rill topic list`)
//
// With no arguments it runs a single node on 127.0.0.1:9092 with data in ./data.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "admin/coordinator_groups.h"
#include "admin/server.h"
#include "broker/broker.h"
#include "broker/group_host.h"
#include "broker/partition_manager.h"
#include "broker/txn_host.h"
#include "cli/cli.h"
#include "cluster/metadata_store.h"
#include "cluster/zk_store.h"
#include "common/asio.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/logging.h"
#include "coordinator/group_coordinator.h"
#include "net/scram.h"
#include "net/server.h"
#include "net/server_config.h"
#include "storage/file_system.h"
#include "storage/log_manager.h"

namespace {

constexpr const char* kUsage =
    "usage: rill [--config FILE] [--override key=value ...]\n"
    "  --config FILE        a server.properties file (Kafka's key names)\n"
    "  --override key=value override one key (repeatable)\n"
    "  --add-scram 'SCRAM-SHA-256=[name=alice,password=alice-secret]'\n"
    "                       a SCRAM credential for SASL listeners (repeatable; kafka-storage\n"
    "                       syntax; held in memory, give it at every start)\n"
    "  --version            print the version\n"
    "Operator CLI: rill topic list|describe|create|delete|alter-config|add-partitions ...\n"
    "                       (rill help, rill topic --help)\n"
    "With no arguments: a single node on 127.0.0.1:9092 with data in ./data.\n";

int fail(const std::string& msg) {
    std::cerr << "rill: " << msg << "\n";
    return 1;
}

std::string local_hostname() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0 && buf[0]) return buf;
    return "localhost";
}

}  // namespace

int main(int argc, char** argv) {
    // Request buffers (up to a few MiB each) come and go at a high rate: keep them in the heap
    // instead of a fresh mmap per request, whose page faults dominated produce CPU in
    // bench/ (docs/performance.md).
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    using namespace rill;
    if (cli::is_cli_invocation(argc, argv)) return cli::run(argc, argv);
    // A peer that closes while a response is being sent must cost only that connection:
    // sendfile() has no MSG_NOSIGNAL, so SIGPIPE would otherwise kill the broker.
    std::signal(SIGPIPE, SIG_IGN);
    std::string config_path;
    std::vector<std::pair<std::string, std::string>> overrides;
    auto scram = std::make_shared<net::scram_credential_store>();
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            std::cout << kUsage;
            return 0;
        }
        if (a == "--version") {
            std::cout << "rill 0.1.0\n";
            return 0;
        }
        if ((a == "--config" || a == "-c") && i + 1 < argc) {
            config_path = argv[++i];
        } else if (a == "--add-scram" && i + 1 < argc) {
            if (auto r = net::add_scram_argument(argv[++i], *scram); !r) return fail(r.error());
        } else if (a == "--override" && i + 1 < argc) {
            std::string kv = argv[++i];
            auto eq = kv.find('=');
            if (eq == std::string::npos || eq == 0)
                return fail("--override expects key=value, got '" + kv + "'");
            overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        } else {
            std::cerr << kUsage;
            return fail("unknown argument '" + a + "'");
        }
    }

    config_values values;
    if (!config_path.empty()) {
        auto text = read_file(config_path);
        if (!text) return fail(text.error());
        auto parsed = parse_properties(*text);
        if (!parsed) return fail(config_path + ": " + parsed.error());
        values = std::move(*parsed);
    }
    for (auto& [k, v] : overrides)
        values.set(k, v);
    std::vector<std::string> unknown;
    auto made = broker_config::make(values, &unknown);
    if (!made) return fail(made.error());
    broker_config config = std::move(*made);
    rill::set_log_level(config.get_string("rill.log.level"));  // validated by the config table
    auto log = rill::logger("rill");
    for (const auto& k : unknown)
        log->warn("unknown config key '{}' ignored", k);

    // Listeners (names mapped to security protocols, TLS and SASL built now so that a bad key
    // store or JAAS value stops the start) and what to advertise.
    auto protocol_map =
        net::parse_protocol_map(config.get_string("listener.security.protocol.map"));
    if (!protocol_map) return fail(protocol_map.error());
    auto upper = [](std::string s) {
        for (auto& ch : s)
            ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        return s;
    };
    std::vector<net::listener_spec> listeners;
    for (const auto& uri : config.get_list("listeners")) {
        auto spec = net::parse_listener(uri);
        if (!spec) return fail("listeners: " + spec.error());
        spec->name = upper(spec->name);
        auto proto = protocol_map->find(spec->name);
        if (proto == protocol_map->end())
            return fail("listeners: no security protocol defined for listener " + spec->name +
                        " in listener.security.protocol.map");
        for (const auto& other : listeners)
            if (other.name == spec->name)
                return fail("listeners: each listener must have a different name; " + spec->name +
                            " appears twice");
        auto sec = net::make_listener_security(config, spec->name, proto->second, scram);
        if (!sec) return fail(sec.error());
        spec->security = std::move(*sec);
        listeners.push_back(*spec);
    }
    if (listeners.empty()) return fail("no listeners configured");
    // Connection limits and the request budget, checked before anything is opened.
    auto limits = net::server_limits_from_config(config);
    if (!limits) return fail(limits.error());
    std::vector<net::listener_spec> advertised = listeners;
    if (config.is_set("advertised.listeners")) {
        advertised.clear();
        for (const auto& uri : config.get_list("advertised.listeners")) {
            auto spec = net::parse_listener(uri);
            if (!spec) return fail("advertised.listeners: " + spec.error());
            spec->name = upper(spec->name);
            if (std::none_of(listeners.begin(), listeners.end(),
                             [&](const net::listener_spec& l) { return l.name == spec->name; }))
                return fail("advertised.listeners: listener " + spec->name +
                            " is not in listeners (advertised listener names must be a subset "
                            "of the listeners)");
            advertised.push_back(*spec);
        }
    }
    cluster::broker_info self;
    self.id = static_cast<int32_t>(config.get_int("broker.id"));
    if (self.id < 0) return fail("broker.id must be >= 0");
    if (config.is_set("broker.rack")) self.rack = config.get_string("broker.rack");
    for (const auto& a : advertised) {
        std::string host = a.host;
        if (host.empty() || host == "0.0.0.0" || host == "::") host = local_hostname();
        self.endpoints.push_back({a.name, host, a.port});
    }

    std::vector<std::string> dirs = config.get_list("log.dirs");
    if (dirs.empty()) dirs = {config.get_string("log.dir")};

    // Shards: one io_context and thread each.
    size_t nshards = static_cast<size_t>(config.get_int("num.shards"));
    if (nshards == 0) nshards = std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::unique_ptr<boost::asio::io_context>> contexts;
    std::vector<boost::asio::io_context*> shards;
    for (size_t i = 0; i < nshards; ++i) {
        contexts.push_back(std::make_unique<boost::asio::io_context>(1));
        shards.push_back(contexts.back().get());
    }

    std::string err;
    // Cluster mode when zookeeper.connect is set; otherwise the embedded single-node store.
    const bool cluster_mode =
        config.is_set("zookeeper.connect") && !config.get_string("zookeeper.connect").empty();
    auto metadata = cluster_mode ? cluster::make_zookeeper_store(config, self, dirs.front(), &err)
                                 : cluster::make_embedded_store(dirs.front(), self, config, &err);
    if (!metadata) return fail(err);

    storage::log_manager_config lmc;
    lmc.log_dirs = dirs;
    auto logs = storage::log_manager::open(storage::posix_file_system(), lmc);
    if (!logs) return fail("cannot open log directories: " + logs.error().message);

    broker::partition_manager partitions(**logs, config, *metadata, shards);
    if (auto r = partitions.start(); !r) return fail(r.error());

    broker::broker b(config, *metadata, shards, &partitions);
    coordinator::group_coordinator groups(broker::make_group_host(partitions, config, *metadata, b),
                                          config, *metadata);
    b.set_groups(&groups);
    groups.start();
    txn::txn_coordinator txns(broker::make_txn_host(partitions, config, *metadata, b, groups),
                              config, *metadata);
    b.set_txns(&txns);
    txns.start();
    net::server server(
        shards,
        [&b](const net::connection_info& c, net::request_frame f) {
            return b.handle(c, std::move(f));
        },
        std::move(*limits));
    if (auto r = server.listen(listeners); !r) {
        (*logs)->close();
        return fail(r.error());
    }
    // The admin HTTP endpoint, on its own thread; an empty admin.listeners disables it.
    admin::coordinator_groups admin_groups(groups);
    std::unique_ptr<admin::server> admin_http;
    if (auto uris = config.get_list("admin.listeners"); !uris.empty()) {
        admin_http = std::make_unique<admin::server>(b, &server, &admin_groups);
        if (auto r = admin_http->listen(uris); !r) {
            (*logs)->close();
            return fail(r.error());
        }
    }

    // Shutdown on SIGTERM / SIGINT.
    std::atomic<bool> stopping{false};
    boost::asio::signal_set signals(*shards[0], SIGTERM, SIGINT);
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        log->info("signal {} received; shutting down", sig);
        stopping = true;
        server.stop();
    });

    std::vector<std::thread> threads;
    for (size_t i = 0; i < nshards; ++i) {
        threads.emplace_back([ctx = shards[i]] {
            auto guard = boost::asio::make_work_guard(*ctx);
            ctx->run();
        });
    }
    if (admin_http) {
        admin_http->start();
        admin_http->set_ready(true);
    }
    log->info("rill started: node {}, {} shards, data in {}, cluster id {}", self.id, nshards,
              dirs.front(), metadata->snapshot()->cluster_id);

    while (!stopping)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (admin_http) admin_http->set_ready(false);  // probes see "booting" while we drain
    // Controlled shutdown: leadership moves to other in-sync replicas before we stop, so
    // producers and consumers fail over without waiting for the session to expire.
    if (cluster_mode && config.get_bool("controlled.shutdown.enable")) {
        int still = metadata->controlled_shutdown(std::chrono::seconds(15));
        if (still > 0)
            log->warn("controlled shutdown: still leading {} partition(s)", still);
        else
            log->info("controlled shutdown: leadership moved away");
    }
    // Waiting JoinGroup/SyncGroup requests are answered (NOT_COORDINATOR) so connections drain.
    groups.stop();
    txns.stop();
    // In-flight requests finish (long polls end within their max wait); then stop.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (server.connection_count() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (admin_http) admin_http->stop();
    partitions.stop();
    for (auto* ctx : shards)
        ctx->stop();
    for (auto& t : threads)
        t.join();
    // Nothing uses metadata any more: close the ZooKeeper session now, so this broker's
    // registration goes away at once rather than when the session expires.
    metadata.reset();
    int rc = 0;
    if (auto st = (*logs)->close(); !st) {
        log->error("clean shutdown failed: {}", st.error().message);
        rc = 1;
    } else {
        log->info("rill stopped cleanly");
    }
    // Everything durable is flushed and closed. Exit without running destructors: suspended
    // connection coroutines live in the io_contexts and reference objects that would be
    // destroyed before them.
    spdlog::shutdown();
    std::fflush(nullptr);
    std::_Exit(rc);
}
