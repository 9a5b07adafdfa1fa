#include "common/logging.h"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace rill {
namespace {

std::mutex g_mu;
spdlog::sink_ptr g_sink;
spdlog::level::level_enum g_level = spdlog::level::info;

spdlog::sink_ptr sink() {
    if (!g_sink) g_sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    return g_sink;
}

}  // namespace

std::shared_ptr<spdlog::logger> logger(const std::string& module) {
    std::lock_guard lock(g_mu);
    if (auto l = spdlog::get(module)) return l;
    auto l = std::make_shared<spdlog::logger>(module, sink());
    l->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%n] %v");
    l->set_level(g_level);
    spdlog::register_logger(l);
    return l;
}

bool set_log_level(const std::string& level) {
    auto lvl = spdlog::level::from_str(level);
    if (lvl == spdlog::level::off && level != "off") return false;
    std::lock_guard lock(g_mu);
    g_level = lvl;
    spdlog::set_level(lvl);
    return true;
}

std::vector<std::string> logger_names() {
    std::vector<std::string> names;
    spdlog::apply_all(
        [&](const std::shared_ptr<spdlog::logger>& l) { names.push_back(l->name()); });
    return names;
}

}  // namespace rill
