#include "coordinator/group_coordinator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <random>

#include "common/clock.h"
#include "common/logging.h"
#include "coordinator/group.h"
#include "coordinator/offsets_records.h"
#include "protocol/generated/consumer_protocol_assignment.h"
#include "protocol/generated/consumer_protocol_subscription.h"
#include "protocol/record_batch.h"

namespace rill::coordinator {

namespace m = protocol::messages;
using boost::asio::awaitable;
using protocol::error_code;

const char* state_name(group_state s) {
    switch (s) {
        case group_state::empty:
            return "Empty";
        case group_state::preparing_rebalance:
            return "PreparingRebalance";
        case group_state::completing_rebalance:
            return "CompletingRebalance";
        case group_state::stable:
            return "Stable";
        case group_state::dead:
            return "Dead";
    }
    return "Dead";
}

namespace {

int16_t wire(error_code e) {
    return static_cast<int16_t>(e);
}

std::string random_suffix() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    uint64_t a = rng(), b = rng();
    char buf[40];
    std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", static_cast<uint32_t>(a >> 32),
                  static_cast<uint32_t>((a >> 16) & 0xffff), static_cast<uint32_t>(a & 0xffff),
                  static_cast<uint32_t>(b >> 48),
                  static_cast<unsigned long long>(b & 0xffffffffffffULL));
    return buf;
}

// A one-shot value handed from another thread to a coroutine waiting on its own executor.
template <typename T>
class completion : public std::enable_shared_from_this<completion<T>> {
  public:
    static std::shared_ptr<completion> make(boost::asio::any_io_executor ex) {
        return std::shared_ptr<completion>(new completion(ex));
    }
    // Any thread; the first value wins.
    void set(T v) {
        boost::asio::post(ex_, [self = this->shared_from_this(), v = std::move(v)]() mutable {
            if (self->value_) return;
            self->value_ = std::move(v);
            self->timer_.cancel();
        });
    }
    // On the executor given to make().
    awaitable<T> wait() {
        while (!value_) {
            timer_.expires_after(std::chrono::hours(24));
            boost::system::error_code ec;
            co_await timer_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
        }
        co_return std::move(*value_);
    }

  private:
    explicit completion(boost::asio::any_io_executor ex) : ex_(ex), timer_(ex) {}
    boost::asio::any_io_executor ex_;
    boost::asio::steady_timer timer_;
    std::optional<T> value_;
};

std::optional<m::consumer_protocol_subscription> decode_subscription(protocol::bytes_view b) {
    protocol::reader r(b);
    int16_t v = r.read_int16();
    if (!r.ok() || v < 0) return std::nullopt;
    m::consumer_protocol_subscription s;
    s.decode(r, std::min<int16_t>(v, m::consumer_protocol_subscription::max_version));
    if (!r.ok()) return std::nullopt;
    return s;
}

std::optional<m::consumer_protocol_assignment> decode_assignment(protocol::bytes_view b) {
    if (b.empty()) return std::nullopt;
    protocol::reader r(b);
    int16_t v = r.read_int16();
    if (!r.ok() || v < 0) return std::nullopt;
    m::consumer_protocol_assignment a;
    a.decode(r, std::min<int16_t>(v, m::consumer_protocol_assignment::max_version));
    if (!r.ok()) return std::nullopt;
    return a;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// One __consumer_offsets partition and the groups it holds. Touched only on `shard`.

struct offsets_partition {
    int32_t id = 0;
    size_t shard = 0;
    topic_partition tp;
    enum class status { unloaded, loading, loaded } st = status::unloaded;
    std::shared_ptr<storage::partition_log> log;
    int32_t leader_epoch = -1;  // the epoch the groups were loaded at
    int64_t written_end = 0;    // the offset after this coordinator's latest write
    std::map<std::string, std::unique_ptr<group>> groups;
    // Loading: the next offset to read and what was read so far (last value per key wins).
    int64_t load_next = 0;
    std::map<std::string, std::optional<m::group_metadata_value>> staged_groups;
    std::map<std::pair<std::string, topic_partition>, std::optional<committed_offset>>
        staged_offsets;
    int64_t last_expiry_check = 0;

    group* find(const std::string& id) {
        auto it = groups.find(id);
        return it == groups.end() ? nullptr : it->second.get();
    }
};

struct group_coordinator::impl {
    coordinator_host host;
    broker_config& config;
    cluster::metadata_store& metadata;
    std::shared_ptr<spdlog::logger> log = rill::logger("coordinator");

    std::mutex mu;  // guards parts and ticking
    std::shared_ptr<const std::vector<std::shared_ptr<offsets_partition>>> parts =
        std::make_shared<std::vector<std::shared_ptr<offsets_partition>>>();
    std::vector<std::shared_ptr<boost::asio::steady_timer>> tickers;
    std::shared_ptr<std::atomic<bool>> stopped = std::make_shared<std::atomic<bool>>(false);

    impl(coordinator_host h, broker_config& c, cluster::metadata_store& md)
        : host(std::move(h)), config(c), metadata(md) {}

    std::shared_ptr<const std::vector<std::shared_ptr<offsets_partition>>> partitions() {
        std::lock_guard lock(mu);
        return parts;
    }

    // Builds the partition table once the topic exists (any thread).
    void adopt_topic(const cluster::topic_info& t) {
        std::lock_guard lock(mu);
        if (parts->size() == t.partitions.size()) return;
        auto next = std::make_shared<std::vector<std::shared_ptr<offsets_partition>>>();
        for (size_t i = 0; i < t.partitions.size(); ++i) {
            if (i < parts->size()) {
                next->push_back((*parts)[i]);
                continue;
            }
            auto p = std::make_shared<offsets_partition>();
            p->id = static_cast<int32_t>(i);
            p->tp = topic_partition{kOffsetsTopic, p->id};
            p->shard = host.shard_of(p->tp);
            next->push_back(std::move(p));
        }
        parts = std::move(next);
    }

    error_code ensure_topic() {
        auto snap = metadata.snapshot();
        if (const auto* t = snap->find_topic(kOffsetsTopic)) {
            adopt_topic(*t);
            return error_code::none;
        }
        cluster::new_topic nt;
        nt.name = kOffsetsTopic;
        nt.partitions = static_cast<int32_t>(config.get_int("offsets.topic.num.partitions"));
        int64_t rf = config.get_int("offsets.topic.replication.factor");
        int64_t brokers = static_cast<int64_t>(std::max<size_t>(snap->brokers.size(), 1));
        if (rf > brokers && snap->cluster_mode) {
            // Kafka's rule in a cluster: wait for enough brokers rather than create an
            // under-replicated offsets topic for good.
            log->warn("{} needs offsets.topic.replication.factor={} brokers; {} live",
                      kOffsetsTopic, rf, brokers);
            return error_code::coordinator_not_available;
        }
        if (rf > brokers) {
            log->info(
                "offsets.topic.replication.factor={} but {} broker(s) are live: creating {} "
                "with replication factor {}",
                rf, brokers, kOffsetsTopic, brokers);
            rf = brokers;
        }
        nt.replication_factor = static_cast<int16_t>(rf);
        nt.configs.set("cleanup.policy", "compact");
        nt.configs.set("compression.type", "producer");
        nt.configs.set("segment.bytes",
                       std::to_string(config.get_int("offsets.topic.segment.bytes")));
        nt.internal = true;
        auto r = metadata.create_topic(nt, false);
        if (!r && r.error().code != cluster::meta_errc::topic_exists) {
            log->error("cannot create {}: {}", kOffsetsTopic, r.error().message);
            return error_code::coordinator_not_available;
        }
        snap = metadata.snapshot();
        if (const auto* t = snap->find_topic(kOffsetsTopic)) {
            adopt_topic(*t);
            log->info("created {} with {} partitions", kOffsetsTopic, t->partitions.size());
            return error_code::none;
        }
        return error_code::coordinator_not_available;
    }

    // The partition holding `group_id`, creating the topic when needed; nullptr on failure.
    std::shared_ptr<offsets_partition> partition_of(const std::string& group_id) {
        auto ps = partitions();
        if (ps->empty()) {
            if (ensure_topic() != error_code::none) return nullptr;
            ps = partitions();
            if (ps->empty()) return nullptr;
        }
        return (*ps)[partition_for_group(group_id, static_cast<int32_t>(ps->size()))];
    }

    // Runs f(op, done) on op's shard; done(R) resumes the caller with R.
    template <typename R, typename F>
    awaitable<R> on_partition(std::shared_ptr<offsets_partition> p, F f) {
        auto ex = co_await boost::asio::this_coro::executor;
        auto c = completion<R>::make(ex);
        boost::asio::post(*host.shards[p->shard], [this, p, f = std::move(f), c]() mutable {
            f(*p, std::function<void(R)>([c](R r) { c->set(std::move(r)); }));
        });
        co_return co_await c->wait();
    }

    // ---- loading (owner shard) ----

    // NONE when the partition's groups can be used now.
    error_code ready(offsets_partition& op) {
        const int32_t epoch = host.leader_epoch_of ? host.leader_epoch_of(op.tp) : 0;
        if (op.st != offsets_partition::status::unloaded && epoch != op.leader_epoch)
            unload(op, epoch < 0 ? "leadership moved to another broker" : "new leader epoch");
        if (epoch < 0 && host.leader_epoch_of) return error_code::not_coordinator;
        if (op.st == offsets_partition::status::loaded) return error_code::none;
        if (op.st == offsets_partition::status::loading)
            return error_code::coordinator_load_in_progress;
        op.log = host.log_of(op.tp);
        if (!op.log) return error_code::not_coordinator;
        op.st = offsets_partition::status::loading;
        op.leader_epoch = epoch;
        op.load_next = op.log->log_start_offset();
        load_step(op);
        return op.st == offsets_partition::status::loaded
                   ? error_code::none
                   : error_code::coordinator_load_in_progress;
    }

    // Forgets the partition's groups (another broker coordinates them now, or this one must
    // re-read them); members waiting in JoinGroup/SyncGroup are told NOT_COORDINATOR.
    void unload(offsets_partition& op, const char* why) {
        size_t n = op.groups.size();
        for (auto& [id, g] : op.groups)
            for (auto& [mid, mem] : g->members) {
                auto join = std::move(mem->awaiting_join);
                auto sync = std::move(mem->awaiting_sync);
                if (join) join(join_error(error_code::not_coordinator, mid));
                if (sync) sync(sync_error(error_code::not_coordinator));
            }
        op.groups.clear();
        op.staged_groups.clear();
        op.staged_offsets.clear();
        op.log.reset();
        op.st = offsets_partition::status::unloaded;
        op.leader_epoch = -1;
        log->info("{}: unloaded {} group(s): {}", op.tp.dir_name(), n, why);
    }

    void apply_record(offsets_partition& op, const protocol::record_view& rec) {
        if (!rec.key) return;
        auto key = decode_key(*rec.key);
        if (!key) {
            log->warn("{}: skipping a record with an unreadable key at offset {}", op.tp.dir_name(),
                      rec.offset);
            return;
        }
        if (auto* ok = std::get_if<offset_key>(&*key)) {
            auto k = std::make_pair(ok->group, topic_partition{ok->topic, ok->partition});
            if (!rec.value) {
                op.staged_offsets[k] = std::nullopt;
                return;
            }
            auto v = decode_offset_value(*rec.value);
            if (!v) {
                log->warn("{}: skipping an unreadable offset value at offset {}", op.tp.dir_name(),
                          rec.offset);
                return;
            }
            op.staged_offsets[k] = committed_offset{v->offset, v->leader_epoch, v->metadata,
                                                    v->commit_timestamp, v->expire_timestamp};
        } else if (auto* gk = std::get_if<group_key>(&*key)) {
            if (!rec.value) {
                op.staged_groups[gk->group] = std::nullopt;
                // A group tombstone also ends the offsets written before it.
                for (auto it = op.staged_offsets.lower_bound({gk->group, topic_partition{}});
                     it != op.staged_offsets.end() && it->first.first == gk->group; ++it)
                    it->second = std::nullopt;
                return;
            }
            auto v = decode_group_value(*rec.value);
            if (!v) {
                log->warn("{}: skipping an unreadable group value at offset {}", op.tp.dir_name(),
                          rec.offset);
                return;
            }
            op.staged_groups[gk->group] = std::move(*v);
        }
    }

    void load_step(offsets_partition& op) {
        auto& lg = *op.log;
        size_t budget = 8u << 20;
        while (op.load_next < lg.log_end_offset() && budget > 0) {
            auto rr = lg.read(op.load_next, 1u << 20, lg.log_end_offset());
            if (!rr) {
                if (rr.error().code == storage::errc::offset_out_of_range &&
                    op.load_next < lg.log_start_offset()) {
                    op.load_next = lg.log_start_offset();
                    continue;
                }
                log->error("{}: loading failed at offset {}: {}; will retry", op.tp.dir_name(),
                           op.load_next, rr.error().message);
                op.st = offsets_partition::status::unloaded;
                op.staged_groups.clear();
                op.staged_offsets.clear();
                return;
            }
            if (rr->regions.empty()) break;
            auto bytes = storage::read_into_memory(*rr);
            if (!bytes) {
                log->error(
                    "{}: loading failed at offset {}: cannot read the segment files; will "
                    "retry",
                    op.tp.dir_name(), op.load_next);
                op.st = offsets_partition::status::unloaded;
                op.staged_groups.clear();
                op.staged_offsets.clear();
                return;
            }
            protocol::bytes_view rest(*bytes);
            while (auto slice = protocol::next_batch(rest)) {
                op.load_next = slice->header.last_offset() + 1;
                if (slice->header.is_control()) continue;
                auto reader = protocol::record_reader::open(slice->bytes);
                if (!reader) continue;
                protocol::record_view rec;
                while (reader->next(rec))
                    apply_record(op, rec);
            }
            if (rr->last_offset >= op.load_next) op.load_next = rr->last_offset + 1;
            budget -= std::min(budget, rr->bytes);
        }
        if (op.load_next < lg.log_end_offset()) {
            boost::asio::post(*host.shards[op.shard], [this, p = shared_from(op)] {
                if (p->st == offsets_partition::status::loading) load_step(*p);
            });
            return;
        }
        finish_load(op);
    }

    std::shared_ptr<offsets_partition> shared_from(offsets_partition& op) {
        auto ps = partitions();
        return (*ps)[static_cast<size_t>(op.id)];
    }

    void finish_load(offsets_partition& op) {
        int64_t now = wall_clock_ms();
        size_t ngroups = 0, noffsets = 0;
        for (auto& [id, v] : op.staged_groups) {
            if (!v) continue;
            auto g = std::make_unique<group>();
            g->id = id;
            g->protocol_type = v->protocol_type;
            g->generation = v->generation;
            g->protocol = v->protocol;
            g->leader = v->leader;
            g->state_timestamp = v->current_state_timestamp;
            for (auto& mm : v->members) {
                auto mem = std::make_unique<member>();
                mem->id = mm.member_id;
                mem->instance_id = mm.group_instance_id;
                mem->client_id = mm.client_id;
                mem->client_host = mm.client_host;
                mem->rebalance_timeout_ms = mm.rebalance_timeout;
                mem->session_timeout_ms = mm.session_timeout;
                mem->protocol_type = v->protocol_type;
                if (v->protocol) mem->protocols.emplace_back(*v->protocol, mm.subscription);
                mem->assignment = mm.assignment;
                mem->last_heard_ms = now;
                if (mem->instance_id) g->static_members[*mem->instance_id] = mem->id;
                g->members.emplace(mem->id, std::move(mem));
            }
            g->state = g->members.empty() ? group_state::empty : group_state::stable;
            if (g->state == group_state::empty) g->leader.reset();
            op.groups[id] = std::move(g);
            ++ngroups;
        }
        for (auto& [k, v] : op.staged_offsets) {
            if (!v) continue;
            group* g = op.find(k.first);
            if (!g) {
                auto ng = std::make_unique<group>();
                ng->id = k.first;
                g = ng.get();
                op.groups[k.first] = std::move(ng);
            }
            g->offsets[k.second] = *v;
            ++noffsets;
        }
        op.staged_groups.clear();
        op.staged_offsets.clear();
        op.st = offsets_partition::status::loaded;
        if (ngroups || noffsets)
            log->info("{}: loaded {} group(s) and {} committed offset(s)", op.tp.dir_name(),
                      ngroups, noffsets);
    }

    // ---- writing (owner shard) ----

    error_code write(offsets_partition& op, std::vector<protocol::record>& recs) {
        if (recs.empty()) return error_code::none;
        int64_t now = wall_clock_ms();
        for (auto& r : recs)
            r.timestamp = now;
        protocol::batch_spec spec;
        auto batch = protocol::build_batch(spec, recs);
        if (!batch) return error_code::unknown_server_error;
        auto r = host.append(op.tp, *batch);
        if (r) {
            op.written_end = *r + static_cast<int64_t>(recs.size());
            return error_code::none;
        }
        log->warn("{}: append failed: error {}", op.tp.dir_name(), static_cast<int>(r.error()));
        switch (r.error()) {
            case error_code::not_leader_or_follower:
            case error_code::unknown_topic_or_partition:
                return error_code::not_coordinator;
            case error_code::message_too_large:
            case error_code::record_list_too_large:
                return error_code::invalid_commit_offset_size;
            default:
                return error_code::coordinator_not_available;
        }
    }

    m::group_metadata_value group_value(const group& g) {
        m::group_metadata_value v;
        v.protocol_type = g.protocol_type;
        v.generation = g.generation;
        v.protocol = g.protocol;
        v.leader = g.leader;
        v.current_state_timestamp = g.state_timestamp;
        for (const auto& [id, mem] : g.members) {
            auto& mm = v.members.emplace_back();
            mm.member_id = id;
            mm.group_instance_id = mem->instance_id;
            mm.client_id = mem->client_id;
            mm.client_host = mem->client_host;
            mm.rebalance_timeout = mem->rebalance_timeout_ms;
            mm.session_timeout = mem->session_timeout_ms;
            if (g.protocol)
                if (const auto* md = mem->metadata_for(*g.protocol)) mm.subscription = *md;
            mm.assignment = mem->assignment;
        }
        return v;
    }

    error_code store_group(offsets_partition& op, const group& g) {
        std::vector<protocol::record> recs(1);
        recs[0].key = encode_group_key(g.id);
        recs[0].value = encode_group_value(group_value(g));
        return write(op, recs);
    }

    // ---- group membership (owner shard) ----

    int64_t cfg(std::string_view k) { return config.get_int(k); }

    void set_state(group& g, group_state s) {
        if (g.state != s)
            log->info("group {} generation {}: {} -> {}", g.id, g.generation, state_name(g.state),
                      state_name(s));
        g.state = s;
        g.state_timestamp = wall_clock_ms();
    }

    static m::join_group_response join_error(error_code e, const std::string& member_id = {}) {
        m::join_group_response r;
        r.error_code = wire(e);
        r.member_id = member_id;
        r.generation_id = -1;
        return r;
    }
    static m::sync_group_response sync_error(error_code e) {
        m::sync_group_response r;
        r.error_code = wire(e);
        return r;
    }

    // The protocols every member supports (the candidates for the group's protocol).
    static std::set<std::string> candidate_protocols(const group& g) {
        std::set<std::string> out;
        bool first = true;
        for (const auto& [id, mem] : g.members) {
            std::set<std::string> mine;
            for (const auto& p : mem->protocols)
                mine.insert(p.first);
            if (first) {
                out = std::move(mine);
                first = false;
            } else {
                std::set<std::string> both;
                std::set_intersection(out.begin(), out.end(), mine.begin(), mine.end(),
                                      std::inserter(both, both.begin()));
                out = std::move(both);
            }
        }
        return out;
    }

    static bool supports(const group& g, const m::join_group_request& req) {
        if (g.members.empty()) return !req.protocol_type.empty() && !req.protocols.empty();
        if (g.protocol_type != req.protocol_type) return false;
        auto cands = candidate_protocols(g);
        for (const auto& p : req.protocols)
            if (cands.count(p.name)) return true;
        return false;
    }

    // Each member votes for its most preferred candidate; the most votes wins (ties: the
    // candidate the first member prefers).
    static std::optional<std::string> select_protocol(const group& g) {
        auto cands = candidate_protocols(g);
        if (cands.empty()) return std::nullopt;
        std::map<std::string, int> votes;
        std::vector<std::string> order;
        for (const auto& [id, mem] : g.members)
            for (const auto& p : mem->protocols)
                if (cands.count(p.first)) {
                    if (!votes.count(p.first)) order.push_back(p.first);
                    ++votes[p.first];
                    break;
                }
        std::string best;
        int best_votes = -1;
        for (const auto& name : order)
            if (votes[name] > best_votes) {
                best = name;
                best_votes = votes[name];
            }
        return best;
    }

    static int32_t max_rebalance_timeout(const group& g) {
        int32_t t = 0;
        for (const auto& [id, mem] : g.members)
            t = std::max(t, mem->rebalance_timeout_ms);
        return t;
    }

    static bool fenced(const group& g, const std::string& member_id,
                       const std::optional<std::string>& instance_id) {
        if (!instance_id) return false;
        auto it = g.static_members.find(*instance_id);
        return it != g.static_members.end() && it->second != member_id;
    }

    void set_protocols(member& mem, const m::join_group_request& req, int16_t v) {
        mem.protocol_type = req.protocol_type;
        mem.protocols.clear();
        for (const auto& p : req.protocols)
            mem.protocols.emplace_back(p.name, p.metadata);
        mem.session_timeout_ms = req.session_timeout_ms;
        mem.rebalance_timeout_ms = v == 0 ? req.session_timeout_ms : req.rebalance_timeout_ms;
    }

    static bool same_protocols(const member& mem, const m::join_group_request& req) {
        if (mem.protocols.size() != req.protocols.size()) return false;
        for (size_t i = 0; i < req.protocols.size(); ++i)
            if (mem.protocols[i].first != req.protocols[i].name ||
                mem.protocols[i].second != req.protocols[i].metadata)
                return false;
        return true;
    }

    // The join answer for `mem` in the current generation.
    m::join_group_response join_result(const group& g, const member& mem, bool with_skip) {
        m::join_group_response r;
        r.generation_id = g.generation;
        r.protocol_type = g.protocol_type;
        r.protocol_name = g.protocol;
        r.leader = g.leader.value_or("");
        r.member_id = mem.id;
        bool leader = g.leader && *g.leader == mem.id;
        if (leader && g.protocol) {
            for (const auto& [id, other] : g.members) {
                auto& out = r.members.emplace_back();
                out.member_id = id;
                out.group_instance_id = other->instance_id;
                if (const auto* md = other->metadata_for(*g.protocol)) out.metadata = *md;
            }
        }
        r.skip_assignment = with_skip && leader;
        return r;
    }

    void join(offsets_partition& op, m::join_group_request req, int16_t v, client_info ci,
              join_callback cb) {
        if (auto e = ready(op); e != error_code::none) return cb(join_error(e, req.member_id));
        if (req.group_id.empty()) return cb(join_error(error_code::invalid_group_id));
        if (req.session_timeout_ms < cfg("group.min.session.timeout.ms") ||
            req.session_timeout_ms > cfg("group.max.session.timeout.ms"))
            return cb(join_error(error_code::invalid_session_timeout, req.member_id));
        if (req.protocol_type.empty() || req.protocols.empty())
            return cb(join_error(error_code::inconsistent_group_protocol, req.member_id));
        group* g = op.find(req.group_id);
        if (!g) {
            if (!req.member_id.empty())
                return cb(join_error(error_code::unknown_member_id, req.member_id));
            auto ng = std::make_unique<group>();
            ng->id = req.group_id;
            ng->state_timestamp = wall_clock_ms();
            g = ng.get();
            op.groups[req.group_id] = std::move(ng);
        }
        if (g->state == group_state::dead)
            return cb(join_error(error_code::coordinator_not_available, req.member_id));
        if (!supports(*g, req))
            return cb(join_error(error_code::inconsistent_group_protocol, req.member_id));

        if (req.member_id.empty()) {
            if (static_cast<int64_t>(g->members.size() + g->pending_members.size()) >=
                cfg("group.max.size"))
                return cb(join_error(error_code::group_max_size_reached));
            std::string prefix = req.group_instance_id ? *req.group_instance_id : ci.client_id;
            std::string new_id = prefix + "-" + random_suffix();
            if (req.group_instance_id) {
                auto it = g->static_members.find(*req.group_instance_id);
                if (it != g->static_members.end() && g->find(it->second))
                    return replace_static_member(op, *g, it->second, new_id, req, v, std::move(cb));
                return add_member(op, *g, new_id, req, v, ci, std::move(cb));
            }
            if (v >= 4) {
                // KIP-394: hand out the id; the member joins again with it.
                g->pending_members[new_id] = wall_clock_ms() + req.session_timeout_ms;
                return cb(join_error(error_code::member_id_required, new_id));
            }
            return add_member(op, *g, new_id, req, v, ci, std::move(cb));
        }

        if (g->pending_members.erase(req.member_id))
            return add_member(op, *g, req.member_id, req, v, ci, std::move(cb));
        member* mem = g->find(req.member_id);
        if (!mem) return cb(join_error(error_code::unknown_member_id, req.member_id));
        if (fenced(*g, req.member_id, req.group_instance_id))
            return cb(join_error(error_code::fenced_instance_id, req.member_id));
        mem->last_heard_ms = wall_clock_ms();
        switch (g->state) {
            case group_state::preparing_rebalance:
                set_protocols(*mem, req, v);
                await_join(*mem, std::move(cb));
                try_complete_join(op, *g);
                return;
            case group_state::completing_rebalance:
                if (same_protocols(*mem, req)) return cb(join_result(*g, *mem, false));
                set_protocols(*mem, req, v);
                await_join(*mem, std::move(cb));
                prepare_rebalance(op, *g, "member " + mem->id + " changed its subscription");
                return;
            case group_state::stable:
                if ((g->leader && *g->leader == mem->id) || !same_protocols(*mem, req)) {
                    set_protocols(*mem, req, v);
                    await_join(*mem, std::move(cb));
                    prepare_rebalance(op, *g,
                                      (g->leader && *g->leader == mem->id)
                                          ? "the leader rejoined"
                                          : "member " + mem->id + " changed its subscription");
                    return;
                }
                return cb(join_result(*g, *mem, false));
            case group_state::empty:
            case group_state::dead:
                return cb(join_error(error_code::unknown_member_id, req.member_id));
        }
    }

    void await_join(member& mem, join_callback cb) {
        if (mem.awaiting_join) mem.awaiting_join(join_error(error_code::rebalance_in_progress));
        mem.awaiting_join = std::move(cb);
    }

    void add_member(offsets_partition& op, group& g, const std::string& id,
                    const m::join_group_request& req, int16_t v, const client_info& ci,
                    join_callback cb) {
        auto mem = std::make_unique<member>();
        mem->id = id;
        mem->instance_id = req.group_instance_id;
        mem->client_id = ci.client_id;
        mem->client_host = ci.host;
        set_protocols(*mem, req, v);
        mem->awaiting_join = std::move(cb);
        mem->last_heard_ms = wall_clock_ms();
        if (g.members.empty()) g.protocol_type = req.protocol_type;
        if (mem->instance_id) g.static_members[*mem->instance_id] = id;
        if (!g.leader || !g.find(*g.leader)) g.leader = id;
        g.members.emplace(id, std::move(mem));
        log->info("group {}: member {} joined{}", g.id, id,
                  req.group_instance_id ? " (static " + *req.group_instance_id + ")" : "");
        if (g.state == group_state::preparing_rebalance) {
            // The initial delay grows with each new member, up to the rebalance timeout.
            if (g.initial_delay_cap > 0)
                g.rebalance_deadline = std::min(
                    wall_clock_ms() + cfg("group.initial.rebalance.delay.ms"), g.initial_delay_cap);
            try_complete_join(op, g);
        } else {
            prepare_rebalance(op, g, "member " + id + " joined");
        }
    }

    void replace_static_member(offsets_partition& op, group& g, const std::string& old_id,
                               const std::string& new_id, const m::join_group_request& req,
                               int16_t v, join_callback cb) {
        auto node = g.members.extract(old_id);
        auto& mem = *node.mapped();
        if (mem.awaiting_join) {
            mem.awaiting_join(join_error(error_code::fenced_instance_id, old_id));
            mem.awaiting_join = nullptr;
        }
        if (mem.awaiting_sync) {
            mem.awaiting_sync(sync_error(error_code::fenced_instance_id));
            mem.awaiting_sync = nullptr;
        }
        mem.id = new_id;
        mem.last_heard_ms = wall_clock_ms();
        node.key() = new_id;
        g.members.insert(std::move(node));
        member& m2 = *g.members[new_id];
        g.static_members[*req.group_instance_id] = new_id;
        if (g.leader && *g.leader == old_id) g.leader = new_id;
        if (g.pending_sync.erase(old_id)) g.pending_sync.insert(new_id);
        log->info("group {}: static member {} rejoined as {} (was {})", g.id,
                  *req.group_instance_id, new_id, old_id);
        switch (g.state) {
            case group_state::stable:
                if (same_protocols(m2, req)) {
                    // KIP-345: the same member came back; no rebalance.
                    auto e = store_group(op, g);
                    if (e != error_code::none) return cb(join_error(e));
                    return cb(join_result(g, m2, v >= 9));
                }
                set_protocols(m2, req, v);
                m2.awaiting_join = std::move(cb);
                prepare_rebalance(
                    op, g, "static member " + *req.group_instance_id + " changed its subscription");
                return;
            case group_state::completing_rebalance:
                set_protocols(m2, req, v);
                m2.awaiting_join = std::move(cb);
                prepare_rebalance(op, g, "static member rejoined during the rebalance");
                return;
            default:
                set_protocols(m2, req, v);
                m2.awaiting_join = std::move(cb);
                try_complete_join(op, g);
                return;
        }
    }

    void prepare_rebalance(offsets_partition& op, group& g, const std::string& reason) {
        if (g.state == group_state::completing_rebalance) {
            for (auto& [id, mem] : g.members) {
                mem->assignment.clear();
                if (mem->awaiting_sync) {
                    auto cb = std::move(mem->awaiting_sync);
                    mem->awaiting_sync = nullptr;
                    cb(sync_error(error_code::rebalance_in_progress));
                }
            }
            g.pending_sync.clear();
        }
        bool initial = g.state == group_state::empty;
        log->info("group {}: preparing to rebalance ({})", g.id, reason);
        set_state(g, group_state::preparing_rebalance);
        int64_t now = wall_clock_ms();
        int64_t rt = max_rebalance_timeout(g);
        if (initial) {
            int64_t delay = cfg("group.initial.rebalance.delay.ms");
            g.initial_delay_cap = now + std::max(rt, delay);
            g.rebalance_deadline = std::min(now + delay, g.initial_delay_cap);
        } else {
            g.initial_delay_cap = 0;
            g.rebalance_deadline = now + rt;
        }
        try_complete_join(op, g);
    }

    void try_complete_join(offsets_partition& op, group& g) {
        if (g.state != group_state::preparing_rebalance) return;
        if (g.initial_delay_cap > 0 && wall_clock_ms() < g.rebalance_deadline) return;
        bool all = g.pending_members.empty();
        for (const auto& [id, mem] : g.members)
            if (!mem->awaiting_join) all = false;
        if (all) complete_join(op, g);
    }

    void complete_join(offsets_partition& op, group& g) {
        // Members that did not rejoin in time are out.
        std::vector<std::string> gone;
        for (const auto& [id, mem] : g.members)
            if (!mem->awaiting_join) gone.push_back(id);
        for (const auto& id : gone) {
            log->info("group {}: member {} did not rejoin in time; removing it", g.id, id);
            remove_member(g, id, error_code::unknown_member_id);
        }
        g.pending_members.clear();
        g.initial_delay_cap = 0;
        ++g.generation;
        if (g.members.empty()) {
            g.protocol.reset();
            g.leader.reset();
            set_state(g, group_state::empty);
            auto e = store_group(op, g);
            if (e != error_code::none)
                log->warn("group {}: could not store the empty group: error {}", g.id,
                          static_cast<int>(e));
            return;
        }
        if (!g.leader || !g.find(*g.leader)) g.leader = g.members.begin()->first;
        g.protocol = select_protocol(g);
        set_state(g, group_state::completing_rebalance);
        log->info("group {}: generation {} with {} member(s), protocol {}, leader {}", g.id,
                  g.generation, g.members.size(), g.protocol.value_or("-"), *g.leader);
        g.sync_deadline = wall_clock_ms() + max_rebalance_timeout(g);
        g.pending_sync.clear();
        int64_t now = wall_clock_ms();
        for (auto& [id, mem] : g.members) {
            g.pending_sync.insert(id);
            mem->last_heard_ms = now;
            auto cb = std::move(mem->awaiting_join);
            mem->awaiting_join = nullptr;
            if (cb) cb(join_result(g, *mem, false));
        }
    }

    // Removes a member; its waiting requests are answered with `e`.
    void remove_member(group& g, const std::string& id, error_code e) {
        auto it = g.members.find(id);
        if (it == g.members.end()) return;
        auto& mem = *it->second;
        if (mem.awaiting_join) mem.awaiting_join(join_error(e, id));
        if (mem.awaiting_sync) mem.awaiting_sync(sync_error(e));
        if (mem.instance_id) {
            auto s = g.static_members.find(*mem.instance_id);
            if (s != g.static_members.end() && s->second == id) g.static_members.erase(s);
        }
        g.pending_sync.erase(id);
        g.members.erase(it);
        if (g.leader && *g.leader == id) {
            if (g.members.empty())
                g.leader.reset();
            else
                g.leader = g.members.begin()->first;
        }
    }

    // After members left or expired.
    void members_changed(offsets_partition& op, group& g, const std::string& reason) {
        if (g.state == group_state::stable || g.state == group_state::completing_rebalance)
            prepare_rebalance(op, g, reason);
        else if (g.state == group_state::preparing_rebalance)
            try_complete_join(op, g);
    }

    void sync(offsets_partition& op, m::sync_group_request req, int16_t v, sync_callback cb) {
        if (auto e = ready(op); e != error_code::none) return cb(sync_error(e));
        group* g = op.find(req.group_id);
        if (!g) return cb(sync_error(error_code::unknown_member_id));
        if (g->state == group_state::dead)
            return cb(sync_error(error_code::coordinator_not_available));
        member* mem = g->find(req.member_id);
        if (!mem) return cb(sync_error(error_code::unknown_member_id));
        if (fenced(*g, req.member_id, req.group_instance_id))
            return cb(sync_error(error_code::fenced_instance_id));
        if (req.generation_id != g->generation)
            return cb(sync_error(error_code::illegal_generation));
        if (v >= 5 && ((req.protocol_type && *req.protocol_type != g->protocol_type) ||
                       (req.protocol_name && *req.protocol_name != g->protocol.value_or(""))))
            return cb(sync_error(error_code::inconsistent_group_protocol));
        mem->last_heard_ms = wall_clock_ms();
        switch (g->state) {
            case group_state::empty:
            case group_state::dead:
                return cb(sync_error(error_code::unknown_member_id));
            case group_state::preparing_rebalance:
                return cb(sync_error(error_code::rebalance_in_progress));
            case group_state::stable:
                return cb(sync_ok(*g, *mem));
            case group_state::completing_rebalance:
                break;
        }
        if (mem->awaiting_sync) mem->awaiting_sync(sync_error(error_code::rebalance_in_progress));
        mem->awaiting_sync = std::move(cb);
        g->pending_sync.erase(mem->id);
        if (!g->leader || *g->leader != mem->id) return;  // followers wait for the leader

        for (auto& [id, other] : g->members)
            other->assignment.clear();
        for (auto& a : req.assignments)
            if (member* target = g->find(a.member_id)) target->assignment = std::move(a.assignment);
        auto e = store_group(op, *g);
        if (e != error_code::none) {
            for (auto& [id, other] : g->members) {
                other->assignment.clear();
                if (other->awaiting_sync) {
                    auto c = std::move(other->awaiting_sync);
                    other->awaiting_sync = nullptr;
                    c(sync_error(e));
                }
            }
            prepare_rebalance(op, *g, "storing the assignment failed");
            return;
        }
        set_state(*g, group_state::stable);
        for (auto& [id, other] : g->members) {
            if (!other->awaiting_sync) continue;
            auto c = std::move(other->awaiting_sync);
            other->awaiting_sync = nullptr;
            c(sync_ok(*g, *other));
        }
    }

    static m::sync_group_response sync_ok(const group& g, const member& mem) {
        m::sync_group_response r;
        r.protocol_type = g.protocol_type;
        r.protocol_name = g.protocol;
        r.assignment = mem.assignment;
        return r;
    }

    error_code heartbeat(offsets_partition& op, const m::heartbeat_request& req) {
        if (auto e = ready(op); e != error_code::none) return e;
        group* g = op.find(req.group_id);
        if (!g) return error_code::unknown_member_id;
        if (g->state == group_state::dead) return error_code::coordinator_not_available;
        member* mem = g->find(req.member_id);
        if (!mem) return error_code::unknown_member_id;
        if (fenced(*g, req.member_id, req.group_instance_id)) return error_code::fenced_instance_id;
        if (req.generation_id != g->generation) return error_code::illegal_generation;
        mem->last_heard_ms = wall_clock_ms();
        if (g->state == group_state::preparing_rebalance) return error_code::rebalance_in_progress;
        return error_code::none;
    }

    m::leave_group_response leave(offsets_partition& op, const m::leave_group_request& req,
                                  int16_t v) {
        m::leave_group_response resp;
        std::vector<m::leave_group_request::member_identity> who;
        if (v >= 3) {
            who = req.members;
        } else {
            who.emplace_back().member_id = req.member_id;
        }
        auto finish = [&]() {
            if (v < 3 && !resp.members.empty()) {
                resp.error_code = resp.members[0].error_code;
                resp.members.clear();
            }
            return resp;
        };
        if (auto e = ready(op); e != error_code::none) {
            resp.error_code = wire(e);
            return resp;
        }
        group* g = op.find(req.group_id);
        bool removed = false;
        for (const auto& w : who) {
            auto& out = resp.members.emplace_back();
            out.member_id = w.member_id;
            out.group_instance_id = w.group_instance_id;
            if (!g || g->state == group_state::dead) {
                out.error_code = wire(error_code::unknown_member_id);
                continue;
            }
            std::string id = w.member_id;
            if (w.group_instance_id) {
                auto it = g->static_members.find(*w.group_instance_id);
                if (it == g->static_members.end()) {
                    out.error_code = wire(error_code::unknown_member_id);
                    continue;
                }
                if (!id.empty() && id != it->second) {
                    out.error_code = wire(error_code::fenced_instance_id);
                    continue;
                }
                id = it->second;
            }
            if (g->pending_members.erase(id)) continue;
            if (!g->find(id)) {
                out.error_code = wire(error_code::unknown_member_id);
                continue;
            }
            log->info("group {}: member {} left{}", g->id, id,
                      w.reason ? " (" + *w.reason + ")" : "");
            remove_member(*g, id, error_code::unknown_member_id);
            removed = true;
        }
        if (g && removed)
            members_changed(op, *g, "a member left");
        else if (g && g->state == group_state::preparing_rebalance)
            try_complete_join(op, *g);
        return finish();
    }

    // ---- offsets (owner shard) ----

    m::offset_commit_response commit(offsets_partition& op, const m::offset_commit_request& req,
                                     int16_t v) {
        m::offset_commit_response resp;
        for (const auto& t : req.topics) {
            auto& tout = resp.topics.emplace_back();
            tout.name = t.name;
            for (const auto& p : t.partitions)
                tout.partitions.emplace_back().partition_index = p.partition_index;
        }
        auto all = [&](error_code e) {
            for (auto& t : resp.topics)
                for (auto& p : t.partitions)
                    p.error_code = wire(e);
            return resp;
        };
        if (auto e = ready(op); e != error_code::none) return all(e);
        if (req.group_id.empty()) return all(error_code::invalid_group_id);
        int32_t gen = v >= 1 ? req.generation_id_or_member_epoch : -1;
        group* g = op.find(req.group_id);
        if (!g) {
            if (gen >= 0) return all(error_code::illegal_generation);
            auto ng = std::make_unique<group>();
            ng->id = req.group_id;
            ng->state_timestamp = wall_clock_ms();
            g = ng.get();
            op.groups[req.group_id] = std::move(ng);
        } else if (g->state == group_state::dead) {
            return all(error_code::coordinator_not_available);
        } else if (!(gen < 0 && g->state == group_state::empty)) {
            if (fenced(*g, req.member_id, req.group_instance_id))
                return all(error_code::fenced_instance_id);
            member* mem = g->find(req.member_id);
            if (!mem) return all(error_code::unknown_member_id);
            if (gen != g->generation) return all(error_code::illegal_generation);
            if (g->state == group_state::completing_rebalance)
                return all(error_code::rebalance_in_progress);
            mem->last_heard_ms = wall_clock_ms();
        }

        auto snap = metadata.snapshot();
        int64_t max_md = cfg("offset.metadata.max.bytes");
        int64_t now = wall_clock_ms();
        int64_t expire = -1;
        if (v >= 2 && v <= 4 && req.retention_time_ms >= 0) expire = now + req.retention_time_ms;
        std::vector<protocol::record> recs;
        std::vector<std::pair<m::offset_commit_response::offset_commit_response_topic::
                                  offset_commit_response_partition*,
                              std::pair<topic_partition, committed_offset>>>
            pending;
        for (size_t ti = 0; ti < req.topics.size(); ++ti) {
            const auto& t = req.topics[ti];
            const cluster::topic_info* topic = snap->find_topic(t.name);
            for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
                const auto& p = t.partitions[pi];
                auto& out = resp.topics[ti].partitions[pi];
                if (!topic || p.partition_index < 0 ||
                    p.partition_index >= static_cast<int32_t>(topic->partitions.size())) {
                    out.error_code = wire(error_code::unknown_topic_or_partition);
                    continue;
                }
                std::string md = p.committed_metadata.value_or("");
                if (static_cast<int64_t>(md.size()) > max_md) {
                    out.error_code = wire(error_code::offset_metadata_too_large);
                    continue;
                }
                committed_offset co;
                co.offset = p.committed_offset;
                co.leader_epoch = v >= 6 ? p.committed_leader_epoch : -1;
                co.metadata = std::move(md);
                co.commit_timestamp = now;
                co.expire_timestamp = expire;
                m::offset_commit_value val;
                val.offset = co.offset;
                val.leader_epoch = co.leader_epoch;
                val.metadata = co.metadata;
                val.commit_timestamp = co.commit_timestamp;
                val.expire_timestamp = co.expire_timestamp;
                auto& rec = recs.emplace_back();
                rec.key = encode_offset_key({req.group_id, t.name, p.partition_index});
                rec.value = encode_offset_value(val);
                pending.push_back({&out, {topic_partition{t.name, p.partition_index}, co}});
            }
        }
        auto e = write(op, recs);
        for (auto& [out, entry] : pending) {
            if (e != error_code::none) {
                out->error_code = wire(e);
                continue;
            }
            g->offsets[entry.first] = entry.second;
        }
        return resp;
    }

    // Committed offsets of one group (OffsetFetch). `topics` null = everything committed.
    m::offset_fetch_response::offset_fetch_response_group fetch_offsets(
        offsets_partition& op, const std::string& group_id,
        const std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>& topics) {
        m::offset_fetch_response::offset_fetch_response_group out;
        out.group_id = group_id;
        if (auto e = ready(op); e != error_code::none) {
            out.error_code = wire(e);
            return out;
        }
        group* g = op.find(group_id);
        auto add = [&](const std::string& topic, int32_t p, const committed_offset* co) {
            if (out.topics.empty() || out.topics.back().name != topic)
                out.topics.emplace_back().name = topic;
            auto& po = out.topics.back().partitions.emplace_back();
            po.partition_index = p;
            po.committed_offset = co ? co->offset : -1;
            po.committed_leader_epoch = co ? co->leader_epoch : -1;
            po.metadata = co ? co->metadata : "";
        };
        if (!topics) {
            if (g)
                for (const auto& [tp, co] : g->offsets)
                    add(tp.topic, tp.partition, &co);
            return out;
        }
        for (const auto& [name, parts] : *topics)
            for (int32_t p : parts) {
                const committed_offset* co = nullptr;
                if (g) {
                    auto it = g->offsets.find(topic_partition{name, p});
                    if (it != g->offsets.end()) co = &it->second;
                }
                add(name, p, co);
            }
        return out;
    }

    // Tombstones for the given offsets of `g` (and the group itself when `whole_group`).
    error_code delete_offsets(offsets_partition& op, group& g,
                              const std::vector<topic_partition>& tps, bool whole_group) {
        std::vector<protocol::record> recs;
        for (const auto& tp : tps)
            if (g.offsets.count(tp))
                recs.emplace_back().key = encode_offset_key({g.id, tp.topic, tp.partition});
        if (whole_group) recs.emplace_back().key = encode_group_key(g.id);
        auto e = write(op, recs);
        if (e != error_code::none) return e;
        for (const auto& tp : tps)
            g.offsets.erase(tp);
        return error_code::none;
    }

    error_code delete_group(offsets_partition& op, const std::string& id) {
        if (auto e = ready(op); e != error_code::none) return e;
        group* g = op.find(id);
        if (!g || g->state == group_state::dead) return error_code::group_id_not_found;
        if (g->state != group_state::empty) return error_code::non_empty_group;
        std::vector<topic_partition> tps;
        for (const auto& [tp, co] : g->offsets)
            tps.push_back(tp);
        auto e = delete_offsets(op, *g, tps, true);
        if (e != error_code::none) return e;
        log->info("group {} deleted", id);
        op.groups.erase(id);
        return error_code::none;
    }

    std::set<std::string> subscribed_topics(const group& g) {
        std::set<std::string> out;
        if (g.protocol_type != "consumer" || !g.protocol) return out;
        for (const auto& [id, mem] : g.members)
            if (const auto* md = mem->metadata_for(*g.protocol))
                if (auto s = decode_subscription(*md))
                    out.insert(s->topics.begin(), s->topics.end());
        return out;
    }

    m::offset_delete_response offset_delete(offsets_partition& op,
                                            const m::offset_delete_request& req) {
        m::offset_delete_response resp;
        if (auto e = ready(op); e != error_code::none) {
            resp.error_code = wire(e);
            return resp;
        }
        group* g = op.find(req.group_id);
        if (!g || g->state == group_state::dead) {
            resp.error_code = wire(error_code::group_id_not_found);
            return resp;
        }
        std::set<std::string> subscribed;
        if (g->state != group_state::empty) {
            if (g->protocol_type != "consumer") {
                resp.error_code = wire(error_code::non_empty_group);
                return resp;
            }
            subscribed = subscribed_topics(*g);
        }
        auto snap = metadata.snapshot();
        std::vector<topic_partition> tps;
        std::vector<int16_t*> ok_slots;
        for (const auto& t : req.topics) {
            auto& tout = resp.topics.emplace_back();
            tout.name = t.name;
            for (const auto& p : t.partitions) {
                auto& po = tout.partitions.emplace_back();
                po.partition_index = p.partition_index;
            }
        }
        for (size_t ti = 0; ti < req.topics.size(); ++ti) {
            const auto& t = req.topics[ti];
            const auto* topic = snap->find_topic(t.name);
            for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
                auto& po = resp.topics[ti].partitions[pi];
                if (subscribed.count(t.name)) {
                    po.error_code = wire(error_code::group_subscribed_to_topic);
                    continue;
                }
                if (!topic) {
                    po.error_code = wire(error_code::unknown_topic_or_partition);
                    continue;
                }
                tps.push_back({t.name, po.partition_index});
                ok_slots.push_back(&po.error_code);
            }
        }
        auto e = delete_offsets(op, *g, tps, false);
        if (e != error_code::none)
            for (auto* slot : ok_slots)
                *slot = wire(e);
        return resp;
    }

    // ---- periodic work (owner shard) ----

    void tick(size_t shard) {
        int64_t now = wall_clock_ms();
        auto ps = partitions();
        int64_t check_every = cfg("offsets.retention.check.interval.ms");
        for (const auto& p : *ps) {
            if (p->shard != shard || p->st != offsets_partition::status::loaded) continue;
            auto& op = *p;
            if (host.leader_epoch_of && host.leader_epoch_of(op.tp) != op.leader_epoch) {
                unload(op, "leadership changed");
                continue;
            }
            std::vector<std::string> ids;
            for (const auto& [id, g] : op.groups)
                ids.push_back(id);
            for (const auto& id : ids) {
                group* g = op.find(id);
                if (!g) continue;
                // Session expiry (members waiting in a join or sync are not expired).
                std::vector<std::string> expired;
                for (const auto& [mid, mem] : g->members)
                    if (!mem->awaiting_join && !mem->awaiting_sync &&
                        now > mem->last_heard_ms + mem->session_timeout_ms)
                        expired.push_back(mid);
                for (const auto& mid : expired) {
                    log->info("group {}: member {} session timed out; removing it", g->id, mid);
                    remove_member(*g, mid, error_code::unknown_member_id);
                }
                std::erase_if(g->pending_members,
                              [now](const auto& kv) { return now > kv.second; });
                if (!expired.empty()) members_changed(op, *g, "a member's session timed out");
                if (g->state == group_state::preparing_rebalance) {
                    if (now >= g->rebalance_deadline)
                        complete_join(op, *g);
                    else
                        try_complete_join(op, *g);
                } else if (g->state == group_state::completing_rebalance &&
                           now >= g->sync_deadline && !g->pending_sync.empty()) {
                    auto late = g->pending_sync;
                    for (const auto& mid : late) {
                        log->info("group {}: member {} did not sync in time; removing it", g->id,
                                  mid);
                        remove_member(*g, mid, error_code::unknown_member_id);
                    }
                    prepare_rebalance(op, *g, "members did not sync in time");
                }
            }
            if (now - op.last_expiry_check >= check_every) {
                op.last_expiry_check = now;
                expire_offsets(op, now);
            }
        }
    }

    void expire_offsets(offsets_partition& op, int64_t now) {
        int64_t retention = cfg("offsets.retention.minutes") * 60'000;
        std::vector<std::string> dead;
        for (auto& [id, gp] : op.groups) {
            group& g = *gp;
            std::vector<topic_partition> expired;
            if (g.state == group_state::empty) {
                for (const auto& [tp, co] : g.offsets) {
                    // KIP-211: the clock starts when the group became empty; offsets-only
                    // groups (no protocol type) count from each commit.
                    int64_t base = g.protocol_type.empty() || g.state_timestamp < 0
                                       ? co.commit_timestamp
                                       : g.state_timestamp;
                    bool gone = co.expire_timestamp >= 0 ? now >= co.expire_timestamp
                                                         : now - base >= retention;
                    if (gone) expired.push_back(tp);
                }
            } else if (g.state == group_state::stable && g.protocol_type == "consumer") {
                auto subscribed = subscribed_topics(g);
                for (const auto& [tp, co] : g.offsets)
                    if (!subscribed.count(tp.topic) &&
                        (co.expire_timestamp >= 0 ? now >= co.expire_timestamp
                                                  : now - co.commit_timestamp >= retention))
                        expired.push_back(tp);
            }
            bool drop = g.state == group_state::empty && g.offsets.size() == expired.size();
            if (expired.empty() && !drop) continue;
            auto e = delete_offsets(op, g, expired, drop);
            if (e != error_code::none) continue;
            if (!expired.empty())
                log->info("group {}: expired {} committed offset(s)", g.id, expired.size());
            if (drop) dead.push_back(id);
        }
        for (const auto& id : dead) {
            log->info("group {}: empty with no offsets; removed", id);
            op.groups.erase(id);
        }
    }

    void schedule_tick(size_t shard) {
        std::shared_ptr<boost::asio::steady_timer> t;
        {
            std::lock_guard lock(mu);
            if (shard >= tickers.size()) return;
            t = tickers[shard];
        }
        t->expires_after(std::chrono::milliseconds(100));
        t->async_wait([this, shard, stop = stopped](const boost::system::error_code& ec) {
            if (ec || stop->load()) return;
            tick(shard);
            schedule_tick(shard);
        });
    }

    // ---- views (owner shard) ----

    group_view view_of(const group& g) {
        group_view v;
        v.group_id = g.id;
        v.state = state_name(g.state);
        v.protocol_type = g.protocol_type;
        v.protocol = g.protocol.value_or("");
        v.generation = g.generation;
        v.leader_id = g.leader;
        for (const auto& [id, mem] : g.members) {
            auto& mv = v.members.emplace_back();
            mv.member_id = id;
            mv.group_instance_id = mem->instance_id;
            mv.client_id = mem->client_id;
            mv.client_host = mem->client_host;
            if (g.protocol_type == "consumer")
                if (auto a = decode_assignment(mem->assignment))
                    for (const auto& tp : a->assigned_partitions)
                        for (int32_t p : tp.partitions)
                            mv.assignment.emplace_back(tp.topic, p);
        }
        return v;
    }
};

// ---------------------------------------------------------------------------------------------

group_coordinator::group_coordinator(coordinator_host host, broker_config& config,
                                     cluster::metadata_store& metadata)
    : impl_(std::make_unique<impl>(std::move(host), config, metadata)) {}

group_coordinator::~group_coordinator() = default;

void group_coordinator::start() {
    auto snap = impl_->metadata.snapshot();
    if (const auto* t = snap->find_topic(kOffsetsTopic)) impl_->adopt_topic(*t);
    {
        std::lock_guard lock(impl_->mu);
        impl_->tickers.clear();
        for (auto* s : impl_->host.shards)
            impl_->tickers.push_back(std::make_shared<boost::asio::steady_timer>(*s));
    }
    for (size_t i = 0; i < impl_->host.shards.size(); ++i)
        impl_->schedule_tick(i);
    // Load every hosted partition in the background.
    auto all_parts = impl_->partitions();
    for (const auto& p : *all_parts)
        boost::asio::post(*impl_->host.shards[p->shard], [this, p] { (void)impl_->ready(*p); });
}

void group_coordinator::stop() {
    impl_->stopped->store(true);
    {
        std::lock_guard lock(impl_->mu);
        for (size_t i = 0; i < impl_->tickers.size(); ++i)
            boost::asio::post(*impl_->host.shards[i], [t = impl_->tickers[i]] { t->cancel(); });
    }
    auto all_parts = impl_->partitions();
    for (const auto& p : *all_parts)
        boost::asio::post(*impl_->host.shards[p->shard], [p] {
            for (auto& [id, g] : p->groups)
                for (auto& [mid, mem] : g->members) {
                    if (mem->awaiting_join) {
                        auto cb = std::move(mem->awaiting_join);
                        mem->awaiting_join = nullptr;
                        cb(impl::join_error(error_code::not_coordinator, mid));
                    }
                    if (mem->awaiting_sync) {
                        auto cb = std::move(mem->awaiting_sync);
                        mem->awaiting_sync = nullptr;
                        cb(impl::sync_error(error_code::not_coordinator));
                    }
                }
        });
}

protocol::error_code group_coordinator::ensure_offsets_topic() {
    return impl_->ensure_topic();
}

awaitable<m::join_group_response> group_coordinator::join_group(m::join_group_request req,
                                                                int16_t version,
                                                                client_info client) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) co_return impl::join_error(error_code::coordinator_not_available, req.member_id);
    auto op = impl_->on_partition<m::join_group_response>(
        p, [this, req = std::move(req), version, client = std::move(client)](
               offsets_partition& op, std::function<void(m::join_group_response)> done) mutable {
            impl_->join(op, std::move(req), version, std::move(client), std::move(done));
        });
    co_return co_await std::move(op);
}

awaitable<m::sync_group_response> group_coordinator::sync_group(m::sync_group_request req,
                                                                int16_t version) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) co_return impl::sync_error(error_code::coordinator_not_available);
    auto op = impl_->on_partition<m::sync_group_response>(
        p, [this, req = std::move(req), version](
               offsets_partition& op, std::function<void(m::sync_group_response)> done) mutable {
            impl_->sync(op, std::move(req), version, std::move(done));
        });
    co_return co_await std::move(op);
}

awaitable<m::heartbeat_response> group_coordinator::heartbeat(m::heartbeat_request req, int16_t) {
    m::heartbeat_response resp;
    auto p = impl_->partition_of(req.group_id);
    if (!p) {
        resp.error_code = wire(error_code::coordinator_not_available);
        co_return resp;
    }
    auto op = impl_->on_partition<error_code>(
        p,
        [this, req = std::move(req)](offsets_partition& op, std::function<void(error_code)> done) {
            done(impl_->heartbeat(op, req));
        });
    auto e = co_await std::move(op);
    resp.error_code = wire(e);
    co_return resp;
}

awaitable<m::leave_group_response> group_coordinator::leave_group(m::leave_group_request req,
                                                                  int16_t version) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) {
        m::leave_group_response resp;
        resp.error_code = wire(error_code::coordinator_not_available);
        co_return resp;
    }
    auto op = impl_->on_partition<m::leave_group_response>(
        p, [this, req = std::move(req), version](
               offsets_partition& op, std::function<void(m::leave_group_response)> done) {
            done(impl_->leave(op, req, version));
        });
    co_return co_await std::move(op);
}

awaitable<m::offset_commit_response> group_coordinator::offset_commit(m::offset_commit_request req,
                                                                      int16_t version) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) {
        m::offset_commit_response resp;
        for (const auto& t : req.topics) {
            auto& tout = resp.topics.emplace_back();
            tout.name = t.name;
            for (const auto& part : t.partitions) {
                auto& po = tout.partitions.emplace_back();
                po.partition_index = part.partition_index;
                po.error_code = wire(error_code::coordinator_not_available);
            }
        }
        co_return resp;
    }
    auto op = impl_->on_partition<m::offset_commit_response>(
        p, [this, req = std::move(req), version](
               offsets_partition& op, std::function<void(m::offset_commit_response)> done) {
            const int64_t before = op.written_end;
            auto resp = impl_->commit(op, req, version);
            if (op.written_end == before || !impl_->host.when_replicated) return done(resp);
            // Like Kafka (offsets are written with acks=all): acknowledge once the ISR has
            // the commit, so a coordinator failover cannot lose it.
            impl_->host.when_replicated(
                op.tp, op.written_end,
                [done = std::move(done), resp = std::move(resp)](error_code e) mutable {
                    if (e != error_code::none)
                        for (auto& t : resp.topics)
                            for (auto& p : t.partitions)
                                if (p.error_code == 0)
                                    p.error_code =
                                        static_cast<int16_t>(error_code::not_coordinator);
                    done(std::move(resp));
                });
        });
    co_return co_await std::move(op);
}

awaitable<m::offset_fetch_response> group_coordinator::offset_fetch(m::offset_fetch_request req,
                                                                    int16_t version) {
    using topics_t = std::optional<std::vector<std::pair<std::string, std::vector<int32_t>>>>;
    struct query {
        std::string group;
        topics_t topics;
    };
    std::vector<query> queries;
    if (version >= 8) {
        for (auto& g : req.groups) {
            query q{g.group_id, std::nullopt};
            if (g.topics) {
                q.topics.emplace();
                for (auto& t : *g.topics)
                    q.topics->emplace_back(t.name, t.partition_indexes);
            }
            queries.push_back(std::move(q));
        }
    } else {
        query q{req.group_id, std::nullopt};
        if (req.topics || version < 2) {
            q.topics.emplace();
            if (req.topics)
                for (auto& t : *req.topics)
                    q.topics->emplace_back(t.name, t.partition_indexes);
        }
        queries.push_back(std::move(q));
    }
    using group_out = m::offset_fetch_response::offset_fetch_response_group;
    std::vector<group_out> results;
    for (auto& q : queries) {
        auto p = impl_->partition_of(q.group);
        if (!p) {
            group_out g;
            g.group_id = q.group;
            g.error_code = wire(error_code::coordinator_not_available);
            results.push_back(std::move(g));
            continue;
        }
        auto op = impl_->on_partition<group_out>(
            p, [this, q](offsets_partition& op, std::function<void(group_out)> done) {
                done(impl_->fetch_offsets(op, q.group, q.topics));
            });
        results.push_back(co_await std::move(op));
    }
    m::offset_fetch_response resp;
    if (version >= 8) {
        resp.groups = std::move(results);
        co_return resp;
    }
    auto& g = results.front();
    if (version >= 2) {
        resp.error_code = g.error_code;
    } else if (g.error_code != 0 && queries.front().topics) {
        // v0-1 have no top-level error: every requested partition carries it.
        for (auto& [name, parts] : *queries.front().topics) {
            auto& t = resp.topics.emplace_back();
            t.name = name;
            for (int32_t part : parts) {
                auto& po = t.partitions.emplace_back();
                po.partition_index = part;
                po.committed_offset = -1;
                po.metadata = "";
                po.error_code = g.error_code;
            }
        }
        co_return resp;
    }
    for (auto& t : g.topics) {
        auto& tout = resp.topics.emplace_back();
        tout.name = std::move(t.name);
        for (auto& part : t.partitions) {
            auto& po = tout.partitions.emplace_back();
            po.partition_index = part.partition_index;
            po.committed_offset = part.committed_offset;
            po.committed_leader_epoch = part.committed_leader_epoch;
            po.metadata = std::move(part.metadata);
            po.error_code = part.error_code;
        }
    }
    co_return resp;
}

namespace {

// Runs f(op) on every loaded-or-loadable partition's shard and gathers the results.
template <typename R, typename F>
awaitable<std::vector<R>> each_partition(group_coordinator::impl& im, F f) {
    std::vector<R> out;
    auto parts = im.partitions();
    for (const auto& p : *parts) {
        auto op = im.on_partition<R>(
            p, [f](offsets_partition& op, std::function<void(R)> done) { done(f(op)); });
        out.push_back(co_await std::move(op));
    }
    co_return out;
}

}  // namespace

awaitable<m::list_groups_response> group_coordinator::list_groups(m::list_groups_request req,
                                                                  int16_t version) {
    auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), ::tolower);
        return s;
    };
    std::set<std::string> states, types;
    if (version >= 4)
        for (const auto& s : req.states_filter)
            states.insert(lower(s));
    if (version >= 5)
        for (const auto& t : req.types_filter)
            types.insert(lower(t));
    using listed = m::list_groups_response::listed_group;
    struct part_result {
        error_code e = error_code::none;
        std::vector<listed> groups;
    };
    auto op = each_partition<part_result>(*impl_, [this](offsets_partition& op) {
        part_result r;
        r.e = impl_->ready(op);
        if (r.e == error_code::not_coordinator) r.e = error_code::none;  // not hosted here
        if (op.st != offsets_partition::status::loaded) return r;
        for (const auto& [id, g] : op.groups) {
            if (g->state == group_state::dead) continue;
            auto& l = r.groups.emplace_back();
            l.group_id = id;
            l.protocol_type = g->protocol_type;
            l.group_state = state_name(g->state);
            l.group_type = "classic";
        }
        return r;
    });
    auto parts = co_await std::move(op);
    m::list_groups_response resp;
    for (auto& pr : parts) {
        if (pr.e != error_code::none) resp.error_code = wire(pr.e);
        for (auto& l : pr.groups) {
            if (!states.empty() && !states.count(lower(l.group_state))) continue;
            if (!types.empty() && !types.count(lower(l.group_type))) continue;
            resp.groups.push_back(std::move(l));
        }
    }
    co_return resp;
}

awaitable<m::describe_groups_response> group_coordinator::describe_groups(
    m::describe_groups_request req, int16_t) {
    using described = m::describe_groups_response::described_group;
    m::describe_groups_response resp;
    for (const auto& id : req.groups) {
        auto p = impl_->partition_of(id);
        if (!p) {
            auto& d = resp.groups.emplace_back();
            d.group_id = id;
            d.error_code = wire(error_code::coordinator_not_available);
            continue;
        }
        auto op = impl_->on_partition<described>(
            p, [this, id](offsets_partition& op, std::function<void(described)> done) {
                described d;
                d.group_id = id;
                if (auto e = impl_->ready(op); e != error_code::none) {
                    d.error_code = wire(e);
                    return done(std::move(d));
                }
                group* g = op.find(id);
                if (!g) {
                    d.group_state = "Dead";
                    return done(std::move(d));
                }
                d.group_state = state_name(g->state);
                d.protocol_type = g->protocol_type;
                bool stable = g->state == group_state::stable;
                d.protocol_data = stable ? g->protocol.value_or("") : "";
                for (const auto& [mid, mem] : g->members) {
                    auto& dm = d.members.emplace_back();
                    dm.member_id = mid;
                    dm.group_instance_id = mem->instance_id;
                    dm.client_id = mem->client_id;
                    dm.client_host = mem->client_host;
                    if (stable && g->protocol) {
                        if (const auto* md = mem->metadata_for(*g->protocol))
                            dm.member_metadata = *md;
                        dm.member_assignment = mem->assignment;
                    }
                }
                done(std::move(d));
            });
        resp.groups.push_back(co_await std::move(op));
    }
    co_return resp;
}

awaitable<m::delete_groups_response> group_coordinator::delete_groups(m::delete_groups_request req,
                                                                      int16_t) {
    m::delete_groups_response resp;
    for (const auto& id : req.groups_names) {
        auto& r = resp.results.emplace_back();
        r.group_id = id;
        auto op = delete_group(id);
        r.error_code = wire(co_await std::move(op));
    }
    co_return resp;
}

awaitable<m::offset_delete_response> group_coordinator::offset_delete(m::offset_delete_request req,
                                                                      int16_t) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) {
        m::offset_delete_response resp;
        resp.error_code = wire(error_code::coordinator_not_available);
        co_return resp;
    }
    auto op = impl_->on_partition<m::offset_delete_response>(
        p, [this, req = std::move(req)](offsets_partition& op,
                                        std::function<void(m::offset_delete_response)> done) {
            done(impl_->offset_delete(op, req));
        });
    co_return co_await std::move(op);
}

// ---- admin views ----

awaitable<std::vector<group_view>> group_coordinator::list_groups() {
    auto op = each_partition<std::vector<group_view>>(*impl_, [this](offsets_partition& op) {
        std::vector<group_view> out;
        (void)impl_->ready(op);
        if (op.st != offsets_partition::status::loaded) return out;
        for (const auto& [id, g] : op.groups)
            if (g->state != group_state::dead) out.push_back(impl_->view_of(*g));
        return out;
    });
    auto parts = co_await std::move(op);
    std::vector<group_view> all;
    for (auto& v : parts)
        for (auto& g : v)
            all.push_back(std::move(g));
    std::sort(all.begin(), all.end(),
              [](const group_view& a, const group_view& b) { return a.group_id < b.group_id; });
    co_return all;
}

awaitable<std::optional<group_view>> group_coordinator::describe_group(std::string group_id) {
    if (impl_->partitions()->empty()) co_return std::nullopt;
    auto p = impl_->partition_of(group_id);
    if (!p) co_return std::nullopt;
    auto op = impl_->on_partition<std::optional<group_view>>(
        p, [this, group_id](offsets_partition& op,
                            std::function<void(std::optional<group_view>)> done) {
            (void)impl_->ready(op);
            group* g = op.st == offsets_partition::status::loaded ? op.find(group_id) : nullptr;
            if (!g || g->state == group_state::dead) return done(std::nullopt);
            done(impl_->view_of(*g));
        });
    co_return co_await std::move(op);
}

awaitable<std::vector<partition_lag_view>> group_coordinator::group_lag(std::string group_id) {
    std::vector<partition_lag_view> out;
    if (impl_->partitions()->empty()) co_return out;
    auto p = impl_->partition_of(group_id);
    if (!p) co_return out;
    struct snapshot {
        std::optional<group_view> view;
        std::vector<std::pair<topic_partition, int64_t>> offsets;
    };
    auto op = impl_->on_partition<snapshot>(
        p, [this, group_id](offsets_partition& op, std::function<void(snapshot)> done) {
            snapshot s;
            (void)impl_->ready(op);
            group* g = op.st == offsets_partition::status::loaded ? op.find(group_id) : nullptr;
            if (g) {
                s.view = impl_->view_of(*g);
                for (const auto& [tp, co] : g->offsets)
                    s.offsets.emplace_back(tp, co.offset);
            }
            done(std::move(s));
        });
    auto s = co_await std::move(op);
    if (s.offsets.empty()) co_return out;
    std::vector<topic_partition> tps;
    for (const auto& [tp, off] : s.offsets)
        tps.push_back(tp);
    auto marks_op = impl_->host.watermarks(tps);
    auto marks = co_await std::move(marks_op);
    std::map<std::pair<std::string, int32_t>, const member_view*> owner;
    if (s.view)
        for (const auto& mv : s.view->members)
            for (const auto& a : mv.assignment)
                owner[a] = &mv;
    for (size_t i = 0; i < s.offsets.size(); ++i) {
        const auto& [tp, committed] = s.offsets[i];
        auto& l = out.emplace_back();
        l.topic = tp.topic;
        l.partition = tp.partition;
        l.committed_offset = committed;
        int64_t start = i < marks.size() ? marks[i].first : -1;
        int64_t hw = i < marks.size() ? marks[i].second : -1;
        l.log_end_offset = hw;
        l.lag = hw < 0 ? 0 : std::max<int64_t>(0, hw - std::max(committed, start));
        auto it = owner.find({tp.topic, tp.partition});
        if (it != owner.end()) {
            l.member_id = it->second->member_id;
            l.client_id = it->second->client_id;
            l.client_host = it->second->client_host;
            l.group_instance_id = it->second->group_instance_id;
        }
    }
    co_return out;
}

awaitable<protocol::error_code> group_coordinator::delete_group(std::string group_id) {
    auto p = impl_->partition_of(group_id);
    if (!p) co_return error_code::coordinator_not_available;
    auto op = impl_->on_partition<error_code>(
        p, [this, group_id](offsets_partition& op, std::function<void(error_code)> done) {
            done(impl_->delete_group(op, group_id));
        });
    co_return co_await std::move(op);
}

}  // namespace rill::coordinator
