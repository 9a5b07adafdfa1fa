// Named spdlog loggers, one per module ("net", "broker", "storage", "coordinator", "cluster",
// "admin", "protocol"). All share one sink and one pattern; levels can be changed per logger at
// runtime (the admin endpoint does).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

namespace rill {

// Returns the logger for `module`, creating it on first use. Thread-safe.
std::shared_ptr<spdlog::logger> logger(const std::string& module);

// Sets the default level of every logger ("trace".."off"); false if the name is invalid.
bool set_log_level(const std::string& level);
// Names of the loggers created so far.
std::vector<std::string> logger_names();

}  // namespace rill
