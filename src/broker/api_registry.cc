#include "broker/api_registry.h"

#include <algorithm>
#include <array>

#include "broker/handlers/handlers.h"

namespace rill::broker {
namespace {

template <typename Req, typename Resp, task<Resp> (*Fn)(request_context&, Req&)>
boost::asio::awaitable<bool> invoke(request_context& ctx, protocol::reader& r,
                                    protocol::writer& w) {
    Req req;
    req.decode(r, ctx.api_version);
    if (!r.ok()) co_return false;
    Resp resp = co_await Fn(ctx, req);
    if (!ctx.suppress_response) {
        w.buffer().reserve(w.size() + resp.encoded_size(ctx.api_version));
        resp.encode(w, ctx.api_version);
    }
    co_return true;
}

#define RILL_API(Name, lo, hi)                                             \
    api_entry {                                                            \
        m::Name##_request::api_key, lo, hi,                                \
            &invoke<m::Name##_request, m::Name##_response, &handle_##Name> \
    }

// Version ranges: every range starts at 0 where the spec allows it, because librdkafka < 2.11
// enables features only when an exact old version is inside the range (KAFKA-COMPAT.md §2.3).
const std::array kApis = {
    RILL_API(produce, 0, 11),
    RILL_API(fetch, 0, 16),
    RILL_API(list_offsets, 0, 9),
    RILL_API(metadata, 0, 12),
    RILL_API(api_versions, 0, 4),
    RILL_API(create_topics, 0, 7),
    RILL_API(delete_topics, 0, 6),
    RILL_API(delete_records, 0, 2),
    RILL_API(init_producer_id, 0, 4),
    RILL_API(offset_for_leader_epoch, 0, 4),
    RILL_API(describe_configs, 0, 4),
    RILL_API(alter_configs, 0, 2),
    RILL_API(describe_log_dirs, 0, 4),
    RILL_API(create_partitions, 0, 3),
    RILL_API(incremental_alter_configs, 0, 1),
    RILL_API(describe_cluster, 0, 1),
    RILL_API(describe_producers, 0, 0),
    // Transactions (KIP-98), the client forms: AddPartitionsToTxn 4+ (brokers' batched
    // verification), EndTxn 5 and Produce 12 (KIP-890 part 2) are not advertised.
    RILL_API(add_partitions_to_txn, 0, 3),
    RILL_API(add_offsets_to_txn, 0, 3),
    RILL_API(end_txn, 0, 4),
    RILL_API(txn_offset_commit, 0, 3),
    RILL_API(describe_transactions, 0, 0),
    RILL_API(list_transactions, 0, 1),
    // SASL authentication (handlers/sasl.cc).
    RILL_API(sasl_handshake, 0, 1),
    RILL_API(sasl_authenticate, 0, 2),
    // Cluster administration (carried out by the controller; see cluster/zk_store.h).
    RILL_API(alter_partition_reassignments, 0, 0),
    RILL_API(list_partition_reassignments, 0, 0),
    RILL_API(elect_leaders, 0, 2),
    // Consumer groups: the classic protocol and KIP-848's (ConsumerGroupHeartbeat/Describe;
    // OffsetCommit/OffsetFetch v9 carry member epochs). librdkafka 2.15 uses the consumer
    // protocol only when all three of ConsumerGroupHeartbeat, OffsetCommit v9 and OffsetFetch
    // v9 are advertised.
    RILL_API(find_coordinator, 0, 5),
    RILL_API(join_group, 0, 9),
    RILL_API(sync_group, 0, 5),
    RILL_API(heartbeat, 0, 4),
    RILL_API(leave_group, 0, 5),
    RILL_API(offset_commit, 0, 9),
    RILL_API(offset_fetch, 0, 9),
    RILL_API(list_groups, 0, 5),
    RILL_API(describe_groups, 0, 5),
    RILL_API(delete_groups, 0, 2),
    RILL_API(offset_delete, 0, 0),
    RILL_API(consumer_group_heartbeat, 0, 1),
    RILL_API(consumer_group_describe, 0, 0),
};

#undef RILL_API

std::array<api_entry, kApis.size()> sorted() {
    auto a = kApis;
    std::sort(a.begin(), a.end(),
              [](const api_entry& x, const api_entry& y) { return x.key < y.key; });
    return a;
}
const auto kSorted = sorted();

}  // namespace

std::span<const api_entry> supported_apis() {
    return kSorted;
}

const api_entry* find_supported_api(int16_t key) {
    for (const auto& e : kSorted)
        if (e.key == key) return &e;
    return nullptr;
}

}  // namespace rill::broker
