// The transaction coordinator's state of one transactional id (Kafka's TransactionMetadata)
// and its records on `__transaction_state`, in Kafka's own schemas so Kafka tooling can read
// the topic: key = int16 version 0 + TransactionLogKey {transactional_id}; value = int16
// version + TransactionLogValue (version 0 written; 0 and 1 read); a null value is a tombstone.
//
// States and the transitions allowed into each (Kafka's TransactionState):
//   Empty             <- Empty, CompleteCommit, CompleteAbort
//   Ongoing           <- Ongoing, Empty, CompleteCommit, CompleteAbort
//   PrepareCommit     <- Ongoing
//   PrepareAbort      <- Ongoing, PrepareEpochFence
//   CompleteCommit    <- PrepareCommit
//   CompleteAbort     <- PrepareAbort
//   Dead              <- Empty, CompleteCommit, CompleteAbort
//   PrepareEpochFence <- Ongoing
// The byte values in the records are Kafka's (Empty 0 ... Dead 6, PrepareEpochFence 7).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "protocol/wire.h"
#include "storage/log_manager.h"

namespace rill::txn {

using topic_partition = storage::topic_partition;

enum class txn_state : int8_t {
    empty = 0,
    ongoing = 1,
    prepare_commit = 2,
    prepare_abort = 3,
    complete_commit = 4,
    complete_abort = 5,
    dead = 6,
    prepare_epoch_fence = 7,
};

// Kafka's names ("Empty", "Ongoing", "PrepareCommit", ...).
const char* state_name(txn_state s);
// nullopt for a byte that is no state.
std::optional<txn_state> state_from_byte(int8_t b);
bool valid_transition(txn_state from, txn_state to);

struct txn_metadata {
    std::string transactional_id;
    int64_t producer_id = -1;
    int16_t producer_epoch = -1;
    int64_t last_producer_id = -1;  // the id before an epoch exhaustion gave a new one
    int32_t timeout_ms = 60000;
    txn_state state = txn_state::empty;
    std::set<topic_partition> partitions;
    int64_t start_ms = -1;   // first AddPartitions/AddOffsets of the open transaction
    int64_t update_ms = -1;  // last change

    friend bool operator==(const txn_metadata&, const txn_metadata&) = default;
};

protocol::bytes encode_txn_key(const std::string& transactional_id);
protocol::bytes encode_txn_value(const txn_metadata& md);
// nullopt when not a TransactionLogKey (version 0).
std::optional<std::string> decode_txn_key(protocol::bytes_view b);
// nullopt when not a valid value of version 0 or 1 or of an unknown state.
std::optional<txn_metadata> decode_txn_value(const std::string& transactional_id,
                                             protocol::bytes_view b);

}  // namespace rill::txn
