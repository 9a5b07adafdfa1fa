// Wall-clock time in milliseconds since the epoch: Kafka's timestamps, commit times, deadlines
// that are logged or persisted. (Intervals that must not jump use steady_clock instead.)
#pragma once

#include <chrono>
#include <cstdint>

namespace rill {

inline int64_t wall_clock_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace rill
