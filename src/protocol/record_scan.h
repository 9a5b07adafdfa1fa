// Constant-memory, allocation-free walk over the records of one magic-2 batch.
//
// record_reader (record_batch.h) inflates a compressed batch whole and hands out views; that is
// right for the broker's own, already validated data in small amounts. Untrusted or large input
// goes through scan_records() instead: compressed records are inflated chunk by chunk into a
// fixed buffer (decompressor.h), keys, values and headers are checked and skipped without being
// copied, and only the fixed-size fields of each record reach the visitor. Memory is the chunk
// buffer plus the decoder's state, whatever the batch holds; time is linear in the inflated size,
// which max_inflated bounds.
//
// Structure checked (every record; see record_batch.h for the record layout): the length varint
// is >= 0 and the fields fill exactly that many bytes; key and value lengths >= -1; header count
// >= 0; header key lengths >= 0 and header value lengths >= -1; varints are well-formed; exactly
// header.record_count records, with no bytes after the last.
//
// Thread-safety: pure; the visitor runs on the calling thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "common/result.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"
#include "protocol/record_batch_header.h"
#include "protocol/wire.h"

namespace rill::protocol {

// The fixed-size fields of one record. Sizes are -1 for null.
struct record_meta {
    int32_t index = 0;  // position in the batch, from 0
    int32_t size = 0;   // the record's length field
    int8_t attributes = 0;
    int64_t timestamp_delta = 0;
    int32_t offset_delta = 0;
    int32_t key_size = -1;
    int32_t value_size = -1;
    int32_t header_count = 0;
};

enum class record_field : uint8_t { key, value };

class record_visitor {
  public:
    // Called once per well-formed record, in order. Returning false stops the scan early (it
    // then ends successfully, with stopped set).
    virtual bool on_record(const record_meta& r) = 0;
    // Only for a visitor constructed with wants_data: the bytes of the record's key and value
    // (non-null, non-empty ones), in one or more pieces in order, as they are read; all of them
    // come before that record's on_record(). A record that turns out malformed ends the scan
    // with an error, possibly after some of its pieces were delivered.
    virtual void on_data(record_field, bytes_view) {}

    const bool wants_data = false;

  protected:
    explicit record_visitor(bool want_data = false) : wants_data(want_data) {}
    ~record_visitor() = default;
};

struct scan_limits {
    // Decompressed bytes the records section may inflate to (decompressed_too_large beyond).
    size_t max_inflated = kDefaultMaxDecompressedSize;
    // Working memory the decoder may hold (decompressor.h; decompressed_too_large beyond).
    size_t max_memory = size_t{64} << 20;
};

struct scan_result {
    int32_t records = 0;  // records visited
    size_t inflated = 0;  // bytes of the (decompressed) records section read
    bool stopped = false;
};

// The working memory scan_records() will need for this batch: the chunk buffer plus the
// decoder's state (decompressor::open's estimate). Errors as scan_records().
// REQUIRES: `batch` holds a whole batch whose header parsed.
result<size_t, record_error> scan_memory(bytes_view batch, const batch_header& h,
                                         const scan_limits& limits = {});

// Walks every record of `batch` (header h). Does not check the CRC or header fields beyond the
// codec: call validate_batch() first on untrusted bytes.
// Errors: corrupt_record (malformed fields), record_count_mismatch, decompression_failed,
// decompressed_too_large, unsupported_codec.
result<scan_result, record_error> scan_records(bytes_view batch, const batch_header& h,
                                               record_visitor& visitor,
                                               const scan_limits& limits = {});

}  // namespace rill::protocol
