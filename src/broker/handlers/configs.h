// Config resources shared by DescribeConfigs, AlterConfigs and IncrementalAlterConfigs.
#pragma once

#include <cstdint>
#include <set>

#include "common/config.h"

namespace rill::broker {

// ConfigResource types on the wire.
constexpr int8_t kResourceTopic = 2;
constexpr int8_t kResourceBroker = 4;
constexpr int8_t kResourceBrokerLogger = 8;
constexpr int8_t kResourceGroup = 32;  // KIP-848 group configs

// DescribeConfigs v3+ config_type values.
inline int8_t wire_config_type(config_type t) {
    switch (t) {
        case config_type::boolean:
            return 1;
        case config_type::string:
            return 2;
        case config_type::int32:
            return 3;
        case config_type::int64:
            return 5;
        case config_type::float64:
            return 6;
        case config_type::list:
            return 7;
        case config_type::password:
            return 9;
    }
    return 0;
}

}  // namespace rill::broker
