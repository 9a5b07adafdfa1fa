// One transaction coordinator shard: the transactional ids of one __transaction_state
// partition, on the partition's owner shard (the pattern of coordinator::coordinator_shard).
//
//   - loading: the replay of the partition's TransactionLog records (last value per key wins,
//     tombstones delete) when this broker becomes the partition's leader; transactions found
//     in PrepareCommit/PrepareAbort get their markers written and complete;
//   - writing: every change is one record appended to the partition; the new state is applied
//     (and the request answered) only once the record is committed (host's when_committed);
//   - the transaction protocol: InitProducerId with a transactional id, AddPartitionsToTxn,
//     AddOffsetsToTxn (its __consumer_offsets partition is added like any other) and EndTxn.
//     EndTxn writes PrepareCommit/PrepareAbort, answers, then has the host write the
//     COMMIT/ABORT markers to every partition of the transaction and writes
//     CompleteCommit/CompleteAbort. Until then requests for that id get
//     CONCURRENT_TRANSACTIONS (retriable).
//   - tick(): transactions open longer than their timeout are aborted with the epoch bumped
//     (the producer is fenced, as Kafka does) every
//     transaction.abort.timed.out.transaction.cleanup.interval.ms; ids idle (Empty or
//     Complete*) for transactional.id.expiration.ms are removed (a tombstone) every
//     transaction.remove.expired.transaction.cleanup.interval.ms; marker writes that failed
//     are retried.
//
// Errors are the protocol-neutral ones; handlers map PRODUCER_FENCED to INVALID_PRODUCER_EPOCH
// for request versions that predate it.
//
// Threading: single-threaded, on the partition's owner shard, like every host callback.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "coordinator/coordinator_shard.h"
#include "protocol/generated/error_code.h"
#include "txn/txn_metadata.h"

namespace spdlog {
class logger;
}

namespace rill::txn {

using protocol::error_code;

// The markers of one transaction's end, for the partition leaders.
struct marker_request {
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    bool commit = false;
    int32_t coordinator_epoch = 0;
    std::vector<topic_partition> partitions;
};
// Writes the markers (each partition's control batch committed, or the first error); `done`
// runs on the calling shard.
using marker_writer = std::function<void(marker_request, std::function<void(error_code)> done)>;

struct init_result {
    error_code error = error_code::none;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
};

class txn_shard : public std::enable_shared_from_this<txn_shard> {
  public:
    enum class status { unloaded, loading, loaded };

    txn_shard(topic_partition tp, std::unique_ptr<coordinator::shard_host> host,
              marker_writer markers, const broker_config& config);
    ~txn_shard();
    txn_shard(const txn_shard&) = delete;
    txn_shard& operator=(const txn_shard&) = delete;

    const topic_partition& tp() const { return tp_; }
    status load_status() const { return status_; }
    // NONE when usable now; NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS otherwise.
    error_code ready();
    void unload(const char* why);

    // InitProducerId with a transactional id. `fresh_id` is an unused producer id, taken for
    // a new transactional id or when the epoch is exhausted. req_id/req_epoch: -1 or the
    // producer's current pair (KIP-360). Errors: INVALID_TRANSACTION_TIMEOUT,
    // CONCURRENT_TRANSACTIONS (also while an open transaction is being aborted to fence the
    // previous producer: retry), PRODUCER_FENCED, coordinator errors.
    void init_producer_id(const std::string& id, int32_t timeout_ms, int64_t req_id,
                          int16_t req_epoch, int64_t fresh_id, std::function<void(init_result)> cb);
    // Errors: INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED, CONCURRENT_TRANSACTIONS,
    // INVALID_TXN_STATE, coordinator errors.
    void add_partitions(const std::string& id, int64_t producer_id, int16_t epoch,
                        std::vector<topic_partition> tps, std::function<void(error_code)> cb);
    // As add_partitions; NONE for a retry of the EndTxn that completed the transaction.
    void end_txn(const std::string& id, int64_t producer_id, int16_t epoch, bool commit,
                 std::function<void(error_code)> cb);
    // NONE when `producer_id`/`epoch` is the id's current producer in an open transaction
    // holding `tp` (TxnOffsetCommit checks its offsets partition was added).
    error_code check_member(const std::string& id, int64_t producer_id, int16_t epoch,
                            const topic_partition& tp) const;

    void tick();

    const std::map<std::string, txn_metadata>& transactions() const { return txns_; }
    bool busy(const std::string& id) const { return busy_.count(id) > 0; }

  private:
    void load_step();
    void on_chunk(result<coordinator::log_chunk, std::string> chunk);
    void finish_load();
    void abort_load(const std::string& why);
    // Writes `next` and applies it once committed; `done` gets NONE or the client's error.
    void write(txn_metadata next, std::function<void(error_code)> done);
    // Writes the tombstone of an idle id and forgets it once committed.
    void expire(const std::string& id);
    // From Prepare*: markers, then Complete*. The id stays busy until it is complete.
    void complete(const std::string& id);
    // Ongoing -> PrepareAbort with the epoch bumped (fencing), then complete().
    void fence_and_abort(const std::string& id, std::function<void(error_code)> done);
    int64_t cfg(std::string_view key) const;

    topic_partition tp_;
    std::unique_ptr<coordinator::shard_host> host_;
    marker_writer markers_;
    const broker_config& config_;
    std::shared_ptr<spdlog::logger> log_;

    status status_ = status::unloaded;
    int32_t leader_epoch_ = -1;
    uint64_t incarnation_ = 0;
    int64_t load_next_ = 0;
    int64_t last_timeout_check_ = 0;
    int64_t last_expiry_check_ = 0;
    std::map<std::string, std::optional<txn_metadata>> staged_;

    std::map<std::string, txn_metadata> txns_;
    std::set<std::string> busy_;           // a write or the markers are in flight
    std::set<std::string> retry_markers_;  // markers failed: tick() tries again
};

}  // namespace rill::txn
