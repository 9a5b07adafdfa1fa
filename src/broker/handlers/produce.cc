#include "broker/append.h"
#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "protocol/legacy_message_set.h"
#include "protocol/record_batch.h"

namespace rill::broker {
namespace {

using presp = m::produce_response::topic_produce_response::partition_produce_response;

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

}  // namespace

task<m::produce_response> handle_produce(request_context& ctx, m::produce_request& req) {
    const int16_t v = ctx.api_version;
    auto& pm = ctx.b.partitions();
    auto snap = ctx.b.metadata().snapshot();
    m::produce_response resp;
    bool acks_valid = req.acks == 0 || req.acks == 1 || req.acks == -1;
    bool any_error = false;

    // Partitions that passed validation, and where each one's outcome goes.
    std::vector<append_item> items;
    std::vector<presp*> outs;
    resp.responses.reserve(req.topic_data.size());

    for (size_t ti = 0; ti < req.topic_data.size(); ++ti) {
        const auto& t = req.topic_data[ti];
        auto& tout = resp.responses.emplace_back();
        tout.name = t.name;
        tout.partition_responses.resize(t.partition_data.size());
        const cluster::topic_info* topic = snap->find_topic(t.name);
        topic_produce_rules rules;
        if (topic) rules = produce_rules(*topic, ctx.b.config());
        for (size_t pi = 0; pi < t.partition_data.size(); ++pi) {
            const auto& pd = t.partition_data[pi];
            presp& out = tout.partition_responses[pi];
            out.index = pd.index;
            out.base_offset = -1;
            auto fail = [&](error_code e, std::optional<std::string> msg = std::nullopt) {
                out.error_code = wire(e);
                out.error_message = std::move(msg);
                any_error = true;
                // Only existing topics get counters (bounded cardinality).
                if (topic) {
                    auto& counters = metrics::registry::global().topic(t.name);
                    counters.total_produce.add();
                    counters.failed_produce.add();
                }
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
            if (topic->internal) {
                // Only the coordinator writes __consumer_offsets (Kafka answers the same).
                fail(error_code::invalid_topic_exception,
                     "Cannot append to internal topic " + t.name);
                continue;
            }
            auto part = pm.find({t.name, pd.index});
            if (!part) {
                fail(error_code::not_leader_or_follower);
                continue;
            }
            auto batch = prepare_batch(pd.records, v, rules.max_message_bytes);
            if (!batch) {
                fail(batch.error());
                continue;
            }
            if (rules.compacted && !all_records_keyed(*batch)) {
                fail(error_code::invalid_record,
                     "Compacted topic cannot accept message without key");
                continue;
            }
            append_item it;
            it.part = std::move(part);
            it.batch = std::move(*batch);
            it.min_insync = rules.min_insync;
            items.push_back(std::move(it));
            outs.push_back(&out);
        }
    }

    // Append on the owner shards, all shards in parallel; then (acks=all) wait for fsync.
    append_wait wait;
    wait.replicated = req.acks == -1;
    wait.durable = req.acks == -1 && ctx.b.config().get_bool("rill.acks.all.fsync");
    wait.timeout = std::chrono::milliseconds(std::max(req.timeout_ms, 1));
    auto appending = append_batches(pm, items, wait);
    co_await std::move(appending);
    for (size_t i = 0; i < items.size(); ++i) {
        const append_item& it = items[i];
        presp& out = *outs[i];
        out.error_code = wire(it.error);
        if (it.error_message) out.error_message = it.error_message;
        if (it.base_offset >= 0) {
            out.base_offset = it.base_offset;
            out.log_append_time_ms = it.log_append_time;
            out.log_start_offset = it.log_start_offset;
        }
        if (it.error != error_code::none) any_error = true;
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
