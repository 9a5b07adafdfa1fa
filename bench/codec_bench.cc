// Generated-codec benchmarks: decoding a large Produce request (records are viewed in the
// input, not copied) and encoding a Fetch response with several partitions (records copied
// into the buffer, or referenced as file regions for sendfile).
#include <benchmark/benchmark.h>

#include "protocol/frame.h"
#include "protocol/generated/fetch.h"
#include "protocol/generated/produce.h"

namespace {

using namespace rill::protocol;
using namespace rill::protocol::messages;

constexpr size_t total_records = 1 << 20;  // 1 MiB of record bytes per request

bytes make_produce(int16_t version, int partitions) {
    produce_request req;
    req.acks = -1;
    req.timeout_ms = 30000;
    auto& topic = req.topic_data.emplace_back();
    topic.name = "bench-topic";
    const size_t per = total_records / static_cast<size_t>(partitions);
    for (int p = 0; p < partitions; ++p) {
        auto& part = topic.partition_data.emplace_back();
        part.index = p;
        part.records = record_data::from_bytes(bytes(per, static_cast<uint8_t>(p)));
    }
    writer w;
    req.encode(w, version);
    return w.take();
}

void BM_decode_produce_1mib(benchmark::State& state) {
    const auto version = static_cast<int16_t>(state.range(0));
    const int partitions = static_cast<int>(state.range(1));
    const bytes input = make_produce(version, partitions);
    for (auto _ : state) {
        reader r(input);
        produce_request req;
        req.decode(r, version);
        if (!r.ok()) state.SkipWithError("decode failed");
        benchmark::DoNotOptimize(req);
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * input.size()));
}
BENCHMARK(BM_decode_produce_1mib)->Args({9, 1})->Args({9, 16})->Args({9, 256})->Args({3, 16});

fetch_response make_fetch(int partitions, size_t records_per_partition, bool regions) {
    fetch_response resp;
    resp.session_id = 1;
    auto& topic = resp.responses.emplace_back();
    topic.topic = "bench-topic";
    topic.topic_id.b[0] = 1;
    static const bytes payload(1 << 20, 0x5a);
    for (int p = 0; p < partitions; ++p) {
        auto& part = topic.partitions.emplace_back();
        part.partition_index = p;
        part.high_watermark = 1000000 + p;
        part.last_stable_offset = part.high_watermark;
        part.log_start_offset = 0;
        part.aborted_transactions.emplace();
        if (regions) {
            part.records = record_data::from_regions(
                {file_region{3, static_cast<int64_t>(p) << 20,
                             static_cast<int64_t>(records_per_partition), nullptr}});
        } else {
            part.records =
                record_data::from_view(bytes_view(payload).first(records_per_partition), nullptr);
        }
    }
    return resp;
}

void BM_encode_fetch_response(benchmark::State& state) {
    const auto version = static_cast<int16_t>(state.range(0));
    const int partitions = static_cast<int>(state.range(1));
    const bool regions = state.range(2) != 0;
    const size_t per = 64 * 1024;
    const fetch_response resp = make_fetch(partitions, per, regions);
    size_t wire = 0;
    for (auto _ : state) {
        writer w(regions ? 4096 : per * static_cast<size_t>(partitions) + 4096);
        encode_response_frame(w, 42, version, resp);
        wire = w.wire_size();
        benchmark::DoNotOptimize(w.buffer().data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire));
    state.counters["partitions"] = partitions;
}
BENCHMARK(BM_encode_fetch_response)
    ->Args({12, 8, 0})
    ->Args({12, 8, 1})
    ->Args({16, 64, 1})
    ->Args({4, 8, 0});

void BM_encode_fetch_response_size_only(benchmark::State& state) {
    const fetch_response resp = make_fetch(64, 64 * 1024, true);
    for (auto _ : state)
        benchmark::DoNotOptimize(resp.encoded_size(16));
}
BENCHMARK(BM_encode_fetch_response_size_only);

}  // namespace

BENCHMARK_MAIN();
