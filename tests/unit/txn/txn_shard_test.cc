#include "txn/txn_shard.h"

#include <gtest/gtest.h>

#include "../coordinator/fake_shard_host.h"
#include "common/config.h"
#include "txn/txn_metadata.h"

namespace rill::txn {
namespace {

using coordinator::testing::fake_partition;
using coordinator::testing::fake_shard_host;

TEST(TxnMetadata, RecordsRoundTrip) {
    txn_metadata md;
    md.transactional_id = "tx-1";
    md.producer_id = 4000;
    md.producer_epoch = 7;
    md.timeout_ms = 30000;
    md.state = txn_state::ongoing;
    md.partitions = {{"a", 0}, {"a", 2}, {"b", 1}};
    md.start_ms = 100;
    md.update_ms = 200;
    auto key = encode_txn_key(md.transactional_id);
    EXPECT_EQ(decode_txn_key(key), std::optional<std::string>("tx-1"));
    auto back = decode_txn_value("tx-1", encode_txn_value(md));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, md);
    // Kafka's byte values.
    auto v = encode_txn_value(md);
    EXPECT_EQ(v[0], 0);
    EXPECT_EQ(v[1], 0);  // value version 0
    EXPECT_FALSE(decode_txn_value("x", protocol::bytes{0, 9}));
    EXPECT_FALSE(decode_txn_key(protocol::bytes{0, 1, 0}));
}

TEST(TxnMetadata, Transitions) {
    using S = txn_state;
    EXPECT_TRUE(valid_transition(S::empty, S::ongoing));
    EXPECT_TRUE(valid_transition(S::ongoing, S::prepare_commit));
    EXPECT_TRUE(valid_transition(S::prepare_commit, S::complete_commit));
    EXPECT_TRUE(valid_transition(S::complete_commit, S::ongoing));
    EXPECT_TRUE(valid_transition(S::prepare_epoch_fence, S::prepare_abort));
    EXPECT_FALSE(valid_transition(S::empty, S::prepare_commit));
    EXPECT_FALSE(valid_transition(S::prepare_commit, S::prepare_abort));
    EXPECT_FALSE(valid_transition(S::prepare_abort, S::complete_commit));
    EXPECT_FALSE(valid_transition(S::ongoing, S::empty));
    EXPECT_STREQ(state_name(S::prepare_epoch_fence), "PrepareEpochFence");
}

struct harness {
    std::shared_ptr<fake_partition> part = std::make_shared<fake_partition>();
    broker_config config = make_broker_config();
    std::vector<marker_request> markers;
    std::vector<std::function<void(error_code)>> marker_done;
    bool auto_markers = true;
    std::shared_ptr<txn_shard> ts;

    static broker_config make_broker_config() {
        auto c = broker_config::make(config_values{});
        EXPECT_TRUE(c.has_value());
        return std::move(*c);
    }
    harness() { make(); }
    void make() {
        ts = std::make_shared<txn_shard>(
            topic_partition{"__transaction_state", 0}, std::make_unique<fake_shard_host>(part),
            [this](marker_request mr, std::function<void(error_code)> done) {
                markers.push_back(mr);
                if (auto_markers)
                    done(error_code::none);
                else
                    marker_done.push_back(std::move(done));
            },
            config);
        EXPECT_EQ(ts->ready(), error_code::none);
    }
    init_result init(const std::string& id, int64_t fresh, int32_t timeout = 60000) {
        init_result out;
        out.error = error_code::unknown_server_error;
        ts->init_producer_id(id, timeout, -1, -1, fresh, [&](init_result r) { out = r; });
        return out;
    }
    error_code add(const std::string& id, const init_result& p, std::vector<topic_partition> tps) {
        error_code out = error_code::unknown_server_error;
        ts->add_partitions(id, p.producer_id, p.producer_epoch, std::move(tps),
                           [&](error_code e) { out = e; });
        return out;
    }
    error_code end(const std::string& id, const init_result& p, bool commit) {
        error_code out = error_code::unknown_server_error;
        ts->end_txn(id, p.producer_id, p.producer_epoch, commit, [&](error_code e) { out = e; });
        return out;
    }
};

TEST(TxnShard, CommitWritesMarkersAndCompletes) {
    harness h;
    auto p = h.init("t1", 100);
    ASSERT_EQ(p.error, error_code::none);
    EXPECT_EQ(p.producer_id, 100);
    EXPECT_EQ(p.producer_epoch, 0);
    EXPECT_EQ(h.add("t1", p, {{"a", 0}, {"b", 1}}), error_code::none);
    EXPECT_EQ(h.ts->transactions().at("t1").state, txn_state::ongoing);
    h.auto_markers = false;
    EXPECT_EQ(h.end("t1", p, true), error_code::none);
    EXPECT_EQ(h.ts->transactions().at("t1").state, txn_state::prepare_commit);
    ASSERT_EQ(h.markers.size(), 1u);
    EXPECT_TRUE(h.markers[0].commit);
    EXPECT_EQ(h.markers[0].partitions.size(), 2u);
    EXPECT_EQ(h.markers[0].producer_id, 100);
    // While the markers are written, the id is busy.
    EXPECT_EQ(h.add("t1", p, {{"a", 0}}), error_code::concurrent_transactions);
    h.marker_done[0](error_code::none);
    EXPECT_EQ(h.ts->transactions().at("t1").state, txn_state::complete_commit);
    EXPECT_TRUE(h.ts->transactions().at("t1").partitions.empty());
    // A retried EndTxn(commit) succeeds; an abort now is a state error.
    EXPECT_EQ(h.end("t1", p, true), error_code::none);
    EXPECT_EQ(h.end("t1", p, false), error_code::invalid_txn_state);
    // The next transaction.
    h.auto_markers = true;
    EXPECT_EQ(h.add("t1", p, {{"a", 0}}), error_code::none);
    EXPECT_EQ(h.end("t1", p, false), error_code::none);
    EXPECT_EQ(h.ts->transactions().at("t1").state, txn_state::complete_abort);
}

TEST(TxnShard, ErrorsAndFencing) {
    harness h;
    EXPECT_EQ(h.init("t1", 1, 900001).error, error_code::invalid_transaction_timeout);
    EXPECT_EQ(h.init("t1", 1, 0).error, error_code::invalid_transaction_timeout);
    auto p = h.init("t1", 1);
    init_result other{error_code::none, 2, 0};
    EXPECT_EQ(h.add("t1", other, {{"a", 0}}), error_code::invalid_producer_id_mapping);
    EXPECT_EQ(h.add("nope", p, {{"a", 0}}), error_code::invalid_producer_id_mapping);
    EXPECT_EQ(h.end("t1", p, true), error_code::invalid_txn_state);  // nothing open
    EXPECT_EQ(h.add("t1", p, {{"a", 0}}), error_code::none);
    // A second instance: the open transaction is aborted with the epoch bumped.
    auto again = h.init("t1", 50);
    EXPECT_EQ(again.error, error_code::concurrent_transactions);
    ASSERT_EQ(h.markers.size(), 1u);
    EXPECT_FALSE(h.markers[0].commit);
    EXPECT_EQ(h.markers[0].producer_epoch, 1);
    EXPECT_EQ(h.ts->transactions().at("t1").state, txn_state::complete_abort);
    auto p2 = h.init("t1", 51);
    ASSERT_EQ(p2.error, error_code::none);
    EXPECT_EQ(p2.producer_id, 1);
    EXPECT_EQ(p2.producer_epoch, 2);
    // The old producer is fenced everywhere.
    EXPECT_EQ(h.add("t1", p, {{"a", 0}}), error_code::producer_fenced);
    EXPECT_EQ(h.end("t1", p, true), error_code::producer_fenced);
    error_code e = error_code::none;
    h.ts->init_producer_id("t1", 1000, p.producer_id, p.producer_epoch, 9,
                           [&](init_result r) { e = r.error; });
    EXPECT_EQ(e, error_code::producer_fenced);
}

TEST(TxnShard, TimeoutAbortsWithBumpedEpoch) {
    harness h;
    auto p = h.init("t1", 1, 1000);
    EXPECT_EQ(h.add("t1", p, {{"a", 0}}), error_code::none);
    h.part->now += 500;
    h.ts->tick();
    EXPECT_EQ(h.ts->transactions().at("t1").state, txn_state::ongoing);
    h.part->now += 10000;  // past the timeout and the check interval
    h.ts->tick();
    EXPECT_EQ(h.ts->transactions().at("t1").state, txn_state::complete_abort);
    EXPECT_EQ(h.end("t1", p, true), error_code::producer_fenced);
}

TEST(TxnShard, IdleIdsExpire) {
    harness h;
    auto p = h.init("idle", 1);
    auto q = h.init("open", 2);
    EXPECT_EQ(h.add("open", q, {{"a", 0}}), error_code::none);
    h.part->now += 604800000LL + 3600000LL + 1;
    // "open" is used again: its expired transaction is aborted, which keeps it recent.
    q = h.init("open", 2);
    ASSERT_EQ(q.error, error_code::concurrent_transactions);
    h.ts->tick();
    EXPECT_EQ(h.ts->transactions().count("idle"), 0u);
    EXPECT_EQ(h.ts->transactions().count("open"), 1u);
    EXPECT_EQ(h.add("idle", p, {{"a", 0}}), error_code::invalid_producer_id_mapping);
    // The tombstone is in the log: a reload does not bring it back.
    h.part->epoch = 2;
    h.make();
    h.part->run_deferred();
    EXPECT_EQ(h.ts->transactions().count("idle"), 0u);
    EXPECT_EQ(h.ts->transactions().count("open"), 1u);
}

TEST(TxnShard, LoadingReplaysAndResumesPreparedTransactions) {
    harness h;
    auto p = h.init("t1", 1);
    auto q = h.init("t2", 2);
    EXPECT_EQ(h.add("t1", p, {{"a", 0}}), error_code::none);
    EXPECT_EQ(h.add("t2", q, {{"b", 0}}), error_code::none);
    h.auto_markers = false;
    EXPECT_EQ(h.end("t2", q, false), error_code::none);  // PrepareAbort written, markers pending
    // A new incarnation (restart / new leader) loads the log.
    h.markers.clear();
    h.auto_markers = true;
    h.part->epoch = 2;
    h.make();
    h.part->run_deferred();
    const auto& txns = h.ts->transactions();
    ASSERT_EQ(txns.size(), 2u);
    EXPECT_EQ(txns.at("t1").state, txn_state::ongoing);
    EXPECT_EQ(txns.at("t1").partitions.size(), 1u);
    // The prepared abort was completed: markers again, then CompleteAbort.
    ASSERT_EQ(h.markers.size(), 1u);
    EXPECT_FALSE(h.markers[0].commit);
    EXPECT_EQ(h.markers[0].coordinator_epoch, 2);
    EXPECT_EQ(txns.at("t2").state, txn_state::complete_abort);
    EXPECT_EQ(h.end("t1", p, true), error_code::none);
}

}  // namespace
}  // namespace rill::txn
