// CRC-32C (Castagnoli), as used by Kafka's RecordBatch (magic 2) over attributes..end.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rill::protocol {

// Extends `crc` (0 to start) over `n` bytes. Uses SSE4.2 instructions when the CPU has them.
uint32_t crc32c(uint32_t crc, const void* data, size_t n);

// The portable table-driven implementation (exposed for tests and benchmarks).
uint32_t crc32c_portable(uint32_t crc, const void* data, size_t n);

}  // namespace rill::protocol
