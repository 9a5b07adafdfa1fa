// The znode layout and JSON payloads of the ZooKeeper metadata store, in Kafka's ZooKeeper-era
// shapes (so Kafka's own tools can read what Rill writes and the reverse). Pure functions: no
// ZooKeeper handle, no clock (timestamps are parameters), no logging; thread-safe.
//
//   path                                      payload (encode_* writes exactly these keys)
//   /cluster/id                               {"version":"1","id":"<base64url uuid>"}
//   /controller                (ephemeral)    {"version":2,"brokerid":N,"timestamp":"<ms>",
//                                              "kraftControllerEpoch":-1}
//   /controller_epoch                         "N" (a bare decimal)
//   /brokers/ids/<id>          (ephemeral)    {"version":5,"host":"h","port":P,
//                                              "endpoints":["NAME://h:P",..],
//                                              "listener_security_protocol_map":{"NAME":"PLAINTEXT"},
//                                              "jmx_port":-1,"timestamp":"<ms>","rack":"r"|null}
//   /brokers/topics/<t>                       {"version":3,"topic_id":"<base64url>",
//                                              "partitions":{"0":[1,2],..},
//                                              "adding_replicas":{"0":[3]},
//                                              "removing_replicas":{"0":[1]}}
//   /brokers/topics/<t>/partitions/<p>/state  {"controller_epoch":E,"leader":L,"version":1,
//                                              "leader_epoch":N,"isr":[..]}
//   /config/topics/<t>                        {"version":1,"config":{"key":"value",..}}
//   /latest_producer_id_block                 {"version":1,"broker":B,"block_start":"S",
//                                              "block_end":"E"}  (numbers as strings)
//   /rill/controlled_shutdown/<id> (ephem.)   "<ms>": broker <id> asks the controller to move
//                                              its leadership away
//   /rill/offline_replicas/<id>  (ephemeral)  {"version":1,"partitions":[{"topic":"t",
//                                              "partition":0},..]}: broker <id>'s replicas
//                                              that are offline (a failed log dir)
//   /log_dir_event_notification/log_dir_event_<seq>  {"version":1,"broker":B,"event":1}
//                                              (Kafka's: broker B had a log dir fail; the
//                                              controller consumes and deletes it)
//
// A reassignment (KIP-455) lives in the topic znode: during it, `partitions` holds the full
// replica set (target first, then the replicas being removed), `adding_replicas` the target
// replicas that were not in the original set and `removing_replicas` the original ones that are
// not in the target.
//
// Decoders never throw: malformed JSON, missing required keys and wrong types give nullopt (or
// an error message); unknown keys are ignored.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/metadata_store.h"
#include "common/config.h"
#include "common/result.h"

namespace rill::cluster::zk_codec {

// ---- paths ------------------------------------------------------------------------------------

inline constexpr const char* kBrokerIds = "/brokers/ids";
inline constexpr const char* kTopics = "/brokers/topics";
inline constexpr const char* kConfigTopics = "/config/topics";
inline constexpr const char* kConfigGroups = "/config/groups";
inline constexpr const char* kController = "/controller";
inline constexpr const char* kControllerEpoch = "/controller_epoch";
inline constexpr const char* kClusterId = "/cluster/id";
inline constexpr const char* kPidBlock = "/latest_producer_id_block";
inline constexpr const char* kShutdowns = "/rill/controlled_shutdown";
inline constexpr const char* kOfflineReplicas = "/rill/offline_replicas";
inline constexpr const char* kLogDirEvents = "/log_dir_event_notification";
inline constexpr const char* kLogDirEventPrefix = "/log_dir_event_notification/log_dir_event_";

std::string broker_path(int32_t id);  // /brokers/ids/<id>
std::string topic_path(const std::string& topic);
std::string partitions_path(const std::string& topic);
std::string partition_path(const std::string& topic, int32_t partition);
std::string state_path(const std::string& topic, int32_t partition);
std::string config_path(const std::string& topic);        // /config/topics/<t>
std::string group_config_path(const std::string& group);  // /config/groups/<g>
std::string shutdown_path(int32_t id);                    // /rill/controlled_shutdown/<id>
std::string offline_replicas_path(int32_t id);            // /rill/offline_replicas/<id>

// What a watch event's path refers to (kind::other for paths the store does not watch).
struct watched_path {
    enum class kind {
        other,
        broker_list,        // /brokers/ids
        topic_list,         // /brokers/topics
        topic,              // /brokers/topics/<topic>
        state,              // /brokers/topics/<topic>/partitions/<partition>/state
        config_list,        // /config/topics
        config,             // /config/topics/<topic>
        group_config_list,  // /config/groups
        group_config,       // /config/groups/<group> (KIP-848 group configs)
        controller,         // /controller
        shutdowns,          // /rill/controlled_shutdown
        offline_replicas,   // /rill/offline_replicas and /rill/offline_replicas/<id>
        log_dir_events,     // /log_dir_event_notification
        pid_block,          // /latest_producer_id_block
    };
    kind what = kind::other;
    std::string topic;
    int32_t partition = -1;
};
watched_path classify(const std::string& path);

// ---- payloads -----------------------------------------------------------------------------------

// /brokers/ids/<id>. The top-level host/port are the first endpoint's (-1 and "" without one).
// A listener name that is not a security protocol maps to PLAINTEXT in the protocol map.
std::string encode_broker(const broker_info& b, int64_t timestamp_ms);
// Reads `endpoints` (IPv6 hosts may be bracketed), falling back to host/port for registrations
// without endpoints; entries that do not parse are skipped.
std::optional<broker_info> decode_broker(int32_t id, const std::string& data);

// /brokers/topics/<t>: the replica assignment, keyed by partition id.
struct topic_znode {
    protocol::uuid id;  // zero when the znode has no (valid) topic_id
    std::map<int32_t, std::vector<int32_t>> partitions;
    std::map<int32_t, std::vector<int32_t>> adding;
    std::map<int32_t, std::vector<int32_t>> removing;
    bool operator==(const topic_znode&) const = default;
};
std::string encode_topic(const topic_znode& t);
std::optional<topic_znode> decode_topic(const std::string& data);
// The znode that describes `t` (its id, replicas and ongoing reassignments).
topic_znode topic_znode_of(const topic_info& t);

// Starts (non-empty `target`) or cancels (empty `target`) the reassignment of `partition` in
// `t`, in the layout described above. A new target replaces an ongoing reassignment; its
// original replica set is kept. REQUIRES: `partition` is in t.partitions, `target` has no
// duplicates. false (and `t` unchanged) when cancelling with no reassignment in progress.
bool reassign(topic_znode& t, int32_t partition, const std::vector<int32_t>& target);

// /brokers/topics/<t>/partitions/<p>/state (Kafka's LeaderAndIsr with the controller epoch).
struct partition_state {
    int32_t leader = -1;
    int32_t leader_epoch = 0;
    int32_t controller_epoch = 0;
    std::vector<int32_t> isr;
    bool operator==(const partition_state&) const = default;
};
std::string encode_state(const partition_state& s);
std::string encode_state(int32_t leader, int32_t leader_epoch, const std::vector<int32_t>& isr,
                         int32_t controller_epoch);
// leader, leader_epoch and isr are required; a missing controller_epoch reads as 0.
std::optional<partition_state> decode_state(const std::string& data);

// /config/topics/<t>. Non-string values (older tools) are kept in their JSON text form.
std::string encode_topic_config(const config_values& configs);
std::optional<config_values> decode_topic_config(const std::string& data);

// /controller and /controller_epoch.
std::string encode_controller(int32_t broker_id, int64_t timestamp_ms);
std::optional<int32_t> decode_controller(const std::string& data);  // the brokerid
std::string encode_controller_epoch(int32_t epoch);
std::optional<int32_t> decode_controller_epoch(const std::string& data);

// /rill/offline_replicas/<id>: the broker's offline replicas (sorted, no duplicates).
using partition_set = std::set<std::pair<std::string, int32_t>>;
std::string encode_offline_replicas(const partition_set& partitions);
std::optional<partition_set> decode_offline_replicas(const std::string& data);
// /log_dir_event_notification/log_dir_event_<seq> (Kafka's LogDirEventNotification, event 1:
// a log dir failure). decode: the broker id.
std::string encode_log_dir_event(int32_t broker);
std::optional<int32_t> decode_log_dir_event(const std::string& data);

// /latest_producer_id_block: the block [start, end] handed to `broker`.
std::string encode_pid_block(int32_t broker, int64_t start, int64_t end);
result<int64_t, std::string> decode_pid_block_end(const std::string& data);

// /cluster/id.
std::string encode_cluster_id(const std::string& id);
result<std::string, std::string> decode_cluster_id(const std::string& data);

}  // namespace rill::cluster::zk_codec
