#include <mutex>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/producer_epochs.h"
#include "txn/txn_coordinator.h"

namespace rill::broker {
namespace {

// Producer ids come from durable blocks reserved in the metadata store, so an id is never
// reused, even across restarts.
class producer_id_source {
  public:
    result<int64_t, error_code> next(cluster::metadata_store& store) {
        std::lock_guard lock(mu_);
        if (next_ >= end_) {
            auto first = store.allocate_producer_ids(kBlock);
            if (!first) return unexpected(error_code::kafka_storage_error);
            next_ = *first;
            end_ = *first + kBlock;
        }
        return next_++;
    }

  private:
    static constexpr int32_t kBlock = 1000;
    std::mutex mu_;
    int64_t next_ = 0;
    int64_t end_ = 0;
};

producer_id_source& ids() {
    static producer_id_source s;
    return s;
}

producer_epochs& epochs() {
    static producer_epochs e;
    return e;
}

}  // namespace

// Idempotent producers: a new id with epoch 0, or (v3+, KIP-360) the same id with its epoch
// bumped when the producer passes the id and the epoch it currently holds (producer_epochs.h).
// A stale or foreign epoch is fenced; an id this broker does not know gets a new id, as Kafka
// answers every idempotent producer. A transactional id goes to its transaction coordinator
// (txn::txn_coordinator), which keeps the id and epoch per transactional id and fences the
// previous producer; a fresh producer id is reserved first (off the shard) in case it needs one.
task<m::init_producer_id_response> handle_init_producer_id(request_context& ctx,
                                                           m::init_producer_id_request& req) {
    m::init_producer_id_response resp;
    if (req.transactional_id) {
        if (ctx.b.metadata().snapshot()->cluster_mode) {
            // Single node only for now (see FindCoordinator).
            resp.error_code = wire(error_code::transactional_id_authorization_failed);
            co_return resp;
        }
        if (req.transactional_id->empty()) {
            resp.error_code = wire(error_code::invalid_request);
            co_return resp;
        }
        if ((req.producer_id >= 0) != (req.producer_epoch >= 0)) {
            resp.error_code = wire(error_code::invalid_request);
            co_return resp;
        }
        auto fresh = [&] { return ids().next(ctx.b.metadata()); };
        auto reserve = ctx.b.store_write(fresh);
        auto id = co_await std::move(reserve);
        if (!id) {
            resp.error_code = wire(id.error());
            co_return resp;
        }
        auto op = ctx.b.txns().init_producer_id(*req.transactional_id, req.transaction_timeout_ms,
                                                req.producer_id, req.producer_epoch, *id);
        auto r = co_await std::move(op);
        error_code e = r.error;
        if (e == error_code::producer_fenced && ctx.api_version < 4)
            e = error_code::invalid_producer_epoch;  // KIP-588
        resp.error_code = wire(e);
        resp.producer_id = r.producer_id;
        resp.producer_epoch = r.producer_epoch;
        co_return resp;
    }
    if (req.producer_id >= 0 || req.producer_epoch >= 0) {
        if (req.producer_id < 0 || req.producer_epoch < 0) {
            resp.error_code = wire(error_code::invalid_request);  // one without the other
            co_return resp;
        }
        auto b = epochs().try_bump(req.producer_id, req.producer_epoch);
        if (b.result == producer_epochs::outcome::fenced) {
            // KIP-588: clients before v4 do not know PRODUCER_FENCED.
            resp.error_code = wire(ctx.api_version >= 4 ? error_code::producer_fenced
                                                        : error_code::invalid_producer_epoch);
            co_return resp;
        }
        if (b.result == producer_epochs::outcome::bumped) {
            resp.producer_id = req.producer_id;
            resp.producer_epoch = b.epoch;
            co_return resp;
        }
    }
    // A new block of ids is a metadata store write: off the shard (and the source's lock is
    // only ever taken on the metadata thread).
    auto next_id = [&] { return ids().next(ctx.b.metadata()); };
    auto op = ctx.b.store_write(next_id);
    auto id = co_await std::move(op);
    if (!id) {
        resp.error_code = wire(id.error());
        co_return resp;
    }
    epochs().issued(*id);
    resp.producer_id = *id;
    resp.producer_epoch = 0;
    co_return resp;
}

}  // namespace rill::broker
