// Append throughput of the storage layer (rill_storage).
//
//   BM_AppendPageCache/<batch bytes>     1 KiB records in 16 KiB / 1 MiB batches, no sync
//   BM_AppendGroupCommit/<batch>/<in-flight>
//       acks=all style: every append is followed by flush_up_to(LEO); up to <in-flight>
//       appends wait for durability at once (like that many producers each awaiting its
//       ack). The flusher thread shares one fdatasync between all waiting requests.
//
// The log lives in $RILL_BENCH_DIR (default: ./rill-bench-data, i.e. the disk the build
// dir is on, so the numbers compare to bench/disk_baseline.sh run on the same directory).
#include <benchmark/benchmark.h>

#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "protocol/record_batch_header.h"
#include "storage/flusher.h"
#include "storage/partition_log.h"

namespace {

using namespace rill::storage;

std::string bench_dir() {
    const char* d = std::getenv("RILL_BENCH_DIR");
    std::string base = d ? d : "./rill-bench-data";
    std::filesystem::create_directories(base);
    return base;
}

// An uncompressed batch of `count` records with 1 KiB values (valid CRC; records are filler
// of the right sizes: storage does not look inside on append).
std::vector<uint8_t> make_batch(size_t bytes) {
    constexpr size_t kRecord = 1024;
    size_t count = std::max<size_t>(1, bytes / kRecord);
    std::vector<uint8_t> b(rill::protocol::kBatchHeaderSize + count * kRecord, 0x61);
    rill::protocol::batch_header h;
    h.batch_length = static_cast<int32_t>(b.size() - rill::protocol::kBatchLogOverhead);
    h.record_count = static_cast<int32_t>(count);
    h.last_offset_delta = static_cast<int32_t>(count - 1);
    h.base_timestamp = h.max_timestamp = 1;
    rill::protocol::write_batch_header(h, b);
    h.crc = rill::protocol::compute_batch_crc(b);
    rill::protocol::write_batch_header(h, b);
    return b;
}

log_config bench_config() {
    log_config c;
    c.segment_bytes = 256LL << 20;
    c.retention_bytes = 512LL << 20;
    c.retention_ms = -1;
    return c;
}

struct bench_log {
    std::string dir;
    std::unique_ptr<partition_log> log;
    bench_log(const std::string& name, flusher* fl) {
        dir = bench_dir() + "/" + name;
        std::filesystem::remove_all(dir);
        partition_log::options o;
        o.fs = posix_file_system();
        o.dir = dir;
        o.config = bench_config();
        o.flush = fl;
        auto r = partition_log::open(o, 0);
        if (!r) std::abort();
        log = std::move(r.value());
    }
    ~bench_log() {
        log.reset();
        std::filesystem::remove_all(dir);
    }
    // Keeps the data set bounded (outside the timed region).
    void trim(benchmark::State& st) {
        if (log->segment_count() < 4) return;
        st.PauseTiming();
        log->set_high_watermark(log->log_end_offset());
        (void)log->enforce_retention(0);
        st.ResumeTiming();
    }
};

void BM_AppendPageCache(benchmark::State& st) {
    auto batch = make_batch(static_cast<size_t>(st.range(0)));
    bench_log bl("pagecache-0", nullptr);
    for (auto _ : st) {
        auto r = bl.log->append(batch, 0, 1);
        if (!r) st.SkipWithError(r.error().message.c_str());
        bl.trim(st);
    }
    st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * batch.size()));
}
BENCHMARK(BM_AppendPageCache)->Arg(16 << 10)->Arg(1 << 20)->UseRealTime();

void BM_AppendGroupCommit(benchmark::State& st) {
    auto batch = make_batch(static_cast<size_t>(st.range(0)));
    const int max_inflight = static_cast<int>(st.range(1));
    flusher fl(1);
    bench_log bl("groupcommit-0", &fl);
    std::mutex mu;
    std::condition_variable cv;
    int inflight = 0;
    for (auto _ : st) {
        {
            std::unique_lock lk(mu);
            cv.wait(lk, [&] { return inflight < max_inflight; });
            ++inflight;
        }
        auto r = bl.log->append(batch, 0, 1);
        if (!r) {
            st.SkipWithError(r.error().message.c_str());
            break;
        }
        bl.log->flush_up_to(bl.log->log_end_offset(), [&](const status&) {
            std::lock_guard lk(mu);
            --inflight;
            cv.notify_all();
        });
        bl.trim(st);
    }
    {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return inflight == 0; });
    }
    st.SetBytesProcessed(static_cast<int64_t>(st.iterations() * batch.size()));
    st.counters["syncs"] = static_cast<double>(fl.syncs());
    st.counters["batches_per_sync"] =
        fl.syncs() ? static_cast<double>(st.iterations()) / static_cast<double>(fl.syncs()) : 0;
}
BENCHMARK(BM_AppendGroupCommit)
    ->Args({16 << 10, 1})
    ->Args({16 << 10, 64})
    ->Args({1 << 20, 1})
    ->Args({1 << 20, 8})
    ->Args({1 << 20, 32})
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
