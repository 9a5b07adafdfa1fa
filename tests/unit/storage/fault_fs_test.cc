// The fault layer itself: what a power cut keeps and loses, and the injected failures.
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace rill::storage::test {
namespace {

std::span<const uint8_t> text(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

std::string content(file_system& fs, const std::string& path) {
    auto d = read_whole_file(fs, path);
    if (!d) return "<missing>";
    return std::string(d->begin(), d->end());
}

TEST(FaultFs, PowerCutKeepsOnlySyncedDataAndEntries) {
    temp_dir d;
    auto fs = std::make_shared<fault_fs>();
    fs->track(d.path());
    std::string dir = d.sub("p");
    ASSERT_TRUE(fs->mkdir(dir));

    // Synced data, synced entry: kept; bytes written after the sync: lost.
    auto a = take(fs->open(dir + "/a", open_mode::create));
    ASSERT_TRUE(a->pwrite(0, text("durable")));
    ASSERT_TRUE(a->sync());
    ASSERT_TRUE(a->pwrite(7, text("-lost")));
    // Synced and named durably, later unlinked and truncated without syncs: comes back whole.
    auto b = take(fs->open(dir + "/b", open_mode::create));
    ASSERT_TRUE(b->pwrite(0, text("orphan")));
    ASSERT_TRUE(b->sync());
    ASSERT_TRUE(fs->sync_dir(dir));
    // A file created after the directory sync: gone, although synced.
    auto c = take(fs->open(dir + "/c", open_mode::create));
    ASSERT_TRUE(c->pwrite(0, text("late")));
    ASSERT_TRUE(c->sync());
    // A rename never made durable: undone.
    ASSERT_TRUE(fs->rename(dir + "/a", dir + "/a2"));
    ASSERT_TRUE(b->truncate(0));
    ASSERT_TRUE(fs->unlink(dir + "/b"));

    fs->power_cut();
    EXPECT_EQ(content(*fs, dir + "/a"), "durable");
    EXPECT_FALSE(fs->exists(dir + "/a2"));
    EXPECT_EQ(content(*fs, dir + "/b"), "orphan");
    EXPECT_FALSE(fs->exists(dir + "/c"));
}

TEST(FaultFs, DurableRenameReplacesAndTornTailKeepsAPrefix) {
    temp_dir d;
    auto fs = std::make_shared<fault_fs>();
    fs->track(d.path());
    // write_file_atomic is durable: tmp + sync + rename + directory sync.
    ASSERT_TRUE(write_file_atomic(*fs, d.sub("ck"), text("one")));
    ASSERT_TRUE(write_file_atomic(*fs, d.sub("ck"), text("two")));
    auto f = take(fs->open(d.sub("log"), open_mode::create));
    ASSERT_TRUE(f->pwrite(0, text("0123")));
    ASSERT_TRUE(f->sync());
    ASSERT_TRUE(fs->sync_dir(d.path()));
    ASSERT_TRUE(f->pwrite(4, text("456789")));
    std::mt19937_64 rng(7);
    fs->power_cut(&rng);
    EXPECT_EQ(content(*fs, d.sub("ck")), "two");
    EXPECT_FALSE(fs->exists(d.sub("ck.tmp")));
    std::string log = content(*fs, d.sub("log"));
    ASSERT_GE(log.size(), 4u);
    EXPECT_EQ(std::string("0123456789").substr(0, log.size()), log);
}

TEST(FaultFs, CrashPointStopsEveryLaterMutation) {
    temp_dir d;
    auto fs = std::make_shared<fault_fs>();
    fs->track(d.path());
    auto f = take(fs->open(d.sub("x"), open_mode::create));
    fs->f().ops_until_crash = 1;
    EXPECT_TRUE(f->pwrite(0, text("a")));
    EXPECT_FALSE(f->pwrite(1, text("b")));
    EXPECT_TRUE(fs->f().crashed);
    EXPECT_FALSE(f->sync());
    EXPECT_FALSE(fs->rename(d.sub("x"), d.sub("y")));
    EXPECT_FALSE(fs->open(d.sub("z"), open_mode::create));
    EXPECT_TRUE(fs->exists(d.sub("x")));
    fs->power_cut();
    EXPECT_FALSE(fs->f().crashed);
    EXPECT_FALSE(fs->exists(d.sub("x")));  // its entry was never synced
}

TEST(FaultFs, InjectedFailures) {
    temp_dir d;
    auto fs = std::make_shared<fault_fs>();
    fs->f().fail_mkdirs = true;
    EXPECT_FALSE(fs->mkdir(d.sub("m")));
    fs->f().fail_mkdirs = false;
    fs->f().fail_creates = true;
    EXPECT_EQ(fs->open(d.sub("f"), open_mode::create).error().code, errc::disk_full);
    fs->f().fail_creates = false;
    auto f = take(fs->open(d.sub("f"), open_mode::create));
    fs->f().fail_renames = true;
    EXPECT_FALSE(fs->rename(d.sub("f"), d.sub("g")));
    fs->f().fail_renames = false;
    fs->f().fail_dir_syncs = true;
    EXPECT_FALSE(fs->sync_dir(d.path()));
    EXPECT_TRUE(f->sync());  // only directory syncs fail
    fs->f().fail_dir_syncs = false;
    fs->f().fail_opens = true;
    EXPECT_FALSE(fs->open(d.sub("f"), open_mode::read_write));
    fs->f().fail_opens = false;
    // Out of descriptors: f is open, so a limit of 2 allows one more.
    fs->f().max_open_files = 2;
    auto g = take(fs->open(d.sub("g"), open_mode::create));
    auto h = fs->open(d.sub("h"), open_mode::create);
    ASSERT_FALSE(h);
    EXPECT_NE(h.error().message.find("Too many open files"), std::string::npos);
    g.reset();
    EXPECT_TRUE(fs->open(d.sub("h"), open_mode::create));
}

}  // namespace
}  // namespace rill::storage::test
