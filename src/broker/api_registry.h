// The APIs this broker serves and the version ranges it advertises in ApiVersions.
// One entry per API: adding a handler means adding a line to api_registry.cc.
#pragma once

#include <cstdint>
#include <span>

#include "common/asio.h"

#include "broker/request_context.h"
#include "protocol/wire.h"

namespace rill::broker {

struct api_entry {
    int16_t key;
    int16_t min_version;
    int16_t max_version;
    // Decodes the body from `r`, runs the handler and encodes the response body into `w`.
    // Returns false when the body could not be decoded (the connection is then closed).
    boost::asio::awaitable<bool> (*invoke)(request_context&, protocol::reader&, protocol::writer&);
};

std::span<const api_entry> supported_apis();
const api_entry* find_supported_api(int16_t key);

}  // namespace rill::broker
