// Storage errors: values, never exceptions. The broker maps them onto Kafka error codes
// (io_error/disk_full/log_offline -> KAFKA_STORAGE_ERROR, offset_out_of_range ->
// OFFSET_OUT_OF_RANGE, out_of_order_sequence -> OUT_OF_ORDER_SEQUENCE_NUMBER,
// invalid_producer_epoch -> INVALID_PRODUCER_EPOCH, corrupt_batch -> CORRUPT_MESSAGE, ...).
#pragma once

#include <string>
#include <utility>

#include "common/result.h"

namespace rill::storage {

enum class errc {
    io_error,                // a read/write/sync/rename failed
    disk_full,               // ENOSPC / EDQUOT
    log_offline,             // sticky: an earlier write or sync failed; appends refused
    corrupt,                 // on-disk data failed validation
    corrupt_batch,           // append given malformed batch bytes
    offset_out_of_range,     // read below log start or above log end
    out_of_order_sequence,   // idempotent producer sequence gap
    invalid_producer_epoch,  // stale producer epoch
    not_found,               // file or log does not exist
    already_exists,          // log already exists
    invalid_argument,
    shutting_down,
};

const char* errc_name(errc e);

struct error {
    errc code = errc::io_error;
    std::string message;
    int sys_errno = 0;  // the errno of a failed file operation (errno_error); 0 otherwise

    error() = default;
    error(errc c, std::string m = {}) : code(c), message(std::move(m)) {}  // NOLINT
};

template <typename T>
using result = rill::result<T, error>;
using status = rill::result<void, error>;

inline rill::unexpected<error> make_error(errc c, std::string m = {}) {
    return rill::unexpected<error>{error(c, std::move(m))};
}

// Maps an errno from a failed file operation onto an error.
error errno_error(int err, const std::string& what);

}  // namespace rill::storage
