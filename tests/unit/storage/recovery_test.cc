// Crash recovery: random truncations and byte flips of the active segment, a child process
// killed with SIGKILL mid-append, corruption in the middle of the log.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "storage/format.h"
#include "test_util.h"

namespace rill::storage::test {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file(const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}
void write_file(const std::string& p, const std::vector<uint8_t>& d) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(d.data()), static_cast<std::streamsize>(d.size()));
}

log_config fuzz_config() {
    log_config c;
    c.segment_bytes = 6000;
    c.index_interval_bytes = 200;
    c.retention_ms = -1;
    return c;
}

struct fixture {
    temp_dir tmp;
    std::string master;                                      // the crashed log directory
    std::vector<uint8_t> all;                                // every batch, in order
    std::vector<std::pair<size_t, int64_t>> active_batches;  // (end position, last offset)
    uint64_t closed_bytes = 0;
    int64_t active_base = 0;
    std::string active_name;
};

// A log of a few segments whose active one holds ~20 batches, left without a clean close.
fixture make_fixture() {
    fixture f;
    f.master = f.tmp.sub("master-0");
    auto fsys = std::make_shared<fault_fs>();
    fsys->f().skip_syncs = true;
    auto log = open_log(f.master, fuzz_config(), fsys);
    std::mt19937 rng(42);
    for (int i = 0; i < 60; ++i) {
        int n = 1 + static_cast<int>(rng() % 5);
        must_append(*log, make_simple(n, 10 + rng() % 150, 1000 + i), 1000 + i);
    }
    f.all = region_bytes(*log->read(0, 1 << 30, 1 << 30));
    const auto& act = log->segments().active();
    f.active_base = act->base_offset();
    f.active_name = offset_file_stem(f.active_base) + kLogSuffix;
    f.closed_bytes = log->size_bytes() - act->size();
    auto hs = headers_of(f.all);
    size_t pos = 0, apos = 0;
    for (const auto& h : hs) {
        pos += h.total_size();
        if (h.base_offset >= f.active_base) {
            apos += h.total_size();
            f.active_batches.push_back({apos, h.last_offset()});
        }
    }
    EXPECT_GT(f.active_batches.size(), 10u);
    EXPECT_GT(log->segment_count(), 2u);
    return f;  // log destroyed without close(): an unclean shutdown
}

// Copies the master dir to `to`, replacing the active segment's bytes.
void clone_with(const fixture& f, const std::string& to, const std::vector<uint8_t>& active) {
    fs::create_directory(to);
    for (const auto& e : fs::directory_iterator(f.master)) {
        std::string name = e.path().filename();
        if (name == f.active_name)
            write_file(to + "/" + name, active);
        else
            fs::copy_file(e.path(), to + "/" + name);
    }
}

void expect_prefix(const fixture& f, const std::string& dir, size_t valid_active_batches,
                   std::shared_ptr<fault_fs> fsys) {
    auto log = open_log(dir, fuzz_config(), fsys);
    int64_t expected_leo = valid_active_batches == 0
                               ? f.active_base
                               : f.active_batches[valid_active_batches - 1].second + 1;
    ASSERT_EQ(log->log_end_offset(), expected_leo);
    size_t expected_bytes =
        f.closed_bytes +
        (valid_active_batches == 0 ? 0 : f.active_batches[valid_active_batches - 1].first);
    auto got = region_bytes(*log->read(0, 1 << 30, 1 << 30));
    ASSERT_EQ(got.size(), expected_bytes);
    ASSERT_TRUE(std::equal(got.begin(), got.end(), f.all.begin()));
    // The recovered log accepts appends right after the valid prefix.
    auto a = must_append(*log, make_simple(1, 5, 1));
    ASSERT_EQ(a.base_offset, expected_leo);
}

TEST(Recovery, RandomTruncationsOfTheActiveSegment) {
    auto f = make_fixture();
    auto fsys = std::make_shared<fault_fs>();
    fsys->f().skip_syncs = true;
    auto active = read_file(f.master + "/" + f.active_name);
    std::mt19937 rng(7);
    for (int iter = 0; iter < 1000; ++iter) {
        size_t cut = rng() % (active.size() + 1);
        std::vector<uint8_t> bytes(active.begin(), active.begin() + static_cast<long>(cut));
        size_t valid = 0;
        while (valid < f.active_batches.size() && f.active_batches[valid].first <= cut)
            ++valid;
        std::string dir = f.tmp.sub("trunc" + std::to_string(iter) + "-0");
        clone_with(f, dir, bytes);
        expect_prefix(f, dir, valid, fsys);
        if (HasFatalFailure()) FAIL() << "iteration " << iter << " cut " << cut;
        fs::remove_all(dir);
    }
}

TEST(Recovery, RandomByteFlipsOfTheActiveSegment) {
    auto f = make_fixture();
    auto fsys = std::make_shared<fault_fs>();
    fsys->f().skip_syncs = true;
    auto active = read_file(f.master + "/" + f.active_name);
    std::mt19937 rng(11);
    int done = 0;
    for (int iter = 0; done < 1000; ++iter) {
        size_t pos = rng() % active.size();
        // Which batch holds pos, and where it starts.
        size_t k = 0, start = 0;
        while (f.active_batches[k].first <= pos)
            start = f.active_batches[k++].first;
        size_t in_batch = pos - start;
        // The partition leader epoch (bytes 12..15) lies outside the CRC by design.
        if (in_batch >= 12 && in_batch < 16) continue;
        auto bytes = active;
        bytes[pos] ^= static_cast<uint8_t>(1 + rng() % 255);
        std::string dir = f.tmp.sub("flip" + std::to_string(iter) + "-0");
        clone_with(f, dir, bytes);
        expect_prefix(f, dir, k, fsys);
        if (HasFatalFailure()) FAIL() << "iteration " << iter << " pos " << pos;
        fs::remove_all(dir);
        ++done;
    }
}

TEST(Recovery, CorruptionInTheMiddleIsReportedAndTheValidPrefixServed) {
    auto f = make_fixture();
    // Flip a byte in the first (closed) segment; with no trusted recovery point everything is
    // re-validated: the log is cut there and later segments dropped, loudly, without crashing.
    std::string dir = f.tmp.sub("mid-0");
    fs::copy(f.master, dir);
    fs::remove(dir + "/" + std::string(kPartitionCheckpoint));
    std::string first = dir + "/" + offset_file_stem(0) + kLogSuffix;
    auto bytes = read_file(first);
    auto hs = headers_of(bytes);
    size_t at = hs[0].total_size() + hs[1].total_size() + 30;
    bytes[at] ^= 0x5a;
    write_file(first, bytes);
    auto log = open_log(dir, fuzz_config());
    EXPECT_EQ(log->log_end_offset(), hs[1].last_offset() + 1);
    EXPECT_GT(log->opened().segments_dropped, 0u);
    auto got = region_bytes(*log->read(0, 1 << 30, 1 << 30));
    EXPECT_TRUE(std::equal(got.begin(), got.end(), f.all.begin()));
}

TEST(Recovery, CorruptClosedSegmentBelowRecoveryPointKeepsServingPrefix) {
    temp_dir d;
    std::string dir = d.sub("t-0");
    std::vector<uint8_t> all;
    {
        auto log = open_log(dir, fuzz_config());
        for (int i = 0; i < 40; ++i)
            must_append(*log, make_simple(3, 100, i));
        ASSERT_TRUE(log->close());
    }
    std::string first = dir + "/" + offset_file_stem(0) + kLogSuffix;
    auto bytes = read_file(first);
    auto hs = headers_of(bytes);
    size_t at = hs[0].total_size() + hs[1].total_size() + 16;  // magic of batch 2
    bytes[at] = 9;
    write_file(first, bytes);
    auto log = open_log(dir, fuzz_config());  // clean: the segment is trusted, not re-validated
    auto r = log->read(0, 1 << 30, 1 << 30);
    ASSERT_TRUE(r);
    auto got = headers_of(region_bytes(*r));
    EXPECT_EQ(got.size(), 2u);  // the valid prefix of the corrupt segment
    // At the corrupt batch: an error (CORRUPT_MESSAGE), never the next segment's batches.
    auto bad = log->read(hs[2].base_offset, 100, 1 << 30);
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code, errc::corrupt);
}

TEST(Recovery, TornCheckpointAndGarbageFilesAreHandled) {
    temp_dir d;
    std::string dir = d.sub("t-0");
    {
        auto log = open_log(dir, fuzz_config());
        for (int i = 0; i < 10; ++i)
            must_append(*log, make_simple(3, 100, i));
        ASSERT_TRUE(log->close());
    }
    write_file(dir + "/" + kPartitionCheckpoint, {'r', 'i', 'l'});
    write_file(dir + "/" + offset_file_stem(0) + kIndexSuffix, {1, 2, 3});
    write_file(dir + "/" + offset_file_stem(999) + ".log.cleaned", {1, 2, 3});
    write_file(dir + "/" + offset_file_stem(5) + ".log.deleted", {1, 2, 3});
    auto log = open_log(dir, fuzz_config());
    EXPECT_EQ(log->log_end_offset(), 30);
    EXPECT_FALSE(fs::exists(dir + "/" + offset_file_stem(999) + ".log.cleaned"));
    EXPECT_FALSE(fs::exists(dir + "/" + offset_file_stem(5) + ".log.deleted"));
}

TEST(Recovery, InterruptedCompactionSwapIsCompleted) {
    temp_dir d;
    std::string dir = d.sub("t-0");
    std::vector<uint8_t> all;
    {
        auto log = open_log(dir, fuzz_config());
        for (int i = 0; i < 30; ++i)
            must_append(*log, make_simple(3, 100, i));
        all = region_bytes(*log->read(0, 1 << 30, 1 << 30));
        ASSERT_TRUE(log->close());
    }
    // Crash after ".cleaned -> .swap" and "old -> .deleted", before ".swap -> .log".
    std::string stem = dir + "/" + offset_file_stem(0);
    fs::rename(stem + kLogSuffix, stem + ".log.swap");
    fs::rename(stem + kIndexSuffix, stem + ".index.deleted");
    auto log = open_log(dir, fuzz_config());
    EXPECT_TRUE(fs::exists(stem + kLogSuffix));
    EXPECT_FALSE(fs::exists(stem + ".log.swap"));
    EXPECT_EQ(region_bytes(*log->read(0, 1 << 30, 1 << 30)), all);
}

// A child appends as fast as it can and reports each acknowledged last offset through a pipe;
// the parent SIGKILLs it at a random moment and recovers: every acknowledged batch is there
// and the log is a valid contiguous prefix.
TEST(Recovery, SigkillMidAppend) {
    for (int round = 0; round < 5; ++round) {
        temp_dir d;
        std::string dir = d.sub("t-0");
        int fds[2];
        ASSERT_EQ(::pipe(fds), 0);
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(fds[0]);
            auto r = partition_log::open(opts_for(dir, fuzz_config()), 0);
            if (!r) ::_exit(3);
            auto& log = **r;
            for (int i = 0;; ++i) {
                auto b = make_simple(1 + i % 7, 100 + i % 300, i);
                auto a = log.append(b, 0, i);
                if (!a) ::_exit(4);
                int64_t last = a->last_offset;
                if (::write(fds[1], &last, sizeof last) != sizeof last) ::_exit(5);
            }
        }
        ::close(fds[1]);
        int64_t first = -1;
        ASSERT_EQ(::read(fds[0], &first, sizeof first), static_cast<ssize_t>(sizeof first));
        ::usleep(5000 + 10000 * round);
        ::kill(pid, SIGKILL);
        int st = 0;
        ::waitpid(pid, &st, 0);
        ASSERT_TRUE(WIFSIGNALED(st));
        int64_t acked = first, v;
        while (::read(fds[0], &v, sizeof v) == sizeof v)
            acked = v;
        ::close(fds[0]);
        ASSERT_GE(acked, 0);
        auto log = open_log(dir, fuzz_config());
        EXPECT_GE(log->log_end_offset(), acked + 1);
        auto all = region_bytes(*log->read(0, 1 << 30, 1 << 30));
        int64_t next = 0;
        for (size_t p = 0; p < all.size();) {
            auto h = *protocol::parse_batch_header(std::span<const uint8_t>(all).subspan(p));
            ASSERT_EQ(h.base_offset, next);
            ASSERT_EQ(protocol::compute_batch_crc(
                          std::span<const uint8_t>(all).subspan(p, h.total_size())),
                      h.crc);
            next = h.last_offset() + 1;
            p += h.total_size();
        }
        EXPECT_EQ(next, log->log_end_offset());
    }
}

}  // namespace
}  // namespace rill::storage::test
