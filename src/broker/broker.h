// The broker: turns request frames into response frames. Decodes the request header, checks
// the API and version against the registry, runs the handler, and encodes the response frame.
//
// Threading: handle() runs on the connection's shard. Partition work is posted to the
// partition's owner shard (see partitions.h); metadata is read from immutable snapshots.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <type_traits>
#include <vector>

#include "common/asio.h"

#include "broker/fetch_session.h"
#include "cluster/metadata_store.h"
#include "common/config.h"
#include "common/work_pool.h"
#include "net/server.h"

namespace rill::storage {
class log_manager;
}
namespace rill::coordinator {
class group_coordinator;
}
namespace rill::txn {
class txn_coordinator;
}

namespace rill::broker {

class partition_manager;

struct broker_stats {
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> bad_requests{0};
};

class broker {
  public:
    broker(broker_config& config, cluster::metadata_store& metadata,
           std::vector<boost::asio::io_context*> shards, partition_manager* partitions);

    boost::asio::awaitable<net::handler_result> handle(const net::connection_info& conn,
                                                       net::request_frame frame);

    broker_config& config() { return config_; }
    cluster::metadata_store& metadata() { return metadata_; }
    partition_manager& partitions() { return *partitions_; }
    const std::vector<boost::asio::io_context*>& shards() const { return shards_; }
    int32_t node_id() const { return node_id_; }
    broker_stats& stats() { return stats_; }
    fetch_session_cache& fetch_sessions() { return fetch_sessions_; }
    // Threads for CPU-heavy request work kept off the shards (large or compressed produce
    // batches: produce_validation.h).
    work_pool& validation_pool() { return *validation_pool_; }
    // Runs `f()`, a metadata store write (the embedded store fsyncs its file; the ZooKeeper
    // store waits for round trips), on the metadata thread, never on a shard; the coroutine
    // resumes on its own executor with f's result. Writes run one at a time, in order.
    // GCC 12 rule (docs/architecture.md): pass a named lambda, await in its own statement:
    //   auto write = [&] { return ctx.b.metadata().create_topic(nt, false); };
    //   auto op = ctx.b.store_write(write);
    //   auto r = co_await std::move(op);
    template <typename F>
    boost::asio::awaitable<std::invoke_result_t<F&>> store_write(F& f) {
        std::optional<std::invoke_result_t<F&>> out;
        auto work = [&f, &out] {
            out.emplace(f());
            return true;
        };
        auto op = metadata_pool_->run(work);
        co_await std::move(op);
        co_return std::move(*out);
    }
    // The consumer-group coordinator (set once at start-up, before serving).
    coordinator::group_coordinator& groups() { return *groups_; }
    void set_groups(coordinator::group_coordinator* g) { groups_ = g; }
    // The transaction coordinator (set once at start-up, before serving).
    txn::txn_coordinator& txns() { return *txns_; }
    void set_txns(txn::txn_coordinator* t) { txns_ = t; }

  private:
    broker_config& config_;
    cluster::metadata_store& metadata_;
    std::vector<boost::asio::io_context*> shards_;
    partition_manager* partitions_;
    int32_t node_id_;
    broker_stats stats_;
    fetch_session_cache fetch_sessions_;
    std::unique_ptr<work_pool> validation_pool_;
    std::unique_ptr<work_pool> metadata_pool_;  // one thread: store_write()
    coordinator::group_coordinator* groups_ = nullptr;
    txn::txn_coordinator* txns_ = nullptr;
};

}  // namespace rill::broker
