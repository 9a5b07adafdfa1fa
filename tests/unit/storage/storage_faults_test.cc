// Corruption and full disks (issue 14, item 7): a corrupt batch in a trusted segment is a read
// error, never a silent skip; a failed segment roll (ENOSPC, EMFILE) leaves no partial files
// and the log keeps working once the cause is gone; ENOSPC on append is recoverable.
#include <gtest/gtest.h>

#include <fstream>

#include "storage/format.h"
#include "test_util.h"

namespace rill::storage::test {
namespace {

log_config rolling_config() {
    log_config c;
    c.segment_bytes = 400;
    c.index_interval_bytes = 64;
    return c;
}

// Overwrites the magic byte of the batch at `position` of a segment file.
void corrupt_magic(const std::string& log_path, uint64_t position) {
    std::fstream f(log_path, std::ios::in | std::ios::out | std::ios::binary);
    ASSERT_TRUE(f.good());
    f.seekp(static_cast<std::streamoff>(position + protocol::kMagicOffset));
    char bad = 9;
    f.write(&bad, 1);
}

std::vector<std::string> files_of(const std::string& dir) {
    auto names = posix_file_system()->list(dir);
    std::vector<std::string> out = names ? *names : std::vector<std::string>{};
    std::sort(out.begin(), out.end());
    return out;
}

TEST(StorageFaults, CorruptBatchInTrustedSegmentIsAReadErrorNotASkip) {
    temp_dir d;
    std::string dir = d.sub("t-0");
    std::vector<int64_t> bases;
    log_config cfg = rolling_config();
    cfg.segment_bytes = 700;  // 4 batches a segment, indexed after the corrupt one
    {
        auto log = open_log(dir, cfg);
        for (int i = 0; i < 12; ++i)
            bases.push_back(must_append(*log, make_simple(2, 40, 100 + i)).base_offset);
        ASSERT_GE(log->segment_count(), 3u);
        ASSERT_TRUE(log->close());  // clean: every segment is trusted on the next open
    }
    // The second batch of the first segment.
    uint64_t second = make_simple(2, 40, 0).size();
    corrupt_magic(dir + "/" + offset_file_stem(0) + kLogSuffix, second);

    auto log = open_log(dir, cfg);
    ASSERT_TRUE(log->opened().clean);
    // Before it: served, stopping at the corrupt batch.
    auto before = log->read(0, 1 << 20, log->log_end_offset());
    ASSERT_TRUE(before);
    auto hs = headers_of(region_bytes(*before));
    ASSERT_EQ(hs.size(), 1u);
    EXPECT_EQ(hs[0].base_offset, 0);
    // At it: an error, not the next segment's batches.
    auto at = log->read(bases[1], 1 << 20, log->log_end_offset());
    ASSERT_FALSE(at);
    EXPECT_EQ(at.error().code, errc::corrupt);
    EXPECT_NE(at.error().message.find("corrupt batch"), std::string::npos);
    // Later segments are still served.
    auto later = log->read(bases.back(), 1 << 20, log->log_end_offset());
    ASSERT_TRUE(later);
    EXPECT_EQ(headers_of(region_bytes(*later)).front().base_offset, bases.back());
    // The log itself stays writable.
    EXPECT_FALSE(log->offline());
    must_append(*log, make_simple(1, 10, 200));
}

// A roll that cannot open its files: no partial segment stays behind, the log is not offline,
// and the append after the cause is gone rolls and succeeds.
void roll_failure_is_recoverable(const std::function<void(faults&, bool)>& inject, errc expected) {
    temp_dir d;
    std::string dir = d.sub("t-0");
    auto fs = std::make_shared<fault_fs>();
    auto log = open_log(dir, rolling_config(), fs);
    must_append(*log, make_simple(3, 100, 100));
    ASSERT_EQ(log->segment_count(), 1u);
    auto files_before = files_of(dir);

    inject(fs->f(), true);
    auto b = make_simple(3, 100, 101);  // does not fit: rolls
    auto r = log->append(b, 0, 1000);
    inject(fs->f(), false);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, expected);
    EXPECT_FALSE(log->offline());
    EXPECT_EQ(log->segment_count(), 1u);
    EXPECT_EQ(log->log_end_offset(), 3);
    EXPECT_EQ(files_of(dir), files_before);  // no partial segment files

    auto ok = must_append(*log, make_simple(3, 100, 102));
    EXPECT_EQ(ok.base_offset, 3);
    EXPECT_EQ(log->segment_count(), 2u);
    ASSERT_TRUE(log->flush());
    ASSERT_TRUE(log->close());
    auto again = open_log(dir, rolling_config(), fs);
    EXPECT_EQ(again->log_end_offset(), 6);
    EXPECT_EQ(headers_of(region_bytes(*again->read(0, 1 << 20, 6))).size(), 2u);
}

TEST(StorageFaults, RollOutOfDescriptorsIsRecoverable) {
    // The log file of the new segment opens, its index does not (EMFILE).
    roll_failure_is_recoverable(
        [](faults& f, bool on) { f.max_open_files = on ? f.open_files + 1 : -1; }, errc::io_error);
}

TEST(StorageFaults, RollOnFullDiskIsRecoverable) {
    roll_failure_is_recoverable([](faults& f, bool on) { f.fail_creates = on; }, errc::disk_full);
}

TEST(StorageFaults, FullDiskOnAppendIsRecoverableAndNothingAckedIsLost) {
    temp_dir d;
    std::string dir = d.sub("t-0");
    auto fs = std::make_shared<fault_fs>();
    auto log = open_log(dir, rolling_config(), fs);
    int64_t acked = 0;
    for (int round = 0; round < 3; ++round) {
        for (int i = 0; i < 4; ++i)
            acked = must_append(*log, make_simple(2, 50, 100)).last_offset + 1;
        fs->f().fail_writes = true;
        for (int i = 0; i < 3; ++i) {
            auto b = make_simple(2, 50, 100);
            auto r = log->append(b, 0, 1000);
            ASSERT_FALSE(r);
            EXPECT_EQ(r.error().code, errc::disk_full);
        }
        fs->f().fail_writes = false;
        EXPECT_FALSE(log->offline());
        EXPECT_EQ(log->log_end_offset(), acked);
    }
    ASSERT_TRUE(log->close());
    auto again = open_log(dir, rolling_config(), fs);
    EXPECT_EQ(again->log_end_offset(), acked);
    auto hs = headers_of(region_bytes(*again->read(0, 1 << 20, acked)));
    EXPECT_EQ(hs.size(), 12u);
}

}  // namespace
}  // namespace rill::storage::test
