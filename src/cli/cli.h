// The operator CLI in the rill binary: `rill <noun> <verb> [options]` (README.md, "CLI").
//
//   if (rill::cli::is_cli_invocation(argc, argv)) return rill::cli::run(argc, argv);
//
// Nouns today: topic (topic.h). Every level has --help; --format json|table, -b/--bootstrap-server
// and --timeout-ms are accepted anywhere after `rill`. Exit codes: output.h.
#pragma once

namespace rill::cli {

// True when argv[1] is a CLI noun (or `help`); the broker keeps every other command line.
bool is_cli_invocation(int argc, char** argv);

// Parses and runs one command; returns the process exit code (output.h).
int run(int argc, char** argv);

}  // namespace rill::cli
