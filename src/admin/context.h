// Internal to src/admin: the state route handlers share, and the route groups.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "admin/http.h"
#include "admin/server.h"
#include "cluster/metadata_store.h"
#include "common/asio.h"

namespace rill::broker {
class broker;
}
namespace rill::net {
class server;
}

namespace rill::admin {

// A partition's log state, read on its owner shard.
struct partition_state {
    std::string topic;
    int32_t partition = 0;
    bool hosted = false;   // a log exists on this broker
    bool offline = false;  // offline here: the log went offline (I/O error, failed log dir) or
                           // could not be loaded (then hosted is false)
    int64_t log_start_offset = -1;
    int64_t high_watermark = -1;
    int64_t log_end_offset = -1;
    uint64_t size_bytes = 0;
    int32_t leader_epoch = -1;
};

struct context {
    broker::broker& b;
    const net::server* kafka = nullptr;
    group_source* groups = nullptr;
    std::atomic<bool> ready{false};
    std::string token;  // admin.auth.token ("" = no auth)
    std::atomic<uint64_t> config_version{1};
    // Total lag per group over the last minutes (admin thread only): {time ms, total lag}.
    std::map<std::string, std::deque<std::pair<int64_t, int64_t>>> lag_history;
    // Round-robin partition for unkeyed HTTP produces.
    std::atomic<uint32_t> next_partition{0};

    std::string cluster_id() const;
    std::shared_ptr<const cluster::metadata_snapshot> snapshot() const;
};

// Reads the state of every named partition on its owner shard (all shards in parallel).
boost::asio::awaitable<std::vector<partition_state>> collect_partition_states(
    context& ctx, const std::vector<std::pair<std::string, int32_t>>& partitions);
// Every partition of every topic in `snap`.
std::vector<std::pair<std::string, int32_t>> all_partitions(const cluster::metadata_snapshot& snap,
                                                            bool include_internal = true);

// Total lag of a group now (0 when unknown).
int64_t total_lag(const std::vector<coordinator::partition_lag_view>& lags);
// Records one lag sample for `group` (admin thread), keeping the last kLagHistory samples.
void record_lag_sample(context& ctx, const std::string& group, int64_t lag, int64_t now_ms);
inline constexpr size_t kLagHistory = 180;  // 15 minutes at one sample per 5 s

// Config values as typed JSON (numbers and booleans as such, passwords redacted).
json config_json(std::string_view name, const std::optional<std::string>& value);

// Route groups.
void add_v1_routes(router& r, context& ctx);
void add_v3_routes(router& r, context& ctx);
void add_metrics_routes(router& r, context& ctx);
void add_console_routes(router& r);

// Parses a JSON body (v3_bodies.h); nullopt with `err` set (a 400 answer) when malformed, too
// deeply nested or not an object.
std::optional<json> parse_json_object(const request& req, response& err);
// Parses a non-negative decimal integer; nullopt when malformed or out of range.
std::optional<int64_t> parse_int(std::string_view s);

}  // namespace rill::admin
