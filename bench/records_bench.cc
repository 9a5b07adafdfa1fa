// Record batch costs on the broker's produce path: validating a 1 MiB batch (header + CRC-32C,
// per batch) against record-level validation, and building a batch of 1 KiB records.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "protocol/record_batch.h"

namespace {

using namespace rill::protocol;

bytes record_payload(size_t n, std::mt19937& rng) {
    bytes b(n);
    for (size_t i = 0; i < n; ++i)
        b[i] = rng() % 4 ? static_cast<uint8_t>('a' + i % 26) : static_cast<uint8_t>(rng());
    return b;
}

// About 1 MiB: 1000 records of 1 KiB values with 16-byte keys.
std::vector<record> one_mib_of_records() {
    std::mt19937 rng(3);
    std::vector<record> rs;
    for (int i = 0; i < 1000; ++i)
        rs.push_back(
            {record_payload(16, rng), record_payload(1024, rng), {}, 1700000000000 + i, -1, 0});
    return rs;
}

bytes one_mib_batch(compression_codec codec) {
    batch_spec spec;
    spec.producer_id = 1;
    spec.producer_epoch = 0;
    spec.base_sequence = 0;
    spec.codec = codec;
    return std::move(*build_batch(spec, one_mib_of_records()));
}

void bm_validate_batch(benchmark::State& state) {
    const bytes batch = one_mib_batch(compression_codec::none);
    for (auto _ : state) {
        auto h = validate_batch(batch,
                                {.verify_crc = true, .require_exact_size = true, .producer = true});
        benchmark::DoNotOptimize(h);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch.size()));
    state.counters["batch_bytes"] = static_cast<double>(batch.size());
}
BENCHMARK(bm_validate_batch)->Name("validate_batch/1MiB/header+crc");

void bm_validate_records(benchmark::State& state) {
    const auto codec = static_cast<compression_codec>(state.range(0));
    const bytes batch = one_mib_batch(codec);
    for (auto _ : state) {
        auto ok = validate_records(batch, true);
        benchmark::DoNotOptimize(ok);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch.size()));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 1000));
}
BENCHMARK(bm_validate_records)->Name("validate_records/1MiB/codec")->DenseRange(0, 4);

void bm_build_batch(benchmark::State& state) {
    const auto codec = static_cast<compression_codec>(state.range(0));
    const auto records = one_mib_of_records();
    size_t bytes_in = 0;
    for (const auto& r : records)
        bytes_in += r.key->size() + r.value->size();
    for (auto _ : state) {
        batch_spec spec;
        spec.codec = codec;
        auto b = build_batch(spec, records);
        benchmark::DoNotOptimize(b);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes_in));
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * records.size()));
}
BENCHMARK(bm_build_batch)->Name("build_batch/1000x1KiB/codec")->DenseRange(0, 4);

}  // namespace

BENCHMARK_MAIN();
