#include "txn/txn_metadata.h"

#include <map>

#include "protocol/generated/transaction_log_key.h"
#include "protocol/generated/transaction_log_value.h"

namespace rill::txn {

namespace m = protocol::messages;

const char* state_name(txn_state s) {
    switch (s) {
        case txn_state::empty:
            return "Empty";
        case txn_state::ongoing:
            return "Ongoing";
        case txn_state::prepare_commit:
            return "PrepareCommit";
        case txn_state::prepare_abort:
            return "PrepareAbort";
        case txn_state::complete_commit:
            return "CompleteCommit";
        case txn_state::complete_abort:
            return "CompleteAbort";
        case txn_state::dead:
            return "Dead";
        case txn_state::prepare_epoch_fence:
            return "PrepareEpochFence";
    }
    return "Unknown";
}

std::optional<txn_state> state_from_byte(int8_t b) {
    if (b < 0 || b > 7) return std::nullopt;
    return static_cast<txn_state>(b);
}

bool valid_transition(txn_state from, txn_state to) {
    using S = txn_state;
    auto completed = [&] {
        return from == S::empty || from == S::complete_commit || from == S::complete_abort;
    };
    switch (to) {
        case S::empty:
        case S::dead:
            return completed();
        case S::ongoing:
            return from == S::ongoing || completed();
        case S::prepare_commit:
        case S::prepare_epoch_fence:
            return from == S::ongoing;
        case S::prepare_abort:
            return from == S::ongoing || from == S::prepare_epoch_fence;
        case S::complete_commit:
            return from == S::prepare_commit;
        case S::complete_abort:
            return from == S::prepare_abort;
    }
    return false;
}

protocol::bytes encode_txn_key(const std::string& transactional_id) {
    m::transaction_log_key k;
    k.transactional_id = transactional_id;
    protocol::writer w;
    w.write_int16(0);
    k.encode(w, 0);
    return w.take();
}

protocol::bytes encode_txn_value(const txn_metadata& md) {
    m::transaction_log_value v;
    v.producer_id = md.producer_id;
    v.producer_epoch = md.producer_epoch;
    v.transaction_timeout_ms = md.timeout_ms;
    v.transaction_status = static_cast<int8_t>(md.state);
    // Kafka writes the partitions of the transaction grouped by topic (empty when none).
    std::map<std::string, std::vector<int32_t>> by_topic;
    for (const auto& tp : md.partitions)
        by_topic[tp.topic].push_back(tp.partition);
    std::vector<m::transaction_log_value::partitions_schema> parts;
    for (auto& [topic, ids] : by_topic) {
        auto& p = parts.emplace_back();
        p.topic = topic;
        p.partition_ids = std::move(ids);
    }
    v.transaction_partitions = std::move(parts);
    v.transaction_last_update_timestamp_ms = md.update_ms;
    v.transaction_start_timestamp_ms = md.start_ms;
    protocol::writer w;
    w.write_int16(0);
    v.encode(w, 0);
    return w.take();
}

std::optional<std::string> decode_txn_key(protocol::bytes_view b) {
    protocol::reader r(b);
    int16_t version = r.read_int16();
    if (!r.ok() || version != 0) return std::nullopt;
    m::transaction_log_key k;
    k.decode(r, 0);
    if (!r.ok()) return std::nullopt;
    return k.transactional_id;
}

std::optional<txn_metadata> decode_txn_value(const std::string& transactional_id,
                                             protocol::bytes_view b) {
    protocol::reader r(b);
    int16_t version = r.read_int16();
    if (!r.ok() || version < 0 || version > m::transaction_log_value::max_version)
        return std::nullopt;
    m::transaction_log_value v;
    v.decode(r, version);
    if (!r.ok()) return std::nullopt;
    auto st = state_from_byte(v.transaction_status);
    if (!st) return std::nullopt;
    txn_metadata md;
    md.transactional_id = transactional_id;
    md.producer_id = v.producer_id;
    md.producer_epoch = v.producer_epoch;
    md.last_producer_id = v.previous_producer_id;
    md.timeout_ms = v.transaction_timeout_ms;
    md.state = *st;
    if (v.transaction_partitions)
        for (const auto& p : *v.transaction_partitions)
            for (int32_t id : p.partition_ids)
                md.partitions.insert(topic_partition{p.topic, id});
    md.update_ms = v.transaction_last_update_timestamp_ms;
    md.start_ms = v.transaction_start_timestamp_ms;
    return md;
}

}  // namespace rill::txn
