// The transaction coordinator: routes each transactional id to the txn_shard (txn_shard.h) of
// its __transaction_state partition and hops to that partition's owner shard.
//
// Placement: transactional id T lives on partition abs(java_hash(T)) %
// transaction.state.log.num.partitions of `__transaction_state` (Kafka's rule, as for groups);
// FindCoordinator with key type 1 answers that partition's leader. The topic is created on
// first use (compacted, transaction.state.log.* settings). State is rebuilt from the
// partition when this broker becomes its leader (COORDINATOR_LOAD_IN_PROGRESS until done).
//
// The entry points take version-neutral arguments; the broker's handlers
// (handlers/transactions.cc) shape requests and responses per version.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/metadata_store.h"
#include "common/asio.h"
#include "common/config.h"
#include "coordinator/group_coordinator.h"
#include "txn/txn_shard.h"

namespace rill::txn {

inline constexpr const char* kTxnTopic = "__transaction_state";

// One transactional id as the admin views and tests see it.
struct txn_view {
    txn_metadata md;
    bool completing = false;  // markers or a state write in flight
};

struct txn_host {
    // Partitions, logs, appends and commit waits for __transaction_state (the group
    // coordinator's host shape, for this topic).
    coordinator::coordinator_host partitions;
    // Writes one transaction's markers to its partitions' leaders; any executor, resumes on
    // it. NONE once every marker is committed, else the first error.
    std::function<boost::asio::awaitable<error_code>(marker_request)> write_markers;
};

class txn_coordinator {
  public:
    txn_coordinator(txn_host host, broker_config& config, cluster::metadata_store& metadata);
    ~txn_coordinator();
    txn_coordinator(const txn_coordinator&) = delete;
    txn_coordinator& operator=(const txn_coordinator&) = delete;

    // Loads every hosted __transaction_state partition and starts the periodic timers.
    void start();
    void stop();

    // Creates __transaction_state when it does not exist yet. Any thread.
    error_code ensure_topic();
    // The __transaction_state partition of `id` (after ensure_topic()), -1 when unknown.
    int32_t partition_of(const std::string& id);

    // ---- protocol entry points: any executor; each resumes the caller on its executor.
    boost::asio::awaitable<init_result> init_producer_id(std::string id, int32_t timeout_ms,
                                                         int64_t req_id, int16_t req_epoch,
                                                         int64_t fresh_id);
    boost::asio::awaitable<error_code> add_partitions(std::string id, int64_t producer_id,
                                                      int16_t epoch,
                                                      std::vector<topic_partition> tps);
    boost::asio::awaitable<error_code> end_txn(std::string id, int64_t producer_id, int16_t epoch,
                                               bool commit);
    boost::asio::awaitable<error_code> check_member(std::string id, int64_t producer_id,
                                                    int16_t epoch, topic_partition tp);
    // Every transactional id this broker coordinates; COORDINATOR_LOAD_IN_PROGRESS when a
    // partition is still loading (its ids are missing then).
    struct listing {
        error_code error = error_code::none;
        std::vector<txn_view> txns;
    };
    boost::asio::awaitable<listing> list();
    // One transactional id: NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
    // TRANSACTIONAL_ID_NOT_FOUND, or NONE and its view.
    boost::asio::awaitable<std::pair<error_code, txn_view>> describe(std::string id);

    struct impl;

  private:
    std::unique_ptr<impl> impl_;
};

}  // namespace rill::txn
