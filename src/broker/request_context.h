// What every handler gets: the decoded request header, the connection, and the broker's parts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "net/server.h"

namespace rill::broker {

class broker;

struct request_context {
    broker& b;
    const net::connection_info& conn;
    int16_t api_key = 0;
    int16_t api_version = 0;
    int32_t correlation_id = 0;
    std::optional<std::string> client_id;
    // Set by a handler that must not answer (Produce with acks=0).
    bool suppress_response = false;
    // Set by a handler to close the connection after its response (or instead of it).
    bool close_connection = false;
};

}  // namespace rill::broker
