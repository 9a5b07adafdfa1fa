// CRC-32C throughput: the dispatching entry point (SSE4.2, three streams), the SSE4.2 path
// called directly, and the portable table-driven fallback.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "protocol/crc32c.h"

namespace {

std::vector<uint8_t> make_buffer(size_t n) {
    std::vector<uint8_t> b(n);
    std::mt19937 rng(1);
    for (auto& x : b)
        x = static_cast<uint8_t>(rng());
    return b;
}

template <uint32_t (*Fn)(uint32_t, const void*, size_t)>
void bm_crc(benchmark::State& state) {
    const auto buf = make_buffer(static_cast<size_t>(state.range(0)));
    uint32_t crc = 0;
    for (auto _ : state) {
        crc = Fn(crc, buf.data(), buf.size());
        benchmark::DoNotOptimize(crc);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}

void sizes(benchmark::internal::Benchmark* b) {
    b->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20);
}

}  // namespace

BENCHMARK(bm_crc<rill::protocol::crc32c>)->Name("crc32c/dispatch")->Apply(sizes);
BENCHMARK(bm_crc<rill::protocol::crc32c_hardware>)->Name("crc32c/sse42")->Apply(sizes);
BENCHMARK(bm_crc<rill::protocol::crc32c_portable>)->Name("crc32c/portable")->Apply(sizes);

BENCHMARK_MAIN();
