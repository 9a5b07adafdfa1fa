// Kafka's JAAS configuration values (sasl.jaas.config and its listener/mechanism prefixed
// forms), parsed as Kafka's JaasConfig reads them:
//
//   <login module class> <flag> [<option>=<value>]* ;   (one or more modules)
//
// flag is required, requisite, sufficient or optional; a value is a word or a quoted string
// ('...' or "..." with backslash escapes); // and /* */ comments are skipped. For example
//   org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";
//
// Threading: pure functions.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace rill::net {

struct jaas_module {
    std::string login_module;
    std::string flag;
    std::map<std::string, std::string> options;
};

// Errors say what was expected and where; they never quote option values (passwords).
result<std::vector<jaas_module>, std::string> parse_jaas(std::string_view text);

inline constexpr std::string_view kPlainLoginModule =
    "org.apache.kafka.common.security.plain.PlainLoginModule";
inline constexpr std::string_view kScramLoginModule =
    "org.apache.kafka.common.security.scram.ScramLoginModule";

}  // namespace rill::net
