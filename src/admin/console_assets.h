// The web console's static files, compiled into the binary (see embed_assets.cmake).
#pragma once

#include <span>
#include <string_view>

namespace rill::admin {

struct console_asset {
    std::string_view name;  // file name under src/admin/console/, e.g. "app.js"
    std::string_view content_type;
    std::string_view data;
};

std::span<const console_asset> console_assets();

}  // namespace rill::admin
