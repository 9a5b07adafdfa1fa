#include "common/config.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <limits>

#include "common/security_config_defs.h"

namespace rill {
namespace {

using T = config_type;
constexpr double kI32Max = std::numeric_limits<int32_t>::max();
constexpr double kI64Max = 9.2233720368547758e18;

// Broker keys with Kafka's names and defaults. Where Rill's single-node default differs from
// Kafka's (listeners, log.dirs), the doc says so.
const std::vector<config_def>& core_broker_defs() {
    static const std::vector<config_def> defs = {
        {"broker.id", T::int32, "0", "The broker's node id.", -1, kI32Max},
        {"node.id", T::int32, std::nullopt, "Alias of broker.id.", -1, kI32Max},
        {"broker.rack", T::string, std::nullopt, "Rack of the broker, for rack-aware assignment."},
        {"listeners", T::list, "PLAINTEXT://127.0.0.1:9092",
         "Comma-separated listener URIs (Rill defaults to loopback port 9092)."},
        {"advertised.listeners", T::list, std::nullopt,
         "Listeners published to clients in Metadata; defaults to listeners."},
        {"listener.security.protocol.map", T::string,
         "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
         "Listener name to security protocol."},
        {"log.dirs", T::list, std::nullopt, "Directories holding the log data; overrides log.dir."},
        {"log.dir", T::string, "./data", "Directory holding the log data (Rill: ./data)."},
        {"num.partitions",
         T::int32,
         "1",
         "Default partition count of auto-created topics.",
         1,
         kI32Max,
         {},
         false},
        {"default.replication.factor", T::int32, "1", "Default replication factor of topics.", 1,
         kI32Max},
        {"auto.create.topics.enable", T::boolean, "true", "Create topics on metadata requests."},
        {"delete.topic.enable", T::boolean, "true", "Allow topics to be deleted."},
        {"log.retention.hours", T::int32, "168", "Hours to keep a segment.", -1, kI32Max},
        {"log.retention.minutes",
         T::int32,
         std::nullopt,
         "Minutes to keep a segment.",
         -1,
         kI32Max,
         {},
         false},
        {"log.retention.ms",
         T::int64,
         std::nullopt,
         "Milliseconds to keep a segment; -1: forever.",
         -1,
         kI64Max,
         {},
         false},
        {"log.retention.bytes",
         T::int64,
         "-1",
         "Maximum partition size before deleting segments.",
         -1,
         kI64Max,
         {},
         false},
        {"log.retention.check.interval.ms", T::int64, "300000", "How often retention runs.", 1,
         kI64Max},
        {"log.segment.bytes",
         T::int32,
         "1073741824",
         "Maximum size of a segment file.",
         14,
         kI32Max,
         {},
         false},
        {"log.roll.hours", T::int32, "168", "Maximum age of the active segment.", 1, kI32Max},
        {"log.roll.ms",
         T::int64,
         std::nullopt,
         "Maximum age of the active segment in ms.",
         1,
         kI64Max,
         {},
         false},
        {"log.index.interval.bytes",
         T::int32,
         "4096",
         "Bytes between offset index entries.",
         0,
         kI32Max,
         {},
         false},
        {"log.index.size.max.bytes",
         T::int32,
         "10485760",
         "Maximum offset index size.",
         4,
         kI32Max,
         {},
         false},
        {"log.flush.interval.messages",
         T::int64,
         "9223372036854775807",
         "Messages accumulated before a flush.",
         1,
         kI64Max,
         {},
         false},
        {"log.flush.interval.ms",
         T::int64,
         std::nullopt,
         "Maximum time before a flush.",
         0,
         kI64Max,
         {},
         false},
        {"log.flush.scheduler.interval.ms", T::int64, "9223372036854775807",
         "How often the flusher checks logs.", 0, kI64Max},
        {"log.cleanup.policy",
         T::list,
         "delete",
         "Default cleanup policy.",
         -1e300,
         1e300,
         {"delete", "compact"},
         false},
        {"log.cleaner.enable", T::boolean, "true", "Run the log cleaner (compaction)."},
        {"log.cleaner.delete.retention.ms",
         T::int64,
         "86400000",
         "How long tombstones are kept.",
         0,
         kI64Max,
         {},
         false},
        {"log.cleaner.min.cleanable.ratio",
         T::float64,
         "0.5",
         "Minimum dirty ratio before a log is cleaned.",
         0,
         1,
         {},
         false},
        {"log.cleaner.min.compaction.lag.ms",
         T::int64,
         "0",
         "Minimum age of a record before compaction.",
         0,
         kI64Max,
         {},
         false},
        {"log.cleaner.max.compaction.lag.ms",
         T::int64,
         "9223372036854775807",
         "Maximum time a record stays uncompacted.",
         1,
         kI64Max,
         {},
         false},
        {"log.cleaner.backoff.ms", T::int64, "15000", "Sleep when there is nothing to clean.", 0,
         kI64Max},
        {"log.message.timestamp.type",
         T::string,
         "CreateTime",
         "Timestamp type of messages.",
         -1e300,
         1e300,
         {"CreateTime", "LogAppendTime"},
         false},
        // Produce-time record validation (Kafka's LogValidator; KIP-937 timestamp bounds).
        {"log.message.timestamp.before.max.ms",
         T::int64,
         "9223372036854775807",
         "Largest accepted age of a CreateTime record timestamp.",
         0,
         kI64Max,
         {},
         false},
        {"log.message.timestamp.after.max.ms",
         T::int64,
         "3600000",
         "Largest accepted lead of a CreateTime record timestamp over the broker clock "
         "(Kafka 4's default: 1 hour).",
         0,
         kI64Max,
         {},
         false},
        {"log.message.timestamp.difference.max.ms",
         T::int64,
         "9223372036854775807",
         "Deprecated: caps both before.max and after.max.",
         0,
         kI64Max,
         {},
         false},
        // Fetch v0-v3 down-conversion (magic-2 batches to magic 0/1 message sets).
        {"log.message.downconversion.enable",
         T::boolean,
         "true",
         "Down-convert records for Fetch v0-v3; false: those fetches get UNSUPPORTED_VERSION.",
         -1e300,
         1e300,
         {},
         false},
        {"log.message.format.version",
         T::string,
         "3.0-IV1",
         "Deprecated: accepted and shown, ignored (always magic 2), as Kafka 3.x does.",
         -1e300,
         1e300,
         {},
         false},
        {"max.incremental.fetch.session.cache.slots", T::int32, "1000",
         "Maximum number of incremental fetch sessions (KIP-227) the broker keeps.", 0, kI32Max},
        {"rill.produce.max.inflated.bytes",
         T::int64,
         "134217728",
         "Bytes the compressed records of one produce request may inflate to.",
         1024,
         kI64Max,
         {},
         false},
        {"rill.validation.threads", T::int32, "0",
         "Threads that validate large or compressed produce batches off the shards; 0: one per "
         "core.",
         0, 256},
        {"log.preallocate",
         T::boolean,
         "false",
         "Preallocate segment files.",
         -1e300,
         1e300,
         {},
         false},
        {"message.max.bytes",
         T::int32,
         "1048588",
         "Largest record batch size allowed.",
         0,
         kI32Max,
         {},
         false},
        {"compression.type",
         T::string,
         "producer",
         "Final compression of topic data.",
         -1e300,
         1e300,
         {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
         false},
        {"min.insync.replicas",
         T::int32,
         "1",
         "Minimum in-sync replicas for acks=all.",
         1,
         kI32Max,
         {},
         false},
        {"unclean.leader.election.enable",
         T::boolean,
         "false",
         "Allow out-of-sync replicas to become leader.",
         -1e300,
         1e300,
         {},
         false},
        {"socket.request.max.bytes", T::int32, "104857600",
         "Maximum request size; a larger announced size closes the connection.", 1, kI32Max},
        {"socket.send.buffer.bytes", T::int32, "102400", "SO_SNDBUF; -1: OS default.", -1, kI32Max},
        {"socket.receive.buffer.bytes", T::int32, "102400", "SO_RCVBUF; -1: OS default.", -1,
         kI32Max},
        {"connections.max.idle.ms", T::int64, "600000",
         "Connections with no bytes read or written (and no request being handled) for this "
         "long are closed; negative: never.",
         -kI64Max, kI64Max},
        {"max.connections",
         T::int32,
         "2147483647",
         "Maximum connections per broker; at the limit, new connections wait until one closes.",
         0,
         kI32Max,
         {},
         false},
        {"max.connections.per.ip", T::int32, "2147483647",
         "Maximum connections from one IP address; more are closed at once. 0 needs "
         "max.connections.per.ip.overrides.",
         0, kI32Max},
        {"max.connections.per.ip.overrides", T::string, "",
         "Per-IP or host name overrides of max.connections.per.ip, e.g. "
         "\"hostName:100,127.0.0.1:200\"."},
        {"queued.max.request.bytes", T::int64, "-1",
         "Bytes of requests being read or handled, over all connections, before more wait; at "
         "least socket.request.max.bytes. -1 (Rill): 512 MiB, or socket.request.max.bytes if "
         "larger (Kafka: unbounded).",
         -1, kI64Max},
        {"num.network.threads", T::int32, "3", "Accepted for compatibility; see num.shards.", 1,
         kI32Max},
        {"num.io.threads", T::int32, "8", "Accepted for compatibility; see num.shards.", 1,
         kI32Max},
        {"num.shards", T::int32, "0",
         "Rill: executor threads owning partitions and connections; 0 (the default): one per "
         "core.",
         0, 1024},
        {"rill.acks.all.fsync", T::boolean, "true",
         "Rill: acks=all on a single replica waits for the batch to be fsynced (group commit). "
         "false gives Kafka's page-cache behaviour."},
        {"rill.log.level",
         T::string,
         "info",
         "Rill: level of every logger at start (debug logs one line per request).",
         -1e300,
         1e300,
         {"trace", "debug", "info", "warn", "error", "critical", "off"}},
        {"offsets.topic.num.partitions", T::int32, "50", "Partitions of __consumer_offsets.", 1,
         kI32Max},
        {"offsets.topic.replication.factor", T::int32, "3",
         "Replication factor of __consumer_offsets (capped at the live broker count).", 1, 32767},
        {"offsets.topic.segment.bytes", T::int32, "104857600",
         "Segment size of __consumer_offsets.", 1, kI32Max},
        {"offsets.retention.minutes", T::int32, "10080",
         "Committed offsets of an empty group expire after this.", 1, kI32Max},
        {"offsets.retention.check.interval.ms", T::int64, "600000",
         "How often expired offsets are removed.", 1, kI64Max},
        {"offset.metadata.max.bytes", T::int32, "4096", "Maximum offset commit metadata size.", 0,
         kI32Max},
        {"offsets.commit.timeout.ms", T::int32, "5000",
         "An offset commit (any group coordinator write) waits this long for the ISR of its "
         "__consumer_offsets partition (and the fsync with rill.acks.all.fsync=true).",
         1, kI32Max},
        {"transaction.state.log.num.partitions", T::int32, "50",
         "Partitions of __transaction_state.", 1, kI32Max},
        {"transaction.state.log.replication.factor", T::int32, "3",
         "Replication factor of __transaction_state.", 1, 32767},
        {"transaction.state.log.min.isr", T::int32, "2",
         "min.insync.replicas of "
         "__transaction_state.",
         1, kI32Max},
        {"transaction.max.timeout.ms", T::int32, "900000", "Maximum transaction timeout.", 1,
         kI32Max},
        {"transactional.id.expiration.ms", T::int32, "604800000",
         "Idle transactional ids expire after this.", 1, kI32Max},
        {"group.initial.rebalance.delay.ms", T::int32, "3000",
         "Delay before the first rebalance of a new group.", 0, kI32Max},
        {"group.min.session.timeout.ms", T::int32, "6000", "Minimum consumer session timeout.", 0,
         kI32Max},
        {"group.max.session.timeout.ms", T::int32, "1800000", "Maximum consumer session timeout.",
         0, kI32Max},
        {"group.max.size", T::int32, "2147483647", "Maximum members of one group.", 1, kI32Max},
        {"group.consumer.session.timeout.ms", T::int32, "45000",
         "Consumer protocol (KIP-848): a member not heard from for this long is removed.", 1,
         kI32Max},
        {"group.consumer.heartbeat.interval.ms", T::int32, "5000",
         "Consumer protocol (KIP-848): the heartbeat interval given to members.", 1, kI32Max},
        {"group.consumer.max.size", T::int32, "2147483647",
         "Consumer protocol (KIP-848): maximum members of one consumer group.", 1, kI32Max},
        {"group.consumer.assignors",
         T::list,
         "uniform,range",
         "Consumer protocol (KIP-848): the server-side assignors (uniform, range); the first is "
         "the default.",
         -1e300,
         1e300,
         {"uniform", "range", "org.apache.kafka.coordinator.group.assignor.UniformAssignor",
          "org.apache.kafka.coordinator.group.assignor.RangeAssignor"}},
        {"replica.lag.time.max.ms", T::int64, "30000",
         "Followers not caught up for this long leave the ISR.", 0, kI64Max},
        {"replica.fetch.max.bytes", T::int32, "1048576", "Bytes per partition a follower fetches.",
         0, kI32Max},
        {"replica.fetch.wait.max.ms", T::int32, "500", "Follower fetch long-poll time.", 0,
         kI32Max},
        {"replica.fetch.backoff.ms", T::int32, "1000",
         "Pause after a follower's fetch of a partition failed.", 0, kI32Max},
        {"auto.leader.rebalance.enable", T::boolean, "true",
         "Move leadership back to preferred replicas."},
        {"leader.imbalance.check.interval.seconds", T::int64, "300",
         "How often the controller checks the preferred-leader balance.", 1, kI64Max},
        {"controlled.shutdown.enable", T::boolean, "true", "Move leadership away before stopping."},
        {"zookeeper.connect", T::string, std::nullopt,
         "ZooKeeper hosts[/chroot]; unset runs the embedded metadata store."},
        {"zookeeper.session.timeout.ms", T::int32, "18000", "ZooKeeper session timeout.", 1,
         kI32Max},
        {"zookeeper.connection.timeout.ms", T::int32, std::nullopt,
         "Time to wait for a ZooKeeper connection.", 1, kI32Max},
        {"admin.listeners", T::list, "http://127.0.0.1:9644",
         "Rill: HTTP admin endpoint listeners; empty disables it."},
        {"admin.auth.token",
         T::password,
         std::nullopt,
         "Rill: bearer token required for mutating admin calls.",
         -1e300,
         1e300,
         {},
         true,
         true},
        {"metrics.partition.level.enable", T::boolean, "false",
         "Rill: export per-partition log size and end offset metrics."},
    };
    return defs;
}

// The core keys and the TLS/SASL keys (security_config_defs.cc).
const std::vector<config_def>& broker_defs() {
    static const std::vector<config_def> defs = [] {
        std::vector<config_def> all = core_broker_defs();
        const auto& sec = security_config_defs();
        all.insert(all.end(), sec.begin(), sec.end());
        return all;
    }();
    return defs;
}

// Topic keys with Kafka's TopicConfig names; synonyms are the broker keys they fall back to.
const std::vector<config_def>& topic_defs() {
    static const std::vector<config_def> defs = {
        {"cleanup.policy",
         T::list,
         "delete",
         "delete and/or compact.",
         -1e300,
         1e300,
         {"delete", "compact"},
         false,
         false,
         {"log.cleanup.policy"}},
        {"compression.type",
         T::string,
         "producer",
         "Final compression of the topic's data.",
         -1e300,
         1e300,
         {"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"},
         false,
         false,
         {"compression.type"}},
        {"delete.retention.ms",
         T::int64,
         "86400000",
         "How long tombstones are kept.",
         0,
         kI64Max,
         {},
         false,
         false,
         {"log.cleaner.delete.retention.ms"}},
        {"file.delete.delay.ms",
         T::int64,
         "60000",
         "Delay before deleting a file.",
         0,
         kI64Max,
         {},
         false,
         false,
         {"log.segment.delete.delay.ms"}},
        {"flush.messages",
         T::int64,
         "9223372036854775807",
         "Messages between forced flushes.",
         1,
         kI64Max,
         {},
         false,
         false,
         {"log.flush.interval.messages"}},
        {"flush.ms",
         T::int64,
         "9223372036854775807",
         "Time between forced flushes.",
         0,
         kI64Max,
         {},
         false,
         false,
         {"log.flush.interval.ms"}},
        {"index.interval.bytes",
         T::int32,
         "4096",
         "Bytes between offset index entries.",
         0,
         kI32Max,
         {},
         false,
         false,
         {"log.index.interval.bytes"}},
        {"max.compaction.lag.ms",
         T::int64,
         "9223372036854775807",
         "Maximum time a record stays uncompacted.",
         1,
         kI64Max,
         {},
         false,
         false,
         {"log.cleaner.max.compaction.lag.ms"}},
        {"max.message.bytes",
         T::int32,
         "1048588",
         "Largest record batch size allowed.",
         0,
         kI32Max,
         {},
         false,
         false,
         {"message.max.bytes"}},
        {"message.timestamp.before.max.ms",
         T::int64,
         "9223372036854775807",
         "Largest accepted age of a CreateTime record timestamp.",
         0,
         kI64Max,
         {},
         false,
         false,
         {"log.message.timestamp.before.max.ms"}},
        {"message.timestamp.after.max.ms",
         T::int64,
         "3600000",
         "Largest accepted lead of a CreateTime record timestamp over the broker clock.",
         0,
         kI64Max,
         {},
         false,
         false,
         {"log.message.timestamp.after.max.ms"}},
        {"message.timestamp.difference.max.ms",
         T::int64,
         "9223372036854775807",
         "Deprecated: caps both message.timestamp.before.max.ms and after.max.ms.",
         0,
         kI64Max,
         {},
         false,
         false,
         {"log.message.timestamp.difference.max.ms"}},
        {"message.timestamp.type",
         T::string,
         "CreateTime",
         "CreateTime or LogAppendTime.",
         -1e300,
         1e300,
         {"CreateTime", "LogAppendTime"},
         false,
         false,
         {"log.message.timestamp.type"}},
        {"min.cleanable.dirty.ratio",
         T::float64,
         "0.5",
         "Dirty ratio that triggers cleaning.",
         0,
         1,
         {},
         false,
         false,
         {"log.cleaner.min.cleanable.ratio"}},
        {"min.compaction.lag.ms",
         T::int64,
         "0",
         "Minimum age of a record before compaction.",
         0,
         kI64Max,
         {},
         false,
         false,
         {"log.cleaner.min.compaction.lag.ms"}},
        {"min.insync.replicas",
         T::int32,
         "1",
         "Minimum in-sync replicas for acks=all.",
         1,
         kI32Max,
         {},
         false,
         false,
         {"min.insync.replicas"}},
        {"preallocate",
         T::boolean,
         "false",
         "Preallocate segment files.",
         -1e300,
         1e300,
         {},
         false,
         false,
         {"log.preallocate"}},
        {"retention.bytes",
         T::int64,
         "-1",
         "Maximum partition size; -1: unlimited.",
         -1,
         kI64Max,
         {},
         false,
         false,
         {"log.retention.bytes"}},
        {"retention.ms",
         T::int64,
         "604800000",
         "Maximum age of data; -1: unlimited.",
         -1,
         kI64Max,
         {},
         false,
         false,
         {"log.retention.ms", "log.retention.minutes", "log.retention.hours"}},
        {"segment.bytes",
         T::int32,
         "1073741824",
         "Segment file size.",
         14,
         kI32Max,
         {},
         false,
         false,
         {"log.segment.bytes"}},
        {"segment.index.bytes",
         T::int32,
         "10485760",
         "Offset index size.",
         4,
         kI32Max,
         {},
         false,
         false,
         {"log.index.size.max.bytes"}},
        {"segment.jitter.ms",
         T::int64,
         "0",
         "Random jitter subtracted from segment.ms.",
         0,
         kI64Max,
         {},
         false,
         false,
         {"log.roll.jitter.ms", "log.roll.jitter.hours"}},
        {"segment.ms",
         T::int64,
         "604800000",
         "Maximum age of the active segment.",
         1,
         kI64Max,
         {},
         false,
         false,
         {"log.roll.ms", "log.roll.hours"}},
        {"unclean.leader.election.enable",
         T::boolean,
         "false",
         "Allow out-of-sync replicas to become leader.",
         -1e300,
         1e300,
         {},
         false,
         false,
         {"unclean.leader.election.enable"}},
        {"message.downconversion.enable",
         T::boolean,
         "true",
         "Down-convert for old fetch versions.",
         -1e300,
         1e300,
         {},
         false,
         false,
         {"log.message.downconversion.enable"}},
        {"message.format.version",
         T::string,
         "3.0-IV1",
         "Deprecated: accepted and shown, ignored (always magic 2), as Kafka 3.x does.",
         -1e300,
         1e300,
         {},
         false,
         false,
         {"log.message.format.version"}},
    };
    return defs;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

std::vector<std::string> split_list(std::string_view s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        if (comma == std::string_view::npos) comma = s.size();
        auto item = trim(s.substr(start, comma - start));
        if (!item.empty()) out.emplace_back(item);
        start = comma + 1;
    }
    return out;
}

template <typename I>
bool parse_int(std::string_view s, I& out) {
    s = trim(s);
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

bool parse_double(std::string_view s, double& out) {
    std::string tmp(trim(s));
    if (tmp.empty()) return false;
    char* end = nullptr;
    out = std::strtod(tmp.c_str(), &end);
    return end == tmp.c_str() + tmp.size();
}

const config_def* find_in(const std::vector<config_def>& defs, std::string_view name) {
    for (const auto& d : defs)
        if (d.name == name) return &d;
    return nullptr;
}

}  // namespace

std::span<const config_def> broker_config_defs() {
    return broker_defs();
}
std::span<const config_def> topic_config_defs() {
    return topic_defs();
}
const config_def* find_broker_config(std::string_view name) {
    return find_in(broker_defs(), name);
}
const config_def* find_topic_config(std::string_view name) {
    return find_in(topic_defs(), name);
}

result<void, std::string> validate_config_value(const config_def& def, std::string_view value) {
    auto bad = [&](std::string_view why) {
        return unexpected{std::string("Invalid value '") + std::string(value) + "' for " +
                          std::string(def.name) + ": " + std::string(why)};
    };
    switch (def.type) {
        case T::boolean: {
            auto v = trim(value);
            if (v != "true" && v != "false") return bad("expected true or false");
            return {};
        }
        case T::int32:
        case T::int64: {
            int64_t v = 0;
            if (!parse_int(value, v)) return bad("expected an integer");
            if (def.type == T::int32 && (v < std::numeric_limits<int32_t>::min() ||
                                         v > std::numeric_limits<int32_t>::max()))
                return bad("out of the 32-bit range");
            if (static_cast<double>(v) < def.min || static_cast<double>(v) > def.max)
                return bad("out of range [" + std::to_string(static_cast<int64_t>(def.min)) + ", " +
                           std::to_string(static_cast<int64_t>(def.max)) + "]");
            return {};
        }
        case T::float64: {
            double v = 0;
            if (!parse_double(value, v)) return bad("expected a number");
            if (v < def.min || v > def.max) return bad("out of range");
            return {};
        }
        case T::string:
            if (!def.allowed.empty() &&
                std::find(def.allowed.begin(), def.allowed.end(), trim(value)) == def.allowed.end())
                return bad("not one of the allowed values");
            return {};
        case T::list:
            if (!def.allowed.empty()) {
                for (const auto& item : split_list(value))
                    if (std::find(def.allowed.begin(), def.allowed.end(), item) ==
                        def.allowed.end())
                        return bad("'" + item + "' is not an allowed value");
            }
            return {};
        case T::password:
            return {};
    }
    return {};
}

result<void, std::string> validate_topic_configs(const config_values& values) {
    for (const auto& [k, v] : values.all()) {
        const config_def* def = find_topic_config(k);
        if (!def) return unexpected{"Unknown topic config name: " + k};
        if (auto r = validate_config_value(*def, v); !r) return r;
    }
    return {};
}

result<config_values, std::string> parse_properties(std::string_view text) {
    config_values out;
    size_t pos = 0;
    int line_no = 0;
    std::string pending;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        auto raw = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++line_no;
        auto line = trim(raw);
        if (pending.empty() && (line.empty() || line.front() == '#' || line.front() == '!'))
            continue;
        if (!line.empty() && line.back() == '\\') {
            line.remove_suffix(1);
            pending += std::string(trim(line));
            continue;
        }
        std::string full = pending + std::string(line);
        pending.clear();
        if (full.empty()) continue;
        size_t sep = full.find_first_of("=:");
        if (sep == std::string::npos)
            return unexpected{"line " + std::to_string(line_no) + ": expected key=value, got '" +
                              full + "'"};
        auto key = trim(std::string_view(full).substr(0, sep));
        auto value = trim(std::string_view(full).substr(sep + 1));
        if (key.empty()) return unexpected{"line " + std::to_string(line_no) + ": empty key"};
        out.set(std::string(key), std::string(value));
    }
    return out;
}

result<broker_config, std::string> broker_config::make(config_values values,
                                                       std::vector<std::string>* unknown) {
    for (const auto& [k, v] : values.all()) {
        const config_def* def = find_broker_config(k);
        if (!def) def = find_listener_override(k);  // listener.name.<listener>.ssl...
        if (!def) {
            if (unknown) unknown->push_back(k);
            continue;
        }
        if (auto r = validate_config_value(*def, v); !r) return unexpected{r.error()};
    }
    broker_config c;
    c.static_ = std::move(values);
    if (const auto* id = c.static_.get("node.id"); id && !c.static_.get("broker.id"))
        c.static_.set("broker.id", *id);
    return c;
}

broker_config::broker_config(const broker_config& o) : static_(o.static_), dynamic_(o.dynamic()) {}

broker_config& broker_config::operator=(const broker_config& o) {
    if (this == &o) return *this;
    auto d = o.dynamic();
    static_ = o.static_;
    std::lock_guard lock(mu_);
    dynamic_ = std::move(d);
    return *this;
}

std::shared_ptr<const config_values> broker_config::dynamic() const {
    std::lock_guard lock(mu_);
    return dynamic_;
}

config_values broker_config::dynamic_values() const {
    return *dynamic();
}

std::optional<std::string> broker_config::get(std::string_view name) const {
    if (const auto* v = dynamic()->get(name)) return *v;
    if (const auto* v = static_.get(name)) return *v;
    if (const auto* def = find_broker_config(name); def && def->default_value)
        return std::string(*def->default_value);
    return std::nullopt;
}

bool broker_config::get_bool(std::string_view name) const {
    return get(name) == "true";
}

int64_t broker_config::get_int(std::string_view name) const {
    int64_t v = 0;
    if (auto s = get(name)) parse_int(*s, v);
    return v;
}

double broker_config::get_double(std::string_view name) const {
    double v = 0;
    if (auto s = get(name)) parse_double(*s, v);
    return v;
}

std::string broker_config::get_string(std::string_view name) const {
    auto v = get(name);
    return v ? *v : std::string();
}

std::vector<std::string> broker_config::get_list(std::string_view name) const {
    auto v = get(name);
    return v ? split_list(*v) : std::vector<std::string>{};
}

bool broker_config::is_set(std::string_view name) const {
    return dynamic()->get(name) || static_.get(name);
}

config_source broker_config::source(std::string_view name) const {
    if (dynamic()->get(name)) return config_source::dynamic_default_broker;
    if (static_.get(name)) return config_source::static_broker;
    return config_source::default_config;
}

result<void, std::string> broker_config::set_dynamic(const std::string& name,
                                                     const std::string& value) {
    const config_def* def = find_broker_config(name);
    if (!def) return unexpected{"Unknown broker config " + name};
    if (def->read_only)
        return unexpected{"Broker config " + name + " cannot be changed at runtime"};
    if (auto r = validate_config_value(*def, value); !r) return r;
    std::lock_guard lock(mu_);
    auto next = std::make_shared<config_values>(*dynamic_);
    next->set(name, value);
    dynamic_ = std::move(next);
    return {};
}

void broker_config::erase_dynamic(const std::string& name) {
    std::lock_guard lock(mu_);
    auto next = std::make_shared<config_values>(*dynamic_);
    next->erase(name);
    dynamic_ = std::move(next);
}

void broker_config::replace_dynamic(config_values values) {
    auto next = std::make_shared<const config_values>(std::move(values));
    std::lock_guard lock(mu_);
    dynamic_ = std::move(next);
}

int64_t broker_config::log_retention_ms() const {
    if (is_set("log.retention.ms")) return get_int("log.retention.ms");
    if (is_set("log.retention.minutes")) return get_int("log.retention.minutes") * 60'000;
    int64_t h = get_int("log.retention.hours");
    return h < 0 ? -1 : h * 3'600'000;
}

int64_t broker_config::log_roll_ms() const {
    if (is_set("log.roll.ms")) return get_int("log.roll.ms");
    return get_int("log.roll.hours") * 3'600'000;
}

std::optional<std::string> synonym_to_topic_value(std::string_view synonym,
                                                  const std::string& value) {
    int64_t v = 0;
    if (synonym.ends_with(".hours") && parse_int(value, v))
        return std::to_string(v < 0 ? -1 : v * 3'600'000);
    if (synonym.ends_with(".minutes") && parse_int(value, v))
        return std::to_string(v < 0 ? -1 : v * 60'000);
    return value;
}

std::vector<topic_config_entry> describe_topic_config(const config_values& overrides,
                                                      const broker_config& broker) {
    std::vector<topic_config_entry> out;
    for (const auto& def : topic_defs()) {
        topic_config_entry e;
        e.name = std::string(def.name);
        e.sensitive = def.sensitive;
        if (const auto* v = overrides.get(def.name)) {
            e.synonyms.push_back({e.name, *v, config_source::dynamic_topic});
        }
        for (auto syn : def.synonyms) {
            if (!broker.is_set(syn)) continue;
            auto raw = broker.get(syn);
            e.synonyms.push_back({std::string(syn), raw, broker.source(syn)});
        }
        if (!e.synonyms.empty()) {
            const auto& first = e.synonyms.front();
            e.source = first.source;
            e.value = first.source == config_source::dynamic_topic || !first.value
                          ? first.value
                          : synonym_to_topic_value(first.name, *first.value);
        } else {
            e.value =
                def.default_value ? std::optional<std::string>(*def.default_value) : std::nullopt;
            e.source = config_source::default_config;
        }
        // The default entry, named like Kafka does: the first broker synonym with a default.
        bool have_default = false;
        for (auto syn : def.synonyms) {
            const config_def* bdef = find_broker_config(syn);
            if (bdef && bdef->default_value) {
                e.synonyms.push_back({std::string(syn), std::string(*bdef->default_value),
                                      config_source::default_config});
                have_default = true;
                break;
            }
        }
        if (!have_default && def.default_value)
            e.synonyms.push_back(
                {e.name, std::string(*def.default_value), config_source::default_config});
        out.push_back(std::move(e));
    }
    return out;
}

std::optional<std::string> topic_config_value(std::string_view name, const config_values& overrides,
                                              const broker_config& broker) {
    if (const auto* v = overrides.get(name)) return *v;
    const config_def* def = find_topic_config(name);
    if (!def) return std::nullopt;
    for (auto syn : def->synonyms) {
        if (!broker.is_set(syn)) continue;
        if (auto raw = broker.get(syn)) return synonym_to_topic_value(syn, *raw);
    }
    return def->default_value ? std::optional<std::string>(*def->default_value) : std::nullopt;
}

}  // namespace rill
