#include <atomic>
#include <map>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"
#include "common/logging.h"
#include "protocol/legacy_message_set.h"
#include "protocol/record_batch.h"

namespace rill::broker {
namespace {

using presp = m::produce_response::topic_produce_response::partition_produce_response;

// One partition of a produce request on its way through validation and append.
struct produce_item {
    size_t topic_index = 0;
    presp* out = nullptr;
    std::shared_ptr<partition> part;
    protocol::bytes batch;  // owned: append stamps offsets in place
    bool compacted = false;
    size_t index = 0;
};

// Validates one partition's records and returns the single magic-2 batch to append.
result<protocol::bytes, error_code> prepare_batch(const protocol::record_data& records,
                                                  int16_t version, int64_t max_bytes) {
    if (records.is_null() || records.size() == 0) return unexpected(error_code::invalid_record);
    auto data = records.view();
    if (static_cast<int64_t>(data.size()) >
        max_bytes + static_cast<int64_t>(protocol::kBatchLogOverhead))
        return unexpected(error_code::message_too_large);
    auto magic = protocol::peek_magic(data);
    if (magic && *magic < 2) {
        if (version >= 3) return unexpected(error_code::invalid_record);
        auto converted = protocol::convert_legacy_message_set(data);
        if (!converted)
            return unexpected(
                static_cast<error_code>(protocol::kafka_error_code(converted.error())));
        return std::move(*converted);
    }
    protocol::validate_options opts;
    opts.require_exact_size = true;  // exactly one batch per partition
    opts.producer = true;
    auto h = protocol::validate_batch(data, opts);
    if (!h) return unexpected(static_cast<error_code>(protocol::kafka_error_code(h.error())));
    if (static_cast<int64_t>(data.size()) >
        max_bytes + static_cast<int64_t>(protocol::kBatchLogOverhead))
        return unexpected(error_code::message_too_large);
    if (h->codec() == protocol::compression_codec::zstd && version < 7)
        return unexpected(error_code::unsupported_compression_type);
    return protocol::bytes(data.begin(), data.end());
}

// Compacted topics need a key on every record (Kafka answers INVALID_RECORD otherwise).
bool all_records_keyed(const protocol::bytes& batch) {
    auto rr = protocol::record_reader::open(batch);
    if (!rr) return false;
    protocol::record_view rec;
    while (rr->next(rec))
        if (!rec.key) return false;
    return !rr->error();
}

}  // namespace

task<m::produce_response> handle_produce(request_context& ctx, m::produce_request& req) {
    const int16_t v = ctx.api_version;
    auto& pm = ctx.b.partitions();
    auto snap = ctx.b.metadata().snapshot();
    m::produce_response resp;
    bool acks_valid = req.acks == 0 || req.acks == 1 || req.acks == -1;
    bool any_error = false;

    std::vector<produce_item> items;
    size_t total_parts = 0;
    for (const auto& t : req.topic_data)
        total_parts += t.partition_data.size();
    items.reserve(total_parts);
    resp.responses.reserve(req.topic_data.size());

    for (size_t ti = 0; ti < req.topic_data.size(); ++ti) {
        const auto& t = req.topic_data[ti];
        auto& tout = resp.responses.emplace_back();
        tout.name = t.name;
        tout.partition_responses.resize(t.partition_data.size());
        const cluster::topic_info* topic = snap->find_topic(t.name);
        int64_t max_bytes = 0;
        bool compacted = false;
        if (topic) {
            max_bytes =
                std::stoll(topic_config_value("max.message.bytes", topic->configs, ctx.b.config())
                               .value_or("1048588"));
            compacted = topic_config_value("cleanup.policy", topic->configs, ctx.b.config())
                            .value_or("")
                            .find("compact") != std::string::npos;
        }
        for (size_t pi = 0; pi < t.partition_data.size(); ++pi) {
            const auto& pd = t.partition_data[pi];
            presp& out = tout.partition_responses[pi];
            out.index = pd.index;
            out.base_offset = -1;
            auto fail = [&](error_code e, std::optional<std::string> msg = std::nullopt) {
                out.error_code = wire(e);
                out.error_message = std::move(msg);
                any_error = true;
            };
            if (!acks_valid) {
                fail(error_code::invalid_required_acks);
                continue;
            }
            if (req.transactional_id) {
                fail(error_code::transactional_id_authorization_failed,
                     "Transactions are not supported yet");
                continue;
            }
            if (!topic || pd.index < 0 ||
                pd.index >= static_cast<int32_t>(topic->partitions.size())) {
                fail(error_code::unknown_topic_or_partition);
                continue;
            }
            auto part = pm.find({t.name, pd.index});
            if (!part) {
                fail(error_code::not_leader_or_follower);
                continue;
            }
            auto batch = prepare_batch(pd.records, v, max_bytes);
            if (!batch) {
                fail(batch.error());
                continue;
            }
            if (compacted && !all_records_keyed(*batch)) {
                fail(error_code::invalid_record,
                     "Compacted topic cannot accept message without key");
                continue;
            }
            produce_item it;
            it.topic_index = ti;
            it.out = &out;
            it.part = std::move(part);
            it.batch = std::move(*batch);
            items.push_back(std::move(it));
        }
    }

    // Append on the owner shards, all shards in parallel; then (acks=all) wait for fsync.
    bool wait_durable = req.acks == -1 && ctx.b.config().get_bool("rill.acks.all.fsync");
    auto ex = co_await boost::asio::this_coro::executor;
    std::map<size_t, std::vector<produce_item*>> by_shard;
    for (auto& it : items)
        by_shard[it.part->shard].push_back(&it);
    auto appended = latch::make(ex, by_shard.size());
    auto durable = latch::make(ex, wait_durable ? items.size() : 0);
    // Flush callbacks may outlive this request (timeout): they only touch shared state.
    auto flush_failed = std::make_shared<std::vector<std::atomic<bool>>>(items.size());
    for (size_t i = 0; i < items.size(); ++i)
        items[i].index = i;
    int64_t now = wall_clock_ms();
    for (auto& [shard, group] : by_shard) {
        boost::asio::post(
            pm.shard(shard), [group, appended, durable, flush_failed, wait_durable, now] {
                for (produce_item* it : group) {
                    partition& p = *it->part;
                    if (p.removed) {
                        it->out->error_code = wire(error_code::not_leader_or_follower);
                        if (wait_durable) durable->count_down();
                        continue;
                    }
                    auto r = p.log->append(it->batch, p.leader_epoch, now);
                    if (!r) {
                        it->out->error_code = wire(to_error_code(r.error().code));
                        it->out->error_message = r.error().message;
                        if (wait_durable) durable->count_down();
                        continue;
                    }
                    it->out->base_offset = r->base_offset;
                    it->out->log_append_time_ms = r->log_append_time;
                    it->out->log_start_offset = r->log_start_offset;
                    if (!r->duplicate) {
                        p.log->set_high_watermark(p.log->log_end_offset());
                        p.wake_waiters();
                    }
                    if (wait_durable)
                        p.log->flush_up_to(
                            r->last_offset + 1,
                            [i = it->index, durable, flush_failed](const storage::status& st) {
                                if (!st) (*flush_failed)[i] = true;
                                durable->count_down();
                            });
                }
                appended->count_down();
            });
    }
    co_await appended->wait();
    if (wait_durable &&
        !co_await durable->wait(std::chrono::milliseconds(std::max(req.timeout_ms, 1)))) {
        for (auto& it : items)
            if (it.out->error_code == 0) it.out->error_code = wire(error_code::request_timed_out);
    }
    for (auto& it : items) {
        if ((*flush_failed)[it.index]) it.out->error_code = wire(error_code::kafka_storage_error);
        if (it.out->error_code != 0) any_error = true;
    }

    if (req.acks == 0) {
        // No response for acks=0; Kafka closes the connection when such a produce failed.
        ctx.suppress_response = true;
        ctx.close_connection = any_error;
        if (any_error)
            rill::logger("broker")->info(
                "acks=0 produce from {} failed for some partitions; closing the connection",
                ctx.conn.peer);
    }
    co_return resp;
}

}  // namespace rill::broker
