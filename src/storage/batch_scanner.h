// Sequential reader of the record batches in a segment file, used by recovery, index rebuild,
// producer-state rebuild, timestamp lookup, reads and the cleaner.
//
// Not thread-safe; one scanner per use. The scanned range must not be written concurrently
// (segments are append-only and the range is bounded by the size known to the owner).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "protocol/record_batch_header.h"
#include "storage/file_system.h"

namespace rill::storage {

enum class scan_status {
    ok,        // `header`/`position` (and `body` when validating) describe one batch
    end,       // clean end of the range
    invalid,   // bytes at `position` are not a valid batch; `reason` says why
    io_error,  // the read failed; `reason` says why
};

struct scanned_batch {
    scan_status status = scan_status::end;
    uint64_t position = 0;
    protocol::batch_header header;
    // The whole batch; only when scanning with validate = true. Valid until the next call.
    std::span<const uint8_t> body;
    std::string reason;
};

// Checks length, magic 2, CRC-32C and delta sanity of a whole in-memory batch. Empty string
// when valid, else the reason.
std::string check_batch(std::span<const uint8_t> batch, const protocol::batch_header& h);

class batch_scanner {
  public:
    // Scans [start, end) of `f`. validate = true reads every batch whole and checks its CRC;
    // false reads only headers (cheap; checks magic and that the batch fits the range).
    batch_scanner(file& f, uint64_t start, uint64_t end, bool validate);

    scanned_batch next();

  private:
    // Makes [pos, pos+n) available in buf_; false on I/O error (sets err_).
    bool ensure(uint64_t pos, size_t n);

    file& f_;
    uint64_t pos_;
    uint64_t end_;
    bool validate_;
    std::vector<uint8_t> buf_;
    uint64_t buf_start_ = 0;
    size_t buf_len_ = 0;
    std::string err_;
};

}  // namespace rill::storage
