#include "broker/append.h"

#include <atomic>
#include <map>

#include "common/metrics.h"
#include "protocol/record_batch.h"

namespace rill::broker {

topic_produce_rules produce_rules(const cluster::topic_info& topic, const broker_config& config) {
    topic_produce_rules r;
    if (auto v = topic_config_value("max.message.bytes", topic.configs, config)) {
        try {
            r.max_message_bytes = std::stoll(*v);
        } catch (const std::exception&) {
            // Validated when set; keep the default if it ever is not a number.
        }
    }
    r.compacted =
        topic_config_value("cleanup.policy", topic.configs, config).value_or("").find("compact") !=
        std::string::npos;
    return r;
}

bool all_records_keyed(const protocol::bytes& batch) {
    auto rr = protocol::record_reader::open(batch);
    if (!rr) return false;
    protocol::record_view rec;
    while (rr->next(rec))
        if (!rec.key) return false;
    return !rr->error();
}

boost::asio::awaitable<void> append_batches(partition_manager& pm, std::vector<append_item>& items,
                                            bool wait_durable, std::chrono::milliseconds timeout) {
    auto ex = co_await boost::asio::this_coro::executor;
    std::map<size_t, std::vector<size_t>> by_shard;
    for (size_t i = 0; i < items.size(); ++i)
        by_shard[items[i].part->shard].push_back(i);
    if (by_shard.empty()) co_return;
    auto appended = latch::make(ex, by_shard.size());
    auto durable = latch::make(ex, wait_durable ? items.size() : 0);
    // Flush callbacks may outlive this call (timeout): they only touch shared state.
    auto flush_failed = std::make_shared<std::vector<std::atomic<bool>>>(items.size());
    const int64_t now = wall_clock_ms();
    for (auto& [shard, group] : by_shard) {
        boost::asio::post(
            pm.shard(shard), [&items, group, appended, durable, flush_failed, wait_durable, now] {
                for (size_t i : group) {
                    append_item& it = items[i];
                    partition& p = *it.part;
                    auto& counters = metrics::registry::global().topic(p.tp.topic);
                    counters.total_produce.add();
                    if (p.removed) {
                        it.error = error_code::not_leader_or_follower;
                        counters.failed_produce.add();
                        if (wait_durable) durable->count_down();
                        continue;
                    }
                    const size_t bytes = it.batch.size();
                    auto r = p.log->append(it.batch, p.leader_epoch, now);
                    if (!r) {
                        it.error = to_error_code(r.error().code);
                        it.error_message = r.error().message;
                        counters.failed_produce.add();
                        if (wait_durable) durable->count_down();
                        continue;
                    }
                    it.base_offset = r->base_offset;
                    it.log_append_time = r->log_append_time;
                    it.log_start_offset = r->log_start_offset;
                    if (!r->duplicate) {
                        p.log->set_high_watermark(p.log->log_end_offset());
                        p.wake_waiters();
                        counters.messages_in.add(
                            static_cast<uint64_t>(r->last_offset - r->base_offset + 1));
                        counters.bytes_in.add(bytes);
                    }
                    if (wait_durable)
                        p.log->flush_up_to(r->last_offset + 1,
                                           [i, durable, flush_failed](const storage::status& st) {
                                               if (!st) (*flush_failed)[i] = true;
                                               durable->count_down();
                                           });
                }
                appended->count_down();
            });
    }
    co_await appended->wait();
    if (wait_durable && !co_await durable->wait(std::max(timeout, std::chrono::milliseconds(1)))) {
        for (auto& it : items)
            if (it.error == error_code::none) it.error = error_code::request_timed_out;
    }
    for (size_t i = 0; i < items.size(); ++i)
        if ((*flush_failed)[i]) items[i].error = error_code::kafka_storage_error;
}

}  // namespace rill::broker
