// The wire form of an error code, for the coordinator's response fields.
#pragma once

#include <cstdint>

#include "protocol/generated/error_code.h"

namespace rill::coordinator {

inline int16_t wire(protocol::error_code e) {
    return static_cast<int16_t>(e);
}

}  // namespace rill::coordinator
