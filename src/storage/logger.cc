#include "storage/logger.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace rill::storage {

std::shared_ptr<spdlog::logger> logger() {
    static std::once_flag once;
    static std::shared_ptr<spdlog::logger> log;
    std::call_once(once, [] {
        log = spdlog::get("storage");
        if (!log) {
            try {
                log = spdlog::stderr_color_mt("storage");
            } catch (const spdlog::spdlog_ex&) {
                log = spdlog::get("storage");
            }
        }
    });
    return log;
}

}  // namespace rill::storage
