#include "broker/txn_host.h"

#include "broker/append.h"
#include "broker/group_host.h"
#include "common/clock.h"
#include "common/logging.h"
#include "protocol/record_batch.h"

namespace rill::broker {

txn::txn_host make_txn_host(partition_manager& pm, const broker_config& config,
                            cluster::metadata_store& metadata, broker& b,
                            coordinator::group_coordinator& groups) {
    txn::txn_host h;
    h.partitions = make_group_host(pm, config, metadata, b, txn::kTxnTopic);
    h.write_markers = [&pm, &config, &metadata,
                       &groups](txn::marker_request mr) -> boost::asio::awaitable<error_code> {
        auto snap = metadata.snapshot();
        std::vector<append_item> items;
        std::vector<int32_t> offsets_parts;  // __consumer_offsets partitions among them
        protocol::batch_spec spec;
        spec.producer_id = mr.producer_id;
        spec.producer_epoch = mr.producer_epoch;
        protocol::control_record cr;
        cr.type = mr.commit ? protocol::control_type::commit : protocol::control_type::abort;
        cr.coordinator_epoch = mr.coordinator_epoch;
        for (const auto& tp : mr.partitions) {
            const auto* topic = snap->find_topic(tp.topic);
            if (!topic || tp.partition >= static_cast<int32_t>(topic->partitions.size()))
                continue;  // deleted meanwhile: nothing to mark
            auto part = pm.find(tp);
            if (!part) co_return error_code::not_leader_or_follower;
            auto batch = protocol::build_control_batch(spec, cr, wall_clock_ms());
            if (!batch) co_return error_code::unknown_server_error;
            append_item it;
            it.part = std::move(part);
            it.batch = std::move(*batch);
            it.min_insync = produce_rules(*topic, config).min_insync;
            items.push_back(std::move(it));
            if (tp.topic == coordinator::kOffsetsTopic) offsets_parts.push_back(tp.partition);
        }
        append_wait wait;
        wait.replicated = true;
        wait.durable = config.get_bool("rill.acks.all.fsync");
        wait.timeout = std::chrono::milliseconds(30000);  // Kafka's request.timeout.ms default
        auto appending = append_batches(pm, items, wait);
        co_await std::move(appending);
        error_code first = error_code::none;
        for (const auto& it : items)
            if (it.error != error_code::none && first == error_code::none) first = it.error;
        if (first != error_code::none) co_return first;
        for (int32_t p : offsets_parts) {
            auto op = groups.txn_marker_written(p, mr.producer_id, mr.commit);
            co_await std::move(op);
        }
        co_return error_code::none;
    };
    return h;
}

}  // namespace rill::broker
