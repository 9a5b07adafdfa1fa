// The storage module's named spdlog logger ("storage").
#pragma once

#include <spdlog/spdlog.h>

#include <memory>

namespace rill::storage {

// Thread-safe; created on first use when the app has not registered one.
std::shared_ptr<spdlog::logger> logger();

}  // namespace rill::storage
