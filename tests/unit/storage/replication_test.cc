// Follower-side replication: append_replicated, truncate_to, truncate_fully_and_start_at,
// leader epochs (OffsetForLeaderEpoch) and the checkpointed high watermark.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <map>

#include "storage/cleaner.h"
#include "storage/format.h"
#include "storage/partition_log.h"
#include "storage/task_queue.h"
#include "test_util.h"

namespace rill::storage::test {
namespace {

log_config small_config() {
    log_config c;
    c.segment_bytes = 4096;
    c.index_interval_bytes = 256;
    c.retention_ms = -1;
    return c;
}

batch_opts idem(int64_t pid, int16_t epoch, int32_t seq) {
    return {pid, epoch, seq, 0};
}

// Leader-path append of a temporary batch.
result<append_result> produce(partition_log& log, std::vector<uint8_t> b, int32_t epoch) {
    return log.append(b, epoch, 1000);
}

std::vector<uint8_t> file_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// name -> contents of every segment file (.log, .index, .timeindex) in `dir`.
std::map<std::string, std::vector<uint8_t>> segment_files(const std::string& dir) {
    std::map<std::string, std::vector<uint8_t>> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        std::string n = e.path().filename().string();
        if (parse_offset_file_name(n, kLogSuffix) || parse_offset_file_name(n, kIndexSuffix) ||
            parse_offset_file_name(n, kTimeIndexSuffix))
            out[n] = file_bytes(e.path().string());
    }
    return out;
}

std::vector<std::string> log_files(const std::string& dir) {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        std::string n = e.path().filename().string();
        if (parse_offset_file_name(n, kLogSuffix)) out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
}

// The whole log from `from` to LEO, in memory.
std::vector<uint8_t> read_all(const partition_log& log, int64_t from = -1, size_t max = 1 << 24) {
    if (from < 0) from = log.log_start_offset();
    std::vector<uint8_t> out;
    while (from < log.log_end_offset()) {
        auto r = take(log.read(from, max, log.log_end_offset()));
        if (r.regions.empty()) break;
        auto b = region_bytes(r);
        out.insert(out.end(), b.begin(), b.end());
        from = r.last_offset + 1;
    }
    return out;
}

// Copies what the follower lacks from the leader the way a fetcher does: reads of at most
// `max_bytes` from the follower's LEO, appended verbatim.
void replicate(const partition_log& leader, partition_log& follower, size_t max_bytes,
               int64_t now = 1000) {
    while (follower.log_end_offset() < leader.log_end_offset()) {
        auto r = take(leader.read(follower.log_end_offset(), max_bytes, leader.log_end_offset()));
        ASSERT_FALSE(r.regions.empty());
        auto bytes = read_into_memory(r);
        ASSERT_TRUE(bytes);
        auto a = follower.append_replicated(*bytes, now);
        ASSERT_TRUE(a) << a.error().message;
        EXPECT_EQ(a->last_offset, r.last_offset);
        EXPECT_FALSE(a->duplicate);
    }
}

// A leader log with several segments, three leader epochs and two idempotent producers.
void fill_leader(partition_log& leader) {
    int32_t seq7 = 0, seq8 = 0;
    for (int i = 0; i < 60; ++i) {
        int32_t epoch = i < 15 ? 1 : i < 40 ? 3 : 4;
        int n = 1 + i % 4;
        batch_opts o;
        if (i % 3 == 0) {
            o = idem(7, 0, seq7);
            seq7 += n;
        } else if (i % 3 == 1) {
            o = idem(8, 2, seq8);
            seq8 += n;
        }
        must_append(leader, make_simple(n, 40 + static_cast<size_t>(i % 7) * 13, 5000 + i, o), 1000,
                    epoch);
    }
}

TEST(Replication, FollowerSegmentsAreByteIdentical) {
    for (size_t max_bytes : {size_t(700), size_t(1) << 24}) {
        temp_dir d;
        auto leader = open_log(d.sub("leader"), small_config());
        fill_leader(*leader);
        ASSERT_GT(leader->segment_count(), 3u);
        auto follower = open_log(d.sub("follower"), small_config());
        replicate(*leader, *follower, max_bytes);
        EXPECT_EQ(follower->log_end_offset(), leader->log_end_offset());
        EXPECT_EQ(follower->high_watermark(), 0);  // the caller sets it
        EXPECT_EQ(follower->segment_count(), leader->segment_count());
        EXPECT_EQ(segment_files(d.sub("follower")), segment_files(d.sub("leader")))
            << "max_bytes " << max_bytes;
        EXPECT_EQ(read_all(*follower), read_all(*leader));

        // Leader-epoch cache equal to the leader's.
        const auto& le = leader->leader_epochs().entries();
        const auto& fe = follower->leader_epochs().entries();
        ASSERT_EQ(le.size(), 3u);
        ASSERT_EQ(fe.size(), le.size());
        for (size_t i = 0; i < le.size(); ++i) {
            EXPECT_EQ(fe[i].epoch, le[i].epoch);
            EXPECT_EQ(fe[i].start_offset, le[i].start_offset);
        }
        // Producer state equal.
        for (int64_t pid : {7, 8}) {
            auto* a = leader->producers().find(pid);
            auto* b = follower->producers().find(pid);
            ASSERT_TRUE(a && b);
            EXPECT_EQ(a->epoch, b->epoch);
            ASSERT_EQ(a->batches.size(), b->batches.size());
            for (size_t i = 0; i < a->batches.size(); ++i) {
                EXPECT_EQ(a->batches[i].first_seq, b->batches[i].first_seq);
                EXPECT_EQ(a->batches[i].first_offset, b->batches[i].first_offset);
                EXPECT_EQ(a->batches[i].last_offset, b->batches[i].last_offset);
            }
        }
        // Offset and timestamp lookups work on the follower's indexes.
        auto hit = take(follower->offset_for_timestamp(5030));
        auto lhit = take(leader->offset_for_timestamp(5030));
        ASSERT_TRUE(hit && lhit);
        EXPECT_EQ(hit->offset, lhit->offset);

        // The follower's files survive a reopen (clean and not).
        int64_t leo = follower->log_end_offset();
        ASSERT_TRUE(follower->close());
        follower.reset();
        follower = open_log(d.sub("follower"), small_config());
        EXPECT_EQ(follower->log_end_offset(), leo);
        EXPECT_EQ(follower->leader_epochs().entries().size(), 3u);
    }
}

TEST(Replication, RejectsBadInputWithoutWriting) {
    temp_dir d;
    auto leader = open_log(d.sub("leader"), small_config());
    for (int i = 0; i < 4; ++i)
        must_append(*leader, make_simple(2, 20, 100 + i), 1000, 1);
    auto all = read_all(*leader);
    auto hs = headers_of(all);
    ASSERT_EQ(hs.size(), 4u);
    size_t first = hs[0].total_size(), second = hs[1].total_size();

    auto follower = open_log(d.sub("follower"), small_config());
    // Not starting at LEO.
    std::vector<uint8_t> from2(all.begin() + static_cast<long>(first), all.end());
    auto r = follower->append_replicated(from2, 1000);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::offset_out_of_range);
    // CRC mismatch in the second batch.
    auto bad = all;
    bad[first + second - 1] ^= 0xff;
    r = follower->append_replicated(bad, 1000);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::corrupt_batch);
    EXPECT_NE(r.error().message.find("CRC"), std::string::npos) << r.error().message;
    // A partial trailing batch.
    std::vector<uint8_t> partial(all.begin(), all.end() - 5);
    r = follower->append_replicated(partial, 1000);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::corrupt_batch);
    // A gap: batches 0 and 2.
    std::vector<uint8_t> gap(all.begin(), all.begin() + static_cast<long>(first));
    gap.insert(gap.end(), all.begin() + static_cast<long>(first + second),
               all.begin() + static_cast<long>(first + second + hs[2].total_size()));
    r = follower->append_replicated(gap, 1000);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, errc::corrupt_batch);
    // Wrong magic.
    auto magic = all;
    magic[protocol::kMagicOffset] = 1;
    EXPECT_EQ(follower->append_replicated(magic, 1000).error().code, errc::corrupt_batch);
    EXPECT_EQ(follower->append_replicated(std::span<const uint8_t>(), 1000).error().code,
              errc::invalid_argument);
    EXPECT_EQ(follower->log_end_offset(), 0);
    EXPECT_EQ(follower->size_bytes(), 0u);
    EXPECT_FALSE(follower->latest_epoch());
    // The good bytes then go in.
    auto ok = follower->append_replicated(all, 1000);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->base_offset, 0);
    EXPECT_EQ(ok->last_offset, 7);
    EXPECT_EQ(ok->log_append_time, -1);
    // Appending the same again: stale (starts below LEO).
    EXPECT_EQ(follower->append_replicated(all, 1000).error().code, errc::offset_out_of_range);
}

TEST(Replication, LogAppendTimeBatchesAreNotRestamped) {
    temp_dir d;
    log_config c = small_config();
    c.log_append_time = true;
    auto leader = open_log(d.sub("leader"), c);
    must_append(*leader, make_simple(3, 10, 5), 777, 2);
    auto follower = open_log(d.sub("follower"), c);
    auto all = read_all(*leader);
    ASSERT_TRUE(follower->append_replicated(all, 999999));
    EXPECT_EQ(read_all(*follower), all);
    EXPECT_EQ(headers_of(read_all(*follower))[0].max_timestamp, 777);
}

TEST(Replication, TruncateMidLogThenAppend) {
    temp_dir d;
    auto leader = open_log(d.sub("leader"), small_config());
    fill_leader(*leader);
    auto follower = open_log(d.sub("follower"), small_config());
    replicate(*leader, *follower, 1 << 20);
    follower->set_high_watermark(follower->log_end_offset());
    int64_t leo = follower->log_end_offset();

    // An offset inside a batch of the active segment: truncated to that batch's base.
    auto tail = headers_of(read_all(*follower, leo - 1));
    ASSERT_EQ(tail.size(), 1u);
    ASSERT_GT(tail[0].record_count, 1);
    int64_t base = tail[0].base_offset;
    size_t segs = follower->segment_count();
    ASSERT_TRUE(follower->truncate_to(base + 1));
    EXPECT_EQ(follower->log_end_offset(), base);
    EXPECT_EQ(follower->high_watermark(), base);
    EXPECT_LE(follower->recovery_point(), base);
    EXPECT_EQ(follower->segment_count(), segs);
    auto whole = read_all(*leader);
    whole.resize(whole.size() - tail[0].total_size());
    EXPECT_EQ(read_all(*follower), whole);
    // No-op when at or beyond LEO.
    ASSERT_TRUE(follower->truncate_to(base));
    ASSERT_TRUE(follower->truncate_to(base + 100));
    EXPECT_EQ(follower->log_end_offset(), base);

    // Mid-log, inside a batch of an earlier (sealed) segment, with epochs above the cut.
    auto e3 = follower->leader_epochs().entries()[1];
    ASSERT_EQ(e3.epoch, 3);
    int64_t cut_req = e3.start_offset + 5;
    auto hit = headers_of(read_all(*follower, cut_req))[0];
    ASSERT_TRUE(follower->truncate_to(cut_req));
    EXPECT_EQ(follower->log_end_offset(), hit.base_offset);
    EXPECT_EQ(follower->high_watermark(), hit.base_offset);
    EXPECT_LT(follower->segment_count(), segs);
    ASSERT_EQ(follower->leader_epochs().entries().size(), 2u);  // epoch 4 gone
    EXPECT_EQ(*follower->latest_epoch(), 3);
    EXPECT_EQ(follower->offset_for_leader_epoch(3).end_offset, hit.base_offset);
    auto expect = read_all(*leader);
    size_t keep = 0;
    for (const auto& h : headers_of(expect)) {
        if (h.base_offset >= hit.base_offset) break;
        keep += h.total_size();
    }
    expect.resize(keep);
    EXPECT_EQ(read_all(*follower), expect);
    EXPECT_EQ(follower->read(hit.base_offset + 1, 100, 1 << 30).error().code,
              errc::offset_out_of_range);

    // A new leader (epoch 5) diverged from here: its batches go in after the cut.
    for (int i = 0; i < 30; ++i) {
        auto b = make_simple(2, 90, 9000 + i);
        protocol::batch_header h = *protocol::parse_batch_header(b);
        h.base_offset = follower->log_end_offset();
        h.partition_leader_epoch = 5;
        protocol::write_batch_header(h, b);  // base offset and epoch are outside the CRC
        auto r = follower->append_replicated(b, 2000);
        ASSERT_TRUE(r) << r.error().message;
    }
    ASSERT_EQ(follower->leader_epochs().entries().size(), 3u);
    EXPECT_EQ(follower->leader_epochs().entries()[2].epoch, 5);
    EXPECT_EQ(follower->leader_epochs().entries()[2].start_offset, hit.base_offset);
    auto after = headers_of(read_all(*follower, hit.base_offset));
    ASSERT_EQ(after.size(), 30u);
    EXPECT_EQ(after[0].base_offset, hit.base_offset);
    EXPECT_EQ(after.back().max_timestamp, 9029);
    auto ts = take(follower->offset_for_timestamp(9010));
    ASSERT_TRUE(ts);
    EXPECT_EQ(ts->offset, hit.base_offset + 20);

    // Everything survives an unclean reopen (no close).
    int64_t final_leo = follower->log_end_offset();
    auto bytes = read_all(*follower);
    follower.reset();
    follower = open_log(d.sub("follower"), small_config());
    EXPECT_EQ(follower->log_end_offset(), final_leo);
    EXPECT_EQ(read_all(*follower), bytes);
    ASSERT_EQ(follower->leader_epochs().entries().size(), 3u);
}

TEST(Replication, TruncateAcrossSegmentBoundaryDeletesLaterSegments) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), small_config());
    fill_leader(*log);
    auto files = log_files(d.sub("t-0"));
    ASSERT_GT(files.size(), 3u);
    int64_t second_base = *parse_offset_file_name(files[1], kLogSuffix);
    int64_t third_base = *parse_offset_file_name(files[2], kLogSuffix);
    // Exactly at a segment's base offset: that segment stays, empty, and becomes active.
    ASSERT_TRUE(log->truncate_to(third_base));
    EXPECT_EQ(log->log_end_offset(), third_base);
    EXPECT_EQ(log->segment_count(), 3u);
    EXPECT_TRUE(log->segments().active()->empty());
    EXPECT_EQ(log_files(d.sub("t-0")).size(), 3u);
    // Inside the second segment.
    ASSERT_TRUE(log->truncate_to(second_base + 1));
    EXPECT_EQ(log->segment_count(), 2u);
    EXPECT_EQ(log_files(d.sub("t-0")), std::vector<std::string>(files.begin(), files.begin() + 2));
    int64_t leo = log->log_end_offset();
    EXPECT_GE(leo, second_base);
    EXPECT_LE(leo, second_base + 1);
    // Appending works and rolls again.
    for (int i = 0; i < 40; ++i)
        must_append(*log, make_simple(2, 60, 7000 + i), 1000, 9);
    EXPECT_GT(log->segment_count(), 2u);
    EXPECT_EQ(log->leader_epochs().entries().back().epoch, 9);
    EXPECT_EQ(log->leader_epochs().entries().back().start_offset, leo);
    for (const auto& n : std::filesystem::directory_iterator(d.sub("t-0"))) {
        EXPECT_EQ(n.path().string().find(kDeletedSuffix), std::string::npos) << n.path();
    }
}

TEST(Replication, ReopenAfterTruncateDoesNotResurrect) {
    for (bool clean_close : {false, true}) {
        temp_dir d;
        auto log = open_log(d.sub("t-0"), small_config());
        fill_leader(*log);
        ASSERT_TRUE(log->flush());
        log->set_high_watermark(log->log_end_offset());
        log->checkpoint();  // checkpoint with recovery point / HWM at the old LEO
        int64_t old_leo = log->log_end_offset();
        int64_t cut = old_leo / 3;
        ASSERT_TRUE(log->truncate_to(cut));
        int64_t leo = log->log_end_offset();
        ASSERT_LE(leo, cut);
        auto bytes = read_all(*log);
        if (clean_close) {
            ASSERT_TRUE(log->close());
        }
        log.reset();  // else: a crash right after truncate_to returned
        log = open_log(d.sub("t-0"), small_config());
        EXPECT_EQ(log->opened().clean, clean_close);
        EXPECT_EQ(log->log_end_offset(), leo);
        EXPECT_EQ(read_all(*log), bytes);
        EXPECT_LE(log->high_watermark(), leo);
        EXPECT_LE(log->checkpointed_high_watermark(), leo);
        EXPECT_EQ(log->opened().truncated_bytes, 0u);

        // Overwrite the truncated range with new data, crash, reopen: the new data, not the old.
        for (int i = 0; i < 20; ++i)
            must_append(*log, make_simple(1, 300, 1), 1000, 9);
        ASSERT_TRUE(log->flush());
        auto fresh = read_all(*log);
        int64_t fresh_leo = log->log_end_offset();
        log.reset();
        log = open_log(d.sub("t-0"), small_config());
        EXPECT_EQ(log->log_end_offset(), fresh_leo);
        EXPECT_EQ(read_all(*log), fresh);
    }
}

TEST(Replication, TruncateFullyAndStartAt) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), small_config());
    fill_leader(*log);
    log->set_high_watermark(log->log_end_offset());
    ASSERT_TRUE(log->truncate_fully_and_start_at(5000));
    EXPECT_EQ(log->log_start_offset(), 5000);
    EXPECT_EQ(log->log_end_offset(), 5000);
    EXPECT_EQ(log->high_watermark(), 5000);
    EXPECT_EQ(log->recovery_point(), 5000);
    EXPECT_EQ(log->segment_count(), 1u);
    EXPECT_EQ(log->segments().front()->base_offset(), 5000);
    EXPECT_FALSE(log->latest_epoch());
    EXPECT_EQ(log->producers().size(), 0u);
    EXPECT_EQ(log_files(d.sub("t-0")), std::vector<std::string>{offset_file_stem(5000) + ".log"});
    EXPECT_TRUE(take(list_snapshots(*posix_file_system(), d.sub("t-0"))).empty());
    EXPECT_TRUE(take(log->read(5000, 100, 6000)).regions.empty());
    EXPECT_EQ(log->read(4999, 100, 6000).error().code, errc::offset_out_of_range);

    // Replicated batches continue at 5000.
    auto b = make_simple(3, 10, 1, idem(7, 4, 10));
    protocol::batch_header h = *protocol::parse_batch_header(b);
    h.base_offset = 5000;
    h.partition_leader_epoch = 12;
    protocol::write_batch_header(h, b);
    ASSERT_TRUE(log->append_replicated(b, 1000));
    EXPECT_EQ(log->log_end_offset(), 5003);
    EXPECT_EQ(log->offset_for_leader_epoch(12).end_offset, 5003);
    EXPECT_EQ(log->offset_for_leader_epoch(12).leader_epoch, 12);
    ASSERT_TRUE(log->producers().find(7));

    // Survives a crash and a reopen.
    log.reset();
    log = open_log(d.sub("t-0"), small_config());
    EXPECT_EQ(log->log_start_offset(), 5000);
    EXPECT_EQ(log->log_end_offset(), 5003);
    ASSERT_TRUE(log->producers().find(7));

    // Also below the current log start (a follower far behind the leader's log start), and
    // truncate_to below the first segment takes this path.
    ASSERT_TRUE(log->truncate_to(100));
    EXPECT_EQ(log->log_start_offset(), 100);
    EXPECT_EQ(log->log_end_offset(), 100);
    EXPECT_EQ(log->segments().front()->base_offset(), 100);
    ASSERT_TRUE(log->close());
    log = open_log(d.sub("t-0"), small_config());
    EXPECT_EQ(log->log_start_offset(), 100);
    EXPECT_EQ(log->log_end_offset(), 100);
    EXPECT_EQ(log->high_watermark(), 100);

    EXPECT_EQ(log->truncate_fully_and_start_at(-1).error().code, errc::invalid_argument);
    EXPECT_EQ(log->truncate_to(-1).error().code, errc::invalid_argument);
}

// A follower promoted to leader enforces idempotence with the state it replicated.
TEST(Replication, PromotedFollowerKeepsIdempotence) {
    temp_dir d;
    auto leader = open_log(d.sub("leader"), small_config());
    std::vector<append_result> acks;
    for (int32_t s = 0; s < 12; ++s) {
        acks.push_back(must_append(*leader, make_simple(1, 200, s, idem(42, 3, s)), 1000, 1));
        must_append(*leader, make_simple(2, 50, s), 1000, 1);  // non-idempotent filler
    }
    ASSERT_GT(leader->segment_count(), 1u);
    auto follower = open_log(d.sub("follower"), small_config());
    replicate(*leader, *follower, 900);

    // Promoted: a retry of one of the last 5 batches is a duplicate with the original offsets.
    auto dup = produce(*follower, make_simple(1, 200, 11, idem(42, 3, 11)), 2);
    ASSERT_TRUE(dup);
    EXPECT_TRUE(dup->duplicate);
    EXPECT_EQ(dup->base_offset, acks[11].base_offset);
    dup = produce(*follower, make_simple(1, 200, 8, idem(42, 3, 8)), 2);
    ASSERT_TRUE(dup);
    EXPECT_TRUE(dup->duplicate);
    EXPECT_EQ(dup->base_offset, acks[8].base_offset);
    // A gap, a stale epoch.
    EXPECT_EQ(produce(*follower, make_simple(1, 200, 0, idem(42, 3, 13)), 2).error().code,
              errc::out_of_order_sequence);
    EXPECT_EQ(produce(*follower, make_simple(1, 200, 0, idem(42, 2, 12)), 2).error().code,
              errc::invalid_producer_epoch);
    // Truncate away the last two idempotent batches (seq 10 and 11) on a copy: the producer's
    // retry of seq 10 is then new, not a duplicate; seq 9 still is.
    auto follower2 = open_log(d.sub("follower2"), small_config());
    replicate(*leader, *follower2, 1 << 20);
    ASSERT_TRUE(follower2->truncate_to(acks[10].base_offset));
    auto* p = follower2->producers().find(42);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->batches.back().last_seq, 9);
    EXPECT_EQ(p->batches.size(), 5u);
    dup = produce(*follower2, make_simple(1, 200, 9, idem(42, 3, 9)), 2);
    ASSERT_TRUE(dup);
    EXPECT_TRUE(dup->duplicate);
    EXPECT_EQ(dup->base_offset, acks[9].base_offset);
    EXPECT_EQ(produce(*follower2, make_simple(1, 200, 0, idem(42, 3, 11)), 2).error().code,
              errc::out_of_order_sequence);
    auto again = produce(*follower2, make_simple(1, 200, 10, idem(42, 3, 10)), 2);
    ASSERT_TRUE(again);
    EXPECT_FALSE(again->duplicate);
    EXPECT_EQ(again->base_offset, acks[10].base_offset);
    // And the same after a reopen (state from snapshot + log).
    follower2.reset();
    follower2 = open_log(d.sub("follower2"), small_config());
    auto d2 = produce(*follower2, make_simple(1, 200, 10, idem(42, 3, 10)), 2);
    ASSERT_TRUE(d2);
    EXPECT_TRUE(d2->duplicate);
    EXPECT_TRUE(produce(*follower2, make_simple(1, 200, 11, idem(42, 3, 11)), 2));

    // Producer state after truncation equals the state rebuilt from scratch at that point.
    auto follower3 = open_log(d.sub("follower3"), small_config());
    replicate(*leader, *follower3, 1 << 20);
    ASSERT_TRUE(follower3->truncate_to(acks[3].base_offset + 1));
    p = follower3->producers().find(42);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->batches.front().first_seq, 0);
    EXPECT_EQ(p->batches.back().last_seq, 3);
}

TEST(Replication, TruncationVoidsARunningCompaction) {
    temp_dir d;
    log_config c = small_config();
    c.cleanup_compact = true;
    c.min_cleanable_dirty_ratio = 0;
    auto log = open_log(d.sub("t-0"), c);
    for (int i = 0; i < 150; ++i)
        must_append(*log, make_batch({{std::string("k") + std::to_string(i % 3), "v", i}}), 1000,
                    1);
    log->set_high_watermark(log->log_end_offset());
    auto job = log->prepare_compaction(1000000);
    ASSERT_TRUE(job);
    ASSERT_TRUE(job->run());
    ASSERT_TRUE(log->truncate_to(10));
    ASSERT_TRUE(log->install_compaction(*job));
    EXPECT_EQ(log->log_end_offset(), 10);
    EXPECT_EQ(headers_of(read_all(*log)).size(), 10u);
    for (const auto& n : std::filesystem::directory_iterator(d.sub("t-0"))) {
        EXPECT_EQ(n.path().string().find(kCleanedSuffix), std::string::npos) << n.path();
    }
    log.reset();
    log = open_log(d.sub("t-0"), c);
    EXPECT_EQ(log->log_end_offset(), 10);
}

TEST(Replication, TruncationIsSyncedAndFailuresTakeTheLogOffline) {
    temp_dir d;
    auto fs = std::make_shared<fault_fs>();
    auto log = open_log(d.sub("t-0"), small_config(), fs);
    fill_leader(*log);
    int before = fs->f().syncs.load();
    ASSERT_TRUE(log->truncate_to(100));
    EXPECT_GT(fs->f().syncs.load(), before);
    EXPECT_EQ(log->recovery_point(), log->log_end_offset());
    fs->f().fail_syncs = true;
    auto s = log->truncate_to(50);
    ASSERT_FALSE(s);
    EXPECT_TRUE(log->offline());
    EXPECT_EQ(log->truncate_to(10).error().code, errc::log_offline);
    auto b = read_all(*log);
    EXPECT_EQ(log->append_replicated(b, 1000).error().code, errc::log_offline);
}

// With the flusher and background runner of a log_manager: checkpoints and snapshots queued
// before a truncation cannot overwrite it; flush waiters still complete.
TEST(Replication, WithFlusherAndBackgroundRunner) {
    temp_dir d;
    flusher fl(1);
    auto bg = std::make_unique<task_queue>();
    auto make_opts = [&](const std::string& dir) {
        auto o = opts_for(dir, small_config());
        o.flush = &fl;
        task_queue* q = bg.get();
        o.background = [q](std::function<void()> t) { q->post(std::move(t)); };
        return o;
    };
    auto leader = take(partition_log::open(make_opts(d.sub("leader")), 1000));
    fill_leader(*leader);
    auto follower = take(partition_log::open(make_opts(d.sub("follower")), 1000));
    for (int round = 0; round < 5; ++round) {
        replicate(*leader, *follower, 500);
        follower->set_high_watermark(follower->log_end_offset());
        follower->checkpoint();
        std::promise<status> p;
        follower->flush_up_to(follower->log_end_offset(), [&](const status& s) { p.set_value(s); });
        ASSERT_TRUE(p.get_future().get());
        ASSERT_TRUE(follower->truncate_to(follower->log_end_offset() / 2 + round));
        EXPECT_LE(follower->recovery_point(), follower->log_end_offset());
    }
    replicate(*leader, *follower, 1 << 20);
    EXPECT_EQ(read_all(*follower), read_all(*leader));
    ASSERT_TRUE(follower->truncate_to(77));
    int64_t leo = follower->log_end_offset();
    bg->drain();
    follower.reset();  // crash
    follower = take(partition_log::open(make_opts(d.sub("follower")), 1000));
    EXPECT_EQ(follower->log_end_offset(), leo);
    replicate(*leader, *follower, 1 << 20);
    EXPECT_EQ(read_all(*follower), read_all(*leader));
    ASSERT_TRUE(follower->close());
    ASSERT_TRUE(leader->close());
    bg.reset();
}

TEST(LeaderEpochs, LeaderAppendRecordsEpochStarts) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), small_config());
    EXPECT_TRUE(log->offset_for_leader_epoch(0).undefined());
    EXPECT_FALSE(log->end_offset_for_epoch(0));
    must_append(*log, make_simple(3, 10, 1), 1000, 1);  // 0..2
    must_append(*log, make_simple(2, 10, 1), 1000, 1);  // 3..4
    must_append(*log, make_simple(4, 10, 1), 1000, 3);  // 5..8
    must_append(*log, make_simple(1, 10, 1), 1000, 2);  // 9: an older epoch is not recorded
    must_append(*log, make_simple(1, 10, 1), 1000, 6);  // 10
    must_append(*log, make_simple(2, 10, 1), 1000, 6);  // 11..12
    const auto& e = log->leader_epochs().entries();
    ASSERT_EQ(e.size(), 3u);
    EXPECT_EQ(e[0].epoch, 1);
    EXPECT_EQ(e[0].start_offset, 0);
    EXPECT_EQ(e[1].epoch, 3);
    EXPECT_EQ(e[1].start_offset, 5);
    EXPECT_EQ(e[2].epoch, 6);
    EXPECT_EQ(e[2].start_offset, 10);

    auto q = [&](int32_t ep) {
        auto r = log->offset_for_leader_epoch(ep);
        return std::make_pair(r.leader_epoch, r.end_offset);
    };
    using P = std::pair<int32_t, int64_t>;
    EXPECT_EQ(q(-1), P(-1, -1));
    EXPECT_EQ(q(0), P(0, 0));  // below every known epoch: the first epoch's start (Kafka)
    EXPECT_EQ(q(1), P(1, 5));
    EXPECT_EQ(q(2), P(1, 5));
    EXPECT_EQ(q(3), P(3, 10));
    EXPECT_EQ(q(5), P(3, 10));
    EXPECT_EQ(q(6), P(6, 13));   // the latest: LEO
    EXPECT_EQ(q(7), P(-1, -1));  // above the latest: undefined
    // The older API, for comparison (documented corner cases).
    EXPECT_FALSE(log->end_offset_for_epoch(0));
    EXPECT_EQ(*log->end_offset_for_epoch(2), P(1, 5));
    EXPECT_EQ(*log->end_offset_for_epoch(7), P(6, 13));

    // Becoming leader at epoch 8 before any append in it.
    EXPECT_FALSE(log->assign_epoch_start(6));
    EXPECT_TRUE(log->assign_epoch_start(8));
    EXPECT_EQ(q(6), P(6, 13));
    EXPECT_EQ(q(7), P(6, 13));
    EXPECT_EQ(q(8), P(8, 13));
    must_append(*log, make_simple(2, 10, 1), 1000, 8);
    EXPECT_EQ(e.back().start_offset, 13);
    EXPECT_EQ(q(8), P(8, 15));

    // Persisted and truncated with the log.
    log.reset();
    log = open_log(d.sub("t-0"), small_config());
    ASSERT_EQ(log->leader_epochs().entries().size(), 4u);
    ASSERT_TRUE(log->truncate_to(6));
    EXPECT_EQ(log->log_end_offset(), 5);  // offset 6 is inside the batch 5..8
    ASSERT_EQ(log->leader_epochs().entries().size(), 1u);
    EXPECT_EQ(q(1), P(1, 5));
    EXPECT_EQ(q(3), P(-1, -1));  // above the latest known epoch now
}

// The leader-epoch checkpoint is written in the background: after a crash that lost it, the
// epochs of the re-validated segments are learnt from the batches again.
TEST(LeaderEpochs, RecoveredFromTheLogAfterACrash) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), small_config());
    fill_leader(*log);
    auto want = log->leader_epochs().entries();
    ASSERT_EQ(want.size(), 3u);
    log.reset();  // crash
    ASSERT_TRUE(std::filesystem::remove(d.sub("t-0") + "/" + kLeaderEpochCheckpoint));
    log = open_log(d.sub("t-0"), small_config());
    auto got = log->leader_epochs().entries();
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        EXPECT_EQ(got[i].epoch, want[i].epoch);
        EXPECT_EQ(got[i].start_offset, want[i].start_offset);
    }
    // And it was written back: a second crash does not need the segments to be re-validated.
    log.reset();
    log = open_log(d.sub("t-0"), small_config());
    EXPECT_EQ(log->leader_epochs().entries().size(), want.size());
}

TEST(HighWatermark, CheckpointedHighWatermark) {
    temp_dir d;
    auto log = open_log(d.sub("t-0"), small_config());
    EXPECT_EQ(log->checkpointed_high_watermark(), 0);
    for (int i = 0; i < 10; ++i)
        must_append(*log, make_simple(2, 10, 1), 1000, 1);
    log->set_high_watermark(12);
    log->checkpoint();
    log.reset();  // crash
    log = open_log(d.sub("t-0"), small_config());
    EXPECT_EQ(log->checkpointed_high_watermark(), 12);
    EXPECT_EQ(log->high_watermark(), 12);
    log->set_high_watermark(20);
    ASSERT_TRUE(log->close());
    log = open_log(d.sub("t-0"), small_config());
    EXPECT_EQ(log->checkpointed_high_watermark(), 20);
    // Truncation below it clamps it.
    ASSERT_TRUE(log->truncate_to(6));
    EXPECT_EQ(log->checkpointed_high_watermark(), 6);
    EXPECT_EQ(log->high_watermark(), 6);
    log.reset();
    log = open_log(d.sub("t-0"), small_config());
    EXPECT_EQ(log->checkpointed_high_watermark(), 6);
}

}  // namespace
}  // namespace rill::storage::test
