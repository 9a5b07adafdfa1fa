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
    if (auto v = topic_config_value("min.insync.replicas", topic.configs, config)) {
        try {
            r.min_insync = std::stoi(*v);
        } catch (const std::exception&) {
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
                                            append_wait wait) {
    auto ex = co_await boost::asio::this_coro::executor;
    std::map<size_t, std::vector<size_t>> by_shard;
    for (size_t i = 0; i < items.size(); ++i)
        by_shard[items[i].part->shard].push_back(i);
    if (by_shard.empty()) co_return;
    const bool wait_durable = wait.durable;
    const bool wait_replicated = wait.replicated;
    auto appended = latch::make(ex, by_shard.size());
    auto durable = latch::make(ex, wait_durable ? items.size() : 0);
    auto replicated = latch::make(ex, wait_replicated ? items.size() : 0);
    // Callbacks may outlive this call (timeout): they only touch this shared state.
    struct outcome {
        std::atomic<bool> flush_failed{false};
        std::atomic<bool> flushed{false};
        std::atomic<int16_t> replication_error{0};
        std::atomic<bool> replicated{false};
    };
    auto outcomes = std::make_shared<std::vector<outcome>>(items.size());
    const int64_t now = wall_clock_ms();
    for (auto& [shard, group] : by_shard) {
        boost::asio::post(pm.shard(shard), [&items, group, appended, durable, replicated, outcomes,
                                            wait_durable, wait_replicated, now] {
            for (size_t i : group) {
                append_item& it = items[i];
                partition& p = *it.part;
                auto& counters = metrics::registry::global().topic(p.tp.topic);
                counters.total_produce.add();
                auto refuse = [&](error_code e) {
                    it.error = e;
                    counters.failed_produce.add();
                    if (wait_durable) durable->count_down();
                    if (wait_replicated) replicated->count_down();
                };
                const size_t bytes = it.batch.size();
                auto r = p.append(it.batch, now, wait_replicated ? it.min_insync : 0);
                if (!r) {
                    it.error_message = r.error().message;
                    refuse(r.error().code);
                    continue;
                }
                it.base_offset = r->base_offset;
                it.log_append_time = r->log_append_time;
                it.log_start_offset = r->log_start_offset;
                if (!r->duplicate) {
                    counters.messages_in.add(
                        static_cast<uint64_t>(r->last_offset - r->base_offset + 1));
                    counters.bytes_in.add(bytes);
                }
                auto replicated_done = [i, replicated, outcomes](error_code e) {
                    (*outcomes)[i].replication_error = wire(e);
                    (*outcomes)[i].replicated = true;
                    replicated->count_down();
                };
                if (wait_replicated)  // single replica: completes at once
                    p.when_committed(r->last_offset + 1, it.min_insync, replicated_done);
                if (wait_durable)
                    p.log->flush_up_to(r->last_offset + 1,
                                       [i, durable, outcomes](const storage::status& st) {
                                           if (!st) (*outcomes)[i].flush_failed = true;
                                           (*outcomes)[i].flushed = true;
                                           durable->count_down();
                                       });
            }
            appended->count_down();
        });
    }
    co_await appended->wait();
    const auto deadline =
        std::chrono::steady_clock::now() + std::max(wait.timeout, std::chrono::milliseconds(1));
    auto remaining = [&] {
        return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now()),
                        std::chrono::milliseconds(1));
    };
    if (wait_replicated) co_await replicated->wait(remaining());
    if (wait_durable) co_await durable->wait(remaining());
    for (size_t i = 0; i < items.size(); ++i) {
        auto& it = items[i];
        const outcome& o = (*outcomes)[i];
        if (it.error != error_code::none) continue;
        if (int16_t e = o.replication_error; e != 0)
            it.error = static_cast<error_code>(e);
        else if (o.flush_failed)
            it.error = error_code::kafka_storage_error;
        else if ((wait_replicated && !o.replicated) || (wait_durable && !o.flushed))
            it.error = error_code::request_timed_out;
    }
}

}  // namespace rill::broker
