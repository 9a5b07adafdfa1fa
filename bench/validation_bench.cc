// What produce-time record validation (protocol/batch_validation.h) costs, per codec and record
// size, next to what decompressing the same batch alone costs. Each batch holds about 1 MiB of
// records; throughput is reported in inflated (record) bytes, so s/GB = 1 / (GB/s).
//
//   build/bench/validation_bench --benchmark_min_time=0.5
//
// BM_validate: the whole produce check (header, CRC-32C, every record streamed and checked).
// BM_decompress_only: decompression of the records section into one buffer (the floor for any
// record-level check of a compressed batch). BM_crc_only: the per-batch check Rill made before.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include "protocol/batch_validation.h"
#include "protocol/compression.h"
#include "protocol/record_batch.h"

// Heap allocations, counted so the report can show that validation allocates per batch, never
// per record (the allocs_per_batch counter).
namespace {
std::atomic<uint64_t> g_allocations{0};
}
void* operator new(size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, size_t) noexcept {
    std::free(p);
}

namespace {

using namespace rill::protocol;

constexpr int64_t kNow = 1'700'000'000'000;

// Values that compress the way log lines do: words from a small vocabulary plus noise.
bytes payload(size_t n, std::mt19937& rng) {
    static const char* words[] = {"GET ", "/api/v1/orders ", "200 ",      "user=", "42 ",
                                  "ms=",  "INFO ",           "checkout ", "cart ", "id="};
    bytes b;
    b.reserve(n);
    while (b.size() < n) {
        const char* w = words[rng() % 10];
        for (const char* p = w; *p && b.size() < n; ++p)
            b.push_back(static_cast<uint8_t>(*p));
        if (rng() % 3 == 0 && b.size() < n) b.push_back(static_cast<uint8_t>('0' + rng() % 10));
    }
    return b;
}

bytes batch_for(compression_codec codec, size_t record_size) {
    std::mt19937 rng(7);
    std::vector<record> rs;
    const size_t n = (size_t{1} << 20) / record_size;
    for (size_t i = 0; i < n; ++i)
        rs.push_back({payload(12, rng),
                      payload(record_size, rng),
                      {{"trace", payload(8, rng)}},
                      kNow + static_cast<int64_t>(i),
                      -1,
                      0});
    batch_spec spec;
    spec.producer_id = 1;
    spec.producer_epoch = 0;
    spec.base_sequence = 0;
    spec.codec = codec;
    return std::move(*build_batch(spec, rs));
}

size_t inflated_size(const bytes& batch) {
    auto h = parse_batch_header(batch);
    return decompress(h->codec(), bytes_view(batch).subspan(kBatchHeaderSize))->size();
}

void set_counters(benchmark::State& state, const bytes& batch) {
    const auto h = parse_batch_header(batch);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * inflated_size(batch)));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * h->record_count);
    state.counters["wire_bytes"] = static_cast<double>(batch.size());
}

void BM_validate(benchmark::State& state) {
    const auto codec = static_cast<compression_codec>(state.range(0));
    const bytes batch = batch_for(codec, static_cast<size_t>(state.range(1)));
    record_rules rules;
    rules.now_ms = kNow;
    rules.require_keys = true;
    const uint64_t allocs_before = g_allocations.load();
    for (auto _ : state) {
        auto f = validate_produced_batch(batch, rules, "bench-0");
        if (!f) state.SkipWithError(f.error().message.c_str());
        benchmark::DoNotOptimize(f);
    }
    set_counters(state, batch);
    state.counters["allocs_per_batch"] =
        static_cast<double>(g_allocations.load() - allocs_before) /
        static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
}

void BM_decompress_only(benchmark::State& state) {
    const auto codec = static_cast<compression_codec>(state.range(0));
    const bytes batch = batch_for(codec, static_cast<size_t>(state.range(1)));
    const auto section = bytes_view(batch).subspan(kBatchHeaderSize);
    for (auto _ : state) {
        auto d = decompress(codec, section);
        benchmark::DoNotOptimize(d);
    }
    set_counters(state, batch);
}

void BM_crc_only(benchmark::State& state) {
    const bytes batch = batch_for(static_cast<compression_codec>(state.range(0)),
                                  static_cast<size_t>(state.range(1)));
    validate_options o;
    o.producer = true;
    o.require_exact_size = true;
    for (auto _ : state) {
        auto h = validate_batch(batch, o);
        benchmark::DoNotOptimize(h);
    }
    set_counters(state, batch);
}

void codecs_and_sizes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"codec", "record"});
    for (int codec = 0; codec <= 4; ++codec)
        for (int size : {100, 1024})
            b->Args({codec, size});
}

BENCHMARK(BM_validate)->Apply(codecs_and_sizes);
BENCHMARK(BM_decompress_only)->Apply(codecs_and_sizes);
BENCHMARK(BM_crc_only)->Apply(codecs_and_sizes);

}  // namespace

BENCHMARK_MAIN();
