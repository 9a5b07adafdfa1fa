#include "broker/append.h"
#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"
#include "broker/produce_validation.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "protocol/record_batch.h"

namespace rill::broker {
namespace {

using presp = m::produce_response::topic_produce_response::partition_produce_response;

}  // namespace

task<m::produce_response> handle_produce(request_context& ctx, m::produce_request& req) {
    const int16_t v = ctx.api_version;
    auto& pm = ctx.b.partitions();
    auto snap = ctx.b.metadata().snapshot();
    m::produce_response resp;
    bool acks_valid = req.acks == 0 || req.acks == 1 || req.acks == -1;
    bool any_error = false;

    // Partitions that passed the request-level checks, their topics' record rules, and where
    // each one's outcome goes.
    std::vector<produced_records> produced;
    std::vector<std::shared_ptr<partition>> parts;
    std::vector<int32_t> min_insync;
    std::vector<presp*> outs;
    std::vector<std::string_view> topic_names;
    std::vector<std::unique_ptr<record_checks>> checks;
    resp.responses.reserve(req.topic_data.size());

    for (size_t ti = 0; ti < req.topic_data.size(); ++ti) {
        const auto& t = req.topic_data[ti];
        auto& tout = resp.responses.emplace_back();
        tout.name = t.name;
        tout.partition_responses.resize(t.partition_data.size());
        const cluster::topic_info* topic = snap->find_topic(t.name);
        topic_produce_rules rules;
        const record_checks* topic_checks = nullptr;
        if (topic) {
            rules = produce_rules(*topic, ctx.b.config());
            checks.push_back(
                std::make_unique<record_checks>(record_checks_for(*topic, ctx.b.config())));
            topic_checks = checks.back().get();
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
            if (req.transactional_id && snap->cluster_mode) {
                fail(error_code::transactional_id_authorization_failed,
                     "Transactions are not supported in cluster mode yet");
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
                fail(pm.missing_partition_error({t.name, pd.index},
                                                error_code::not_leader_or_follower));
                continue;
            }
            if (pd.records.is_null() || pd.records.size() == 0) {
                fail(error_code::invalid_record, "no records");
                continue;
            }
            produced_records pr;
            pr.partition = t.name + "-" + std::to_string(pd.index);
            pr.data = pd.records.view();
            pr.checks = topic_checks;
            produced.push_back(std::move(pr));
            parts.push_back(std::move(part));
            min_insync.push_back(rules.min_insync);
            outs.push_back(&out);
            topic_names.push_back(t.name);
        }
    }

    // Record-level validation (inline or on the validation pool; see produce_validation.h).
    if (!produced.empty()) {
        const auto max_inflated =
            static_cast<size_t>(ctx.b.config().get_int("rill.produce.max.inflated.bytes"));
        auto validating =
            validate_produced(ctx.b.validation_pool(), ctx.conn.budget, produced, v, max_inflated);
        co_await std::move(validating);
    }
    std::vector<append_item> items;
    std::vector<presp*> appended_outs;
    items.reserve(produced.size());
    for (size_t i = 0; i < produced.size(); ++i) {
        auto& pr = produced[i];
        presp& out = *outs[i];
        if (pr.error != error_code::none || !pr.batch) {
            out.error_code =
                wire(pr.error != error_code::none ? pr.error : error_code::invalid_record);
            out.error_message = std::move(pr.message);
            if (v >= 8) {
                out.record_errors.reserve(pr.record_errors.size());
                for (auto& re : pr.record_errors) {
                    auto& e = out.record_errors.emplace_back();
                    e.batch_index = re.batch_index;
                    e.batch_index_error_message = std::move(re.message);
                }
            }
            any_error = true;
            auto& counters = metrics::registry::global().topic(topic_names[i]);
            counters.total_produce.add();
            counters.failed_produce.add();
            continue;
        }
        append_item it;
        it.part = std::move(parts[i]);
        it.batch = std::move(*pr.batch);
        it.min_insync = min_insync[i];
        items.push_back(std::move(it));
        appended_outs.push_back(&out);
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
        presp& out = *appended_outs[i];
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
