// CRC-32C (Castagnoli), as used by Kafka's RecordBatch (magic 2) over attributes..end.
//
// Thread-safety: all functions are pure and may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rill::protocol {

// Extends `crc` (0 to start) over `n` bytes. Uses SSE4.2 instructions when the CPU has them
// (detected at run time), the portable implementation otherwise.
uint32_t crc32c(uint32_t crc, const void* data, size_t n);

// The portable table-driven implementation (exposed for tests and benchmarks).
uint32_t crc32c_portable(uint32_t crc, const void* data, size_t n);

// True when this CPU has the SSE4.2 crc32 instruction, i.e. crc32c() takes the fast path.
bool crc32c_hardware_available();

// The SSE4.2 implementation (three interleaved streams). Falls back to the portable one when
// crc32c_hardware_available() is false. Exposed for tests and benchmarks.
uint32_t crc32c_hardware(uint32_t crc, const void* data, size_t n);

}  // namespace rill::protocol
