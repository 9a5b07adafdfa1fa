// RecordBatch (magic 2): validation, record iteration, building, and in-place stamping.
//
// A batch is the 61-byte header of record_batch_header.h followed by `record_count` records,
// compressed as one block when the codec bits are set. Each record is
//
//   length            varint   bytes after this field
//   attributes        int8     (unused, 0)
//   timestamp_delta   varlong  timestamp - base_timestamp
//   offset_delta      varint   offset - base_offset
//   key_length        varint   -1 = null
//   key               bytes
//   value_length      varint   -1 = null
//   value             bytes
//   header_count      varint
//   headers           [key_length varint (>= 0), key utf-8, value_length varint (-1 = null), value]
//
// Control batches (attributes bit 5) hold one record whose key is int16 version + int16 type
// (0 abort, 1 commit) and whose value is int16 version + int32 coordinator epoch.
//
// Cost model: validate_batch() looks only at the header and runs CRC-32C over the batch; it
// never walks the records. The produce path adds record-level validation
// (batch_validation.h); record_reader is for the broker's own, already validated data.
//
// Thread-safety: free functions are pure; record_reader and batch_builder are single-threaded
// values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "protocol/compression.h"
#include "protocol/record_batch_header.h"
#include "protocol/wire.h"

namespace rill::protocol {

// Errors of record batches and legacy message sets.
enum class record_error : uint8_t {
    truncated = 1,              // fewer bytes than the header or a length field announces
    invalid_length,             // a length field is negative or smaller than its fixed part
    trailing_bytes,             // exactly one batch was required, but more bytes follow it
    unsupported_magic,          // magic is not 2 (batches) or not 0/1 (legacy message sets)
    crc_mismatch,               // stored CRC differs from the computed one
    invalid_record_count,       // negative, zero for a produced batch, or more than the bytes hold
    invalid_offset_delta,       // last_offset_delta inconsistent with the record count / records
    unsupported_codec,          // codec bits other than none, gzip, snappy, lz4, zstd
    corrupt_record,             // a record's fields do not parse or disagree with its length
    record_count_mismatch,      // the records section holds more or fewer records than declared
    decompression_failed,       // the compressed records do not decompress
    decompressed_too_large,     // decompressed records exceed the configured limit
    control_batch_not_allowed,  // a client produced a control batch
    invalid_control_record,     // a control record's key or value is malformed
    empty_batch,                // building a batch without records
    lz4_magic0_unsupported,     // magic-0 lz4 message (Kafka's broken frame checksum, KIP-57)
    nested_compression,         // a compressed legacy wrapper contains compressed messages
    compression_failed,         // building: the compression library failed
};
std::string_view to_string(record_error e);

// The Kafka error code a produce response should carry for `e`: CORRUPT_MESSAGE (2) for
// truncation, CRC mismatches and data that does not decompress, UNSUPPORTED_COMPRESSION_TYPE (76)
// for unknown codecs and magic-0 lz4, UNSUPPORTED_FOR_MESSAGE_FORMAT (43) for an unknown magic,
// INVALID_RECORD (87) otherwise (records that do not parse included, as Kafka answers).
int16_t kafka_error_code(record_error e);

// The magic byte (offset 16) of a batch or legacy message set; nullopt when fewer than 17 bytes.
std::optional<int8_t> peek_magic(bytes_view data);

struct validate_options {
    // Check CRC-32C (skip only for bytes the broker itself wrote and already checked).
    bool verify_crc = true;
    // `data` must hold exactly one batch and nothing else (Produce v3+).
    bool require_exact_size = false;
    // Rules for batches coming from a producer (Kafka's LogValidator): record_count >= 1,
    // last_offset_delta == record_count - 1, and no control batches.
    bool producer = false;
};

// Validates the batch at the start of `data` with per-batch cost only (header checks + one
// CRC-32C pass; records are not visited). Checks: magic 2, batch_length >= 49 and within `data`,
// known codec, record_count >= 0, last_offset_delta >= max(record_count - 1, 0), an uncompressed
// records section large enough for record_count minimal (7-byte) records, and the CRC. On
// success returns the parsed header; the batch occupies header.total_size() bytes of `data`.
result<batch_header, record_error> validate_batch(bytes_view data,
                                                  const validate_options& options = {});

// Record-level validation: streams every record (record_scan.h: compressed records are inflated
// in bounded chunks, never whole) and checks that each
// parses exactly, that there are record_count of them, and that offset deltas are strictly
// increasing and within [0, last_offset_delta]. For producer batches the deltas must be exactly
// 0..last_offset_delta.
// REQUIRES: validate_batch(batch) succeeded; `batch` is exactly that one batch.
result<void, record_error> validate_records(bytes_view batch, bool producer = false,
                                            size_t max_decompressed = kDefaultMaxDecompressedSize);

// ---- reading records ----

// A record header as stored: views into the batch (or its decompressed records).
struct header_view {
    std::string_view key;
    std::optional<bytes_view> value;
};

// One record as stored, plus its absolute offset and timestamp. Views stay valid while the
// record_reader that produced them and the batch buffer are alive.
struct record_view {
    int8_t attributes = 0;
    int64_t timestamp_delta = 0;
    int32_t offset_delta = 0;
    int64_t offset = 0;     // base_offset + offset_delta
    int64_t timestamp = 0;  // base_timestamp + timestamp_delta, or max_timestamp (LogAppendTime)
    std::optional<bytes_view> key;
    std::optional<bytes_view> value;
    std::vector<header_view> headers;
};

// Iterates the records of one batch, decompressing the records section first when the batch is
// compressed. Every read is bounds-checked; hostile input ends iteration with an error.
//
//   auto rr = record_reader::open(batch);
//   if (!rr) ...;
//   record_view r;
//   while (rr->next(r)) use(r);
//   if (rr->error()) ...;
class record_reader {
  public:
    // Does not check the CRC (call validate_batch() first on untrusted bytes) but does check
    // the header's lengths against `batch`.
    static result<record_reader, record_error> open(
        bytes_view batch, size_t max_decompressed = kDefaultMaxDecompressedSize);

    record_reader(record_reader&&) = default;
    record_reader& operator=(record_reader&&) = default;
    record_reader(const record_reader&) = delete;
    record_reader& operator=(const record_reader&) = delete;

    const batch_header& header() const { return header_; }
    // Reads the next record into `out`. False at the end or on an error; error() then tells
    // which (nullopt: all record_count records were read and no bytes were left over).
    bool next(record_view& out);
    const std::optional<record_error>& error() const { return error_; }

  private:
    record_reader() = default;
    bool fail(record_error e);

    batch_header header_;
    bytes decompressed_;  // owns the records when the batch is compressed
    reader in_;
    int32_t left_ = 0;
    std::optional<record_error> error_;
    bool done_ = false;
};

// ---- building batches ----

struct record_header {
    std::string key;
    std::optional<bytes> value;
    friend bool operator==(const record_header&, const record_header&) = default;
};

// An owned record, for building batches and for read_records().
struct record {
    std::optional<bytes> key;
    std::optional<bytes> value;
    std::vector<record_header> headers;
    int64_t timestamp = -1;     // absolute; -1 = none
    int32_t offset_delta = -1;  // when building: -1 = the record's index in the batch
    int64_t offset = 0;         // filled by read_records(); ignored when building
    friend bool operator==(const record&, const record&) = default;
};

// Reads every record of a batch into owned values. REQUIRES (for untrusted bytes):
// validate_batch() first. Errors as record_reader.
result<std::vector<record>, record_error> read_records(
    bytes_view batch, size_t max_decompressed = kDefaultMaxDecompressedSize);

// The batch-level fields a builder writes.
struct batch_spec {
    int64_t base_offset = 0;
    int32_t partition_leader_epoch = -1;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int32_t base_sequence = -1;
    bool transactional = false;
    bool control = false;
    // When set: timestamp type LogAppendTime (attributes bit 3) and this max_timestamp.
    std::optional<int64_t> log_append_time;
    compression_codec codec = compression_codec::none;
    compress_options compression;
    // Compaction: keep the original batch's last_offset_delta (clients step past a batch with
    // it, so it must never shrink). Must be >= the last record's offset delta. When set, a
    // batch with no records may be built (record_count 0, timestamps -1).
    std::optional<int32_t> last_offset_delta;
};

// Builds one batch record by record. base_timestamp is the first record's timestamp,
// max_timestamp the largest (or spec.log_append_time), last_offset_delta the last record's
// offset delta (or spec.last_offset_delta).
class batch_builder {
  public:
    explicit batch_builder(batch_spec spec) : spec_(std::move(spec)) {}

    // offset_delta -1 means "the record's index". Deltas must increase strictly (else finish()
    // fails with invalid_offset_delta).
    void append(int64_t timestamp, std::optional<bytes_view> key, std::optional<bytes_view> value,
                std::span<const header_view> headers = {}, int32_t offset_delta = -1);
    void append(const record& r);

    int32_t record_count() const { return count_; }
    // Size of the uncompressed records written so far.
    size_t records_size() const { return body_.size(); }

    // Compresses (if asked), writes the header and the CRC. The builder is spent afterwards.
    result<bytes, record_error> finish();

  private:
    batch_spec spec_;
    writer body_;
    int32_t count_ = 0;
    int32_t last_delta_ = -1;
    bool deltas_ok_ = true;
    int64_t base_timestamp_ = -1;
    int64_t max_timestamp_ = -1;
};

// Builds a batch from owned records (see batch_builder).
result<bytes, record_error> build_batch(const batch_spec& spec, std::span<const record> records);

// ---- control batches (transaction markers) ----

enum class control_type : int16_t { abort = 0, commit = 1 };

struct control_record {
    int16_t version = 0;
    control_type type = control_type::abort;
    int32_t coordinator_epoch = 0;
    friend bool operator==(const control_record&, const control_record&) = default;
};

// A one-record control batch: control + transactional bits set, uncompressed. spec.producer_id /
// producer_epoch identify the transaction; spec.codec and spec.control are ignored.
result<bytes, record_error> build_control_batch(const batch_spec& spec, const control_record& c,
                                                int64_t timestamp);

// Decodes the key and value of a control batch's record.
result<control_record, record_error> parse_control_record(const record_view& r);

// ---- stamping in place ----

// Base offset and partition leader epoch lie outside the CRC: stamping them needs no
// recomputation. REQUIRES: batch.size() >= kBatchHeaderSize.
void set_base_offset(std::span<uint8_t> batch, int64_t base_offset);
void set_partition_leader_epoch(std::span<uint8_t> batch, int32_t epoch);

// Switches the batch to LogAppendTime: sets attributes bit 3 and max_timestamp, then recomputes
// the CRC. REQUIRES: `batch` is exactly one complete batch (size == total_size()).
void set_log_append_time(std::span<uint8_t> batch, int64_t timestamp_ms);

// Recomputes and stores the CRC. REQUIRES: `batch` is exactly one complete batch.
void update_batch_crc(std::span<uint8_t> batch);

}  // namespace rill::protocol
