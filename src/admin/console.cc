// Serves the web console: "/" is index.html, "/console/<file>" the other assets.
#include "admin/console_assets.h"
#include "admin/context.h"

namespace rill::admin {

namespace asio = boost::asio;

namespace {

response asset_response(std::string_view name) {
    for (const auto& a : console_assets())
        if (a.name == name) return response::text(std::string(a.data), std::string(a.content_type));
    return error_response(404, "No console file '" + std::string(name) + "'");
}

}  // namespace

void add_console_routes(router& r) {
    r.add("GET", "/",
          [](request&) -> asio::awaitable<response> { co_return asset_response("index.html"); });
    r.add("GET", "/console/{file}", [](request& req) -> asio::awaitable<response> {
        co_return asset_response(req.param("file"));
    });
}

}  // namespace rill::admin
