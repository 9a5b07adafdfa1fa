#include "cli/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <functional>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/kafka_client.h"
#include "cli/output.h"
#include "cli/topic.h"

namespace rill::cli {

namespace {

constexpr const char* kNouns[] = {"topic", "help"};

// The index in argv of the noun, or 0 when there is none. The CLI's global options may come
// before it: `rill -b host:9092 topic list`.
int noun_index(int argc, char** argv) {
    int i = 1;
    while (i < argc) {
        const std::string a = argv[i];
        if (a == "-b" || a == "--bootstrap-server" || a == "--timeout-ms" || a == "--format") {
            i += 2;
        } else if (a.rfind("--bootstrap-server=", 0) == 0 || a.rfind("--timeout-ms=", 0) == 0 ||
                   a.rfind("--format=", 0) == 0) {
            i += 1;
        } else {
            break;
        }
    }
    if (i >= argc) return 0;
    for (const char* n : kNouns)
        if (std::strcmp(argv[i], n) == 0) return i;
    return 0;
}

}  // namespace

bool is_cli_invocation(int argc, char** argv) {
    return noun_index(argc, argv) > 0;
}

int run(int argc, char** argv) {
    CLI::App app{
        "Rill's operator CLI: talks the Kafka protocol to any broker (Rill or Kafka).\n"
        "The broker itself runs with `rill [--config FILE] [--override key=value ...]`.",
        "rill"};
    app.require_subcommand(1);
    app.fallthrough();
    global_options g;
    app.add_option("-b,--bootstrap-server", g.bootstrap, "host:port[,host:port...] of a broker")
        ->capture_default_str();
    app.add_option("--timeout-ms", g.timeout_ms, "connect and request timeout")
        ->capture_default_str()
        ->check(CLI::Range(1, 3600 * 1000));
    std::string format = "table";
    app.add_option("--format", format, "output: table or json")
        ->capture_default_str()
        ->check(CLI::IsMember({"table", "json"}));
    std::function<int()> action;
    add_topic_commands(app, g, action);
    // `rill help [noun [verb]]` is `rill [noun [verb]] --help`.
    std::vector<std::string> args(argv + 1, argv + argc);
    if (const int noun = noun_index(argc, argv); noun > 0 && args[noun - 1] == "help") {
        args.erase(args.begin() + (noun - 1));
        args.push_back("--help");
    }
    std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last-first

    try {
        app.parse(args);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "rill: " << e.what() << "\n"
                  << "Run with --help for the usage.\n";
        return exit_bad_args;
    }
    g.format = format == "json" ? output_format::json : output_format::table;
    if (!action) return exit_ok;
    try {
        return action();
    } catch (const std::invalid_argument& e) {
        std::cerr << "rill: " << e.what() << "\nRun with --help for the usage.\n";
        return exit_bad_args;
    } catch (const connect_error& e) {
        std::cerr << "rill: " << e.what() << "\n";
        return exit_no_broker;
    } catch (const kafka_error& e) {
        std::cerr << "rill: " << e.what() << "\n";
        return exit_kafka_error;
    }
}

}  // namespace rill::cli
