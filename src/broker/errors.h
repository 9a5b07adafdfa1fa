// Mapping of module errors onto Kafka error codes.
#pragma once

#include "cluster/metadata_store.h"
#include "protocol/generated/error_code.h"
#include "storage/error.h"

namespace rill::broker {

using protocol::error_code;

inline int16_t wire(error_code e) {
    return static_cast<int16_t>(e);
}

// A client's current_leader_epoch against the partition's (KIP-320); -1 means "don't check".
inline error_code check_leader_epoch(int32_t requested, int32_t current) {
    if (requested < 0 || requested == current) return error_code::none;
    return requested > current ? error_code::unknown_leader_epoch : error_code::fenced_leader_epoch;
}

inline error_code to_error_code(cluster::meta_errc e) {
    switch (e) {
        case cluster::meta_errc::topic_exists:
            return error_code::topic_already_exists;
        case cluster::meta_errc::unknown_topic:
            return error_code::unknown_topic_or_partition;
        case cluster::meta_errc::invalid_topic:
            return error_code::invalid_topic_exception;
        case cluster::meta_errc::invalid_partitions:
            return error_code::invalid_partitions;
        case cluster::meta_errc::invalid_replication_factor:
            return error_code::invalid_replication_factor;
        case cluster::meta_errc::invalid_config:
            return error_code::invalid_config;
        case cluster::meta_errc::storage_error:
            return error_code::kafka_storage_error;
        case cluster::meta_errc::not_controller:
            return error_code::not_controller;
        case cluster::meta_errc::stale_state:
        case cluster::meta_errc::not_leader:
            return error_code::not_leader_or_follower;
        case cluster::meta_errc::invalid_replica_assignment:
            return error_code::invalid_replica_assignment;
        case cluster::meta_errc::no_reassignment_in_progress:
            return error_code::no_reassignment_in_progress;
        case cluster::meta_errc::election_not_needed:
            return error_code::election_not_needed;
        case cluster::meta_errc::preferred_leader_not_available:
            return error_code::preferred_leader_not_available;
        case cluster::meta_errc::unavailable:
            return error_code::request_timed_out;
    }
    return error_code::unknown_server_error;
}

inline error_code to_error_code(storage::errc e) {
    switch (e) {
        case storage::errc::offset_out_of_range:
            return error_code::offset_out_of_range;
        case storage::errc::out_of_order_sequence:
            return error_code::out_of_order_sequence_number;
        case storage::errc::invalid_producer_epoch:
            return error_code::invalid_producer_epoch;
        case storage::errc::corrupt_batch:
        case storage::errc::corrupt:  // reading a corrupt stored batch (Kafka:
                                      // CorruptRecordException)
            return error_code::corrupt_message;
        case storage::errc::invalid_argument:
            return error_code::invalid_request;
        case storage::errc::not_found:
            return error_code::unknown_topic_or_partition;
        case storage::errc::shutting_down:
            return error_code::not_leader_or_follower;
        case storage::errc::io_error:
        case storage::errc::disk_full:
        case storage::errc::log_offline:
        case storage::errc::already_exists:
            return error_code::kafka_storage_error;
    }
    return error_code::unknown_server_error;
}

}  // namespace rill::broker
