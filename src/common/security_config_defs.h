// The broker keys of TLS and SASL (Kafka's names), kept apart from config.cc's table, and the
// rule for listener-prefixed keys (listener.name.<listener>.<key>).
//
// Thread-safety: immutable tables, pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"

namespace rill {

// ssl.* and sasl.* broker keys, appended to the broker table (config.cc).
const std::vector<config_def>& security_config_defs();

// For a key of the form listener.name.<listener>.<key> (Kafka's per-listener overrides), the
// def of <key> when it is a per-listener security key: any ssl.* or sasl.* key above, or
// <mechanism>.sasl.jaas.config (e.g. listener.name.sasl_ssl.plain.sasl.jaas.config). nullptr
// otherwise.
const config_def* find_listener_override(std::string_view name);

}  // namespace rill
