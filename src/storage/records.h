// Minimal reader of the records inside an *uncompressed* magic-2 batch, for the two places
// storage must look inside batches: timestamp lookup and compaction. Records are views into
// the batch bytes; every read is bounds-checked.
//
//   record = length varint | attributes i8 | timestamp_delta varlong | offset_delta varint |
//            key_length varint | key | value_length varint | value | headers...
//
// Compressed batches go through protocol/record_batch.h (record_reader, batch_builder); this
// reader exists so the common uncompressed case copies kept records byte for byte.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>

namespace rill::storage {

struct raw_record {
    int64_t timestamp_delta = 0;
    int32_t offset_delta = 0;
    std::optional<std::span<const uint8_t>> key;    // nullopt: null key
    std::optional<std::span<const uint8_t>> value;  // nullopt: null value (tombstone)
    std::span<const uint8_t> bytes;                 // the whole record, length prefix included
};

class raw_record_iterator {
  public:
    // `batch`: one whole uncompressed batch (header included).
    explicit raw_record_iterator(std::span<const uint8_t> batch);
    // False at the end or on malformed data (then failed() is true).
    bool next(raw_record& out);
    bool failed() const { return failed_; }

  private:
    std::span<const uint8_t> data_;
    size_t pos_ = 0;
    int32_t left_ = 0;
    bool failed_ = false;
};

// Varint helpers (zigzag, as Kafka records use). Return false on malformed input.
bool read_varlong(std::span<const uint8_t> d, size_t& pos, int64_t& out);
void write_varlong(int64_t v, uint8_t* out, size_t& n);

// The first record of a CreateTime batch with timestamp >= ts: {offset, timestamp}. Compressed
// records are streamed in bounded chunks (protocol/record_scan.h), never inflated whole.
// nullopt when malformed or none.
std::optional<std::pair<int64_t, int64_t>> first_record_at_or_after(std::span<const uint8_t> batch,
                                                                    int64_t ts);

}  // namespace rill::storage
