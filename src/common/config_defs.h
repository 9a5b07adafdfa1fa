// The key tables behind config.h: every broker key (Kafka's names and defaults, plus the
// TLS/SASL keys of security_config_defs.h) and every topic key (Kafka's TopicConfig names, with
// the broker keys they fall back to). config.cc parses and validates against them.
//
// Thread-safety: immutable tables, built on first use.
#pragma once

#include <vector>

#include "common/config.h"

namespace rill::config_tables {

const std::vector<config_def>& broker_defs();
const std::vector<config_def>& topic_defs();

}  // namespace rill::config_tables
