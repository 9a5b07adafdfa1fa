#include "coordinator/group_coordinator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>

#include "common/completion.h"
#include "common/logging.h"
#include "coordinator/partition_host.h"
#include "coordinator/wire.h"
#include "protocol/generated/consumer_protocol_assignment.h"
#include "protocol/generated/consumer_protocol_subscription.h"
#include "protocol/record_batch.h"

namespace rill::coordinator {

namespace m = protocol::messages;
using boost::asio::awaitable;
using protocol::error_code;

namespace {

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

// DescribeGroups of a consumer-protocol group, in the classic shape Kafka gives it: protocol
// type "consumer", the assignor as the protocol, each member's subscription and current
// assignment encoded as the classic consumer protocol's (version 0) bytes.
m::describe_groups_response::described_group describe_as_classic(const consumer_group& g) {
    m::describe_groups_response::described_group d;
    d.group_id = g.id();
    d.group_state = g.state_name();
    d.protocol_type = "consumer";
    d.protocol_data = g.members.empty() ? "" : g.chosen_assignor({"uniform", "range"});
    std::map<protocol::uuid, std::string> names;
    for (const auto& [name, t] : g.topics)
        names[t.id] = name;
    for (const auto& [mid, mem] : g.members) {
        auto& dm = d.members.emplace_back();
        dm.member_id = mid;
        dm.group_instance_id = mem.instance_id;
        dm.client_id = mem.client_id;
        dm.client_host = mem.client_host;
        m::consumer_protocol_subscription sub;
        auto topics = g.topics_of(mem);
        sub.topics.assign(topics.begin(), topics.end());
        protocol::writer ws;
        ws.write_int16(0);
        sub.encode(ws, 0);
        dm.member_metadata = ws.take();
        m::consumer_protocol_assignment asg;
        for (const auto& [t, ps] : mem.assigned) {
            auto it = names.find(t);
            if (it == names.end()) continue;
            auto& tp = asg.assigned_partitions.emplace_back();
            tp.topic = it->second;
            tp.partitions.assign(ps.begin(), ps.end());
        }
        protocol::writer wa;
        wa.write_int16(0);
        asg.encode(wa, 0);
        dm.member_assignment = wa.take();
    }
    return d;
}

// One __consumer_offsets partition: its coordinator shard and the executor that owns it.
struct offsets_partition {
    int32_t id = 0;
    size_t shard = 0;
    std::shared_ptr<coordinator_shard> cs;
};

}  // namespace

struct group_coordinator::impl : std::enable_shared_from_this<group_coordinator::impl> {
    coordinator_host host;
    broker_config& config;
    cluster::metadata_store& metadata;
    std::shared_ptr<spdlog::logger> log = rill::logger("coordinator");

    std::mutex mu;  // guards parts and tickers
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
            topic_partition tp{kOffsetsTopic, p->id};
            p->shard = host.shard_of(tp);
            p->cs = std::make_shared<coordinator_shard>(
                tp, make_partition_host(host, metadata, tp, p->shard), config);
            next->push_back(std::move(p));
        }
        parts = std::move(next);
    }

    // The creation of __consumer_offsets: at most one metadata write in flight, and who
    // waits for its outcome.
    std::mutex create_mu;
    bool creating = false;
    std::vector<std::function<void(error_code)>> create_waiters;

    enum class topic_status { ready, pending, unavailable };

    // Never blocks. Ready when the topic exists (its table adopted). Otherwise starts its
    // creation on the metadata thread unless it is under way: pending (`waiter`, when given,
    // runs with the outcome, on the metadata thread); unavailable when it cannot be created
    // now.
    topic_status ensure_topic(std::function<void(error_code)> waiter = nullptr) {
        auto snap = metadata.snapshot();
        if (const auto* t = snap->find_topic(kOffsetsTopic)) {
            adopt_topic(*t);
            return topic_status::ready;
        }
        auto nt = offsets_topic_spec(*snap);
        if (!nt) return topic_status::unavailable;
        {
            std::lock_guard lock(create_mu);
            if (waiter) create_waiters.push_back(std::move(waiter));
            if (creating) return topic_status::pending;
            creating = true;
        }
        auto work = [w = weak_from_this(), nt = std::move(*nt)] {
            if (auto self = w.lock()) self->create_topic(nt);
        };
        if (!host.run_metadata_write) {
            work();
            return metadata.snapshot()->find_topic(kOffsetsTopic) ? topic_status::ready
                                                                  : topic_status::unavailable;
        }
        host.run_metadata_write(std::move(work));
        return topic_status::pending;
    }

    // What __consumer_offsets is created with; nullopt while there are too few brokers.
    std::optional<cluster::new_topic> offsets_topic_spec(const cluster::metadata_snapshot& snap) {
        cluster::new_topic nt;
        nt.name = kOffsetsTopic;
        nt.partitions = static_cast<int32_t>(config.get_int("offsets.topic.num.partitions"));
        int64_t rf = config.get_int("offsets.topic.replication.factor");
        int64_t brokers = static_cast<int64_t>(std::max<size_t>(snap.brokers.size(), 1));
        if (rf > brokers && snap.cluster_mode) {
            // Kafka's rule in a cluster: wait for enough brokers rather than create an
            // under-replicated offsets topic for good.
            log->warn("{} needs offsets.topic.replication.factor={} brokers; {} live",
                      kOffsetsTopic, rf, brokers);
            return std::nullopt;
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
        return nt;
    }

    // The metadata store write (metadata thread): creates the topic, adopts it and answers
    // the waiters.
    void create_topic(const cluster::new_topic& nt) {
        error_code e = error_code::none;
        auto r = metadata.create_topic(nt, false);
        if (!r && r.error().code != cluster::meta_errc::topic_exists) {
            log->error("cannot create {}: {}", kOffsetsTopic, r.error().message);
            e = error_code::coordinator_not_available;
        } else if (const auto* t = metadata.snapshot()->find_topic(kOffsetsTopic)) {
            adopt_topic(*t);
            if (r) log->info("created {} with {} partitions", kOffsetsTopic, t->partitions.size());
        } else {
            e = error_code::coordinator_not_available;
        }
        std::vector<std::function<void(error_code)>> waiters;
        {
            std::lock_guard lock(create_mu);
            creating = false;
            waiters.swap(create_waiters);
        }
        for (auto& fn : waiters)
            fn(e);
    }

    // The partition holding `group_id`; nullptr while the topic does not exist (its creation
    // is started: the caller answers COORDINATOR_NOT_AVAILABLE, the client retries).
    std::shared_ptr<offsets_partition> partition_of(const std::string& group_id) {
        auto ps = partitions();
        if (ps->empty()) {
            if (ensure_topic() != topic_status::ready) return nullptr;
            ps = partitions();
            if (ps->empty()) return nullptr;
        }
        return (*ps)[partition_for_group(group_id, static_cast<int32_t>(ps->size()))];
    }

    // Runs f(shard, done) on the partition's owner shard; done(R) resumes the caller with R.
    template <typename R, typename F>
    awaitable<R> on_partition(std::shared_ptr<offsets_partition> p, F f) {
        // GCC 12: a temporary with captures inside a co_await expression is destroyed twice;
        // the awaitable is built in its own statement.
        auto op = run_on<R>(*host.shards[p->shard],
                            [p, f = std::move(f)](std::function<void(R)> done) mutable {
                                f(*p->cs, std::move(done));
                            });
        co_return co_await std::move(op);
    }

    // Runs f(shard) on every partition's owner shard and gathers the results.
    template <typename R, typename F>
    awaitable<std::vector<R>> each_partition(F f) {
        std::vector<R> out;
        auto ps = partitions();
        for (const auto& p : *ps) {
            auto op = on_partition<R>(
                p, [f](coordinator_shard& cs, std::function<void(R)> done) { done(f(cs)); });
            out.push_back(co_await std::move(op));
        }
        co_return out;
    }

    void tick(size_t shard) {
        auto ps = partitions();
        for (const auto& p : *ps)
            if (p->shard == shard) p->cs->tick();
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

    static group_view view_of(const group& any) {
        group_view v;
        v.group_id = any.id();
        v.state = any.state_name();
        if (any.type() == group_type::consumer) {
            const auto& cg = static_cast<const consumer_group&>(any);
            v.protocol_type = "consumer";
            v.protocol = cg.members.empty() ? "" : cg.chosen_assignor({"uniform", "range"});
            v.generation = cg.group_epoch;
            std::map<protocol::uuid, std::string> names;
            for (const auto& [name, t] : cg.topics)
                names[t.id] = name;
            for (const auto& [id, mem] : cg.members) {
                auto& mv = v.members.emplace_back();
                mv.member_id = id;
                mv.group_instance_id = mem.instance_id;
                mv.client_id = mem.client_id;
                mv.client_host = mem.client_host;
                for (const auto& [t, ps] : mem.assigned)
                    if (auto it = names.find(t); it != names.end())
                        for (int32_t p : ps)
                            mv.assignment.emplace_back(it->second, p);
            }
            return v;
        }
        const auto& g = static_cast<const classic_group&>(any);
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

    // A group the admin views may show (loading is started when needed).
    static group* visible(coordinator_shard& cs, const std::string& id) {
        (void)cs.ready();
        if (cs.load_status() != coordinator_shard::status::loaded) return nullptr;
        group* g = cs.find_group(id);
        return g && !g->is_dead() ? g : nullptr;
    }
};

// ---------------------------------------------------------------------------------------------

group_coordinator::group_coordinator(coordinator_host host, broker_config& config,
                                     cluster::metadata_store& metadata)
    : impl_(std::make_shared<impl>(std::move(host), config, metadata)) {}

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
        boost::asio::post(*impl_->host.shards[p->shard], [p] { (void)p->cs->ready(); });
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
            for (const auto& [id, g] : p->cs->groups())
                if (g->type() == group_type::classic)
                    static_cast<classic_group&>(*g).fail_waiting(error_code::not_coordinator);
        });
}

awaitable<protocol::error_code> group_coordinator::ensure_offsets_topic(
    std::chrono::milliseconds wait) {
    auto ex = co_await boost::asio::this_coro::executor;
    auto c = completion<error_code>::make(ex);
    switch (impl_->ensure_topic([c](error_code e) { c->set(e); })) {
        case impl::topic_status::ready:
            co_return error_code::none;
        case impl::topic_status::unavailable:
            co_return error_code::coordinator_not_available;
        case impl::topic_status::pending:
            break;
    }
    boost::asio::steady_timer bound(ex);
    bound.expires_after(wait);
    bound.async_wait([c](const boost::system::error_code& ec) {
        if (!ec) c->set(error_code::coordinator_not_available);
    });
    co_return co_await c->wait();
}

awaitable<m::join_group_response> group_coordinator::join_group(m::join_group_request req,
                                                                join_options opts,
                                                                client_info client) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) co_return join_error(error_code::coordinator_not_available, req.member_id);
    auto op = impl_->on_partition<m::join_group_response>(
        p, [req = std::move(req), opts, client = std::move(client)](
               coordinator_shard& cs, std::function<void(m::join_group_response)> done) mutable {
            cs.join(std::move(req), opts, std::move(client), std::move(done));
        });
    co_return co_await std::move(op);
}

awaitable<m::sync_group_response> group_coordinator::sync_group(m::sync_group_request req) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) co_return sync_error(error_code::coordinator_not_available);
    auto op = impl_->on_partition<m::sync_group_response>(
        p, [req = std::move(req)](coordinator_shard& cs,
                                  std::function<void(m::sync_group_response)> done) mutable {
            cs.sync(std::move(req), std::move(done));
        });
    co_return co_await std::move(op);
}

awaitable<error_code> group_coordinator::heartbeat(m::heartbeat_request req) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) co_return error_code::coordinator_not_available;
    auto op = impl_->on_partition<error_code>(
        p, [req = std::move(req)](coordinator_shard& cs, std::function<void(error_code)> done) {
            done(cs.heartbeat(req));
        });
    co_return co_await std::move(op);
}

awaitable<m::leave_group_response> group_coordinator::leave_group(m::leave_group_request req) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) {
        m::leave_group_response resp;
        resp.error_code = wire(error_code::coordinator_not_available);
        co_return resp;
    }
    auto op = impl_->on_partition<m::leave_group_response>(
        p, [req = std::move(req)](coordinator_shard& cs,
                                  std::function<void(m::leave_group_response)> done) {
            done(cs.leave(req));
        });
    co_return co_await std::move(op);
}

awaitable<m::offset_commit_response> group_coordinator::offset_commit(m::offset_commit_request req,
                                                                      commit_options opts) {
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
        p, [req = std::move(req), opts](coordinator_shard& cs,
                                        std::function<void(m::offset_commit_response)> done) {
            cs.commit(req, std::move(done), opts);
        });
    co_return co_await std::move(op);
}

awaitable<m::offset_fetch_response::offset_fetch_response_group> group_coordinator::offset_fetch(
    std::string group_id, fetch_topics topics, std::optional<std::string> member_id,
    int32_t member_epoch) {
    using group_out = m::offset_fetch_response::offset_fetch_response_group;
    auto p = impl_->partition_of(group_id);
    if (!p) {
        group_out g;
        g.group_id = group_id;
        g.error_code = wire(error_code::coordinator_not_available);
        co_return g;
    }
    auto op = impl_->on_partition<group_out>(
        p, [group_id, topics = std::move(topics), member_id = std::move(member_id), member_epoch](
               coordinator_shard& cs, std::function<void(group_out)> done) {
            done(cs.fetch(group_id, topics, member_id, member_epoch));
        });
    co_return co_await std::move(op);
}

awaitable<m::list_groups_response> group_coordinator::list_groups(std::set<std::string> states,
                                                                  std::set<std::string> types) {
    auto lower = [](std::string s) {
        std::transform(s.begin(), s.end(), s.begin(), ::tolower);
        return s;
    };
    using listed = m::list_groups_response::listed_group;
    struct part_result {
        error_code e = error_code::none;
        std::vector<listed> groups;
    };
    auto op = impl_->each_partition<part_result>([](coordinator_shard& cs) {
        part_result r;
        r.e = cs.ready();
        if (r.e == error_code::not_coordinator) r.e = error_code::none;  // not hosted here
        if (cs.load_status() != coordinator_shard::status::loaded) return r;
        for (const auto& [id, g] : cs.groups()) {
            if (g->is_dead()) continue;
            auto& l = r.groups.emplace_back();
            l.group_id = id;
            l.protocol_type = g->type() == group_type::classic
                                  ? static_cast<const classic_group&>(*g).protocol_type
                                  : std::string("consumer");
            l.group_state = g->state_name();
            l.group_type = type_name(g->type());
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

awaitable<m::consumer_group_heartbeat_response> group_coordinator::consumer_group_heartbeat(
    m::consumer_group_heartbeat_request req, client_info client) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) {
        m::consumer_group_heartbeat_response resp;
        resp.error_code = wire(error_code::coordinator_not_available);
        co_return resp;
    }
    auto op = impl_->on_partition<m::consumer_group_heartbeat_response>(
        p, [req = std::move(req), client = std::move(client)](
               coordinator_shard& cs,
               std::function<void(m::consumer_group_heartbeat_response)> done) mutable {
            cs.consumer_heartbeat(std::move(req), std::move(client), std::move(done));
        });
    co_return co_await std::move(op);
}

awaitable<m::consumer_group_describe_response::described_group>
group_coordinator::consumer_group_describe(std::string group_id) {
    using described = m::consumer_group_describe_response::described_group;
    auto p = impl_->partition_of(group_id);
    if (!p) {
        described d;
        d.group_id = group_id;
        d.error_code = wire(error_code::coordinator_not_available);
        co_return d;
    }
    auto op = impl_->on_partition<described>(
        p, [group_id](coordinator_shard& cs, std::function<void(described)> done) {
            done(cs.consumer_describe(group_id));
        });
    co_return co_await std::move(op);
}

awaitable<m::describe_groups_response::described_group> group_coordinator::describe_group_protocol(
    std::string id) {
    using described = m::describe_groups_response::described_group;
    auto p = impl_->partition_of(id);
    if (!p) {
        described d;
        d.group_id = id;
        d.error_code = wire(error_code::coordinator_not_available);
        co_return d;
    }
    auto op = impl_->on_partition<described>(
        p, [id](coordinator_shard& cs, std::function<void(described)> done) {
            described d;
            d.group_id = id;
            if (auto e = cs.ready(); e != error_code::none) {
                d.error_code = wire(e);
                return done(std::move(d));
            }
            if (consumer_group* cg = cs.find_consumer(id); cg && !cg->is_dead())
                return done(describe_as_classic(*cg));
            classic_group* g = cs.find_classic(id);
            if (!g) {
                d.group_state = "Dead";
                return done(std::move(d));
            }
            d.group_state = g->state_name();
            d.protocol_type = g->protocol_type;
            const bool stable = g->state() == group_state::stable;
            d.protocol_data = stable ? g->protocol.value_or("") : "";
            for (const auto& [mid, mem] : g->members) {
                auto& dm = d.members.emplace_back();
                dm.member_id = mid;
                dm.group_instance_id = mem->instance_id;
                dm.client_id = mem->client_id;
                dm.client_host = mem->client_host;
                if (stable && g->protocol) {
                    if (const auto* md = mem->metadata_for(*g->protocol)) dm.member_metadata = *md;
                    dm.member_assignment = mem->assignment;
                }
            }
            done(std::move(d));
        });
    co_return co_await std::move(op);
}

awaitable<m::offset_delete_response> group_coordinator::offset_delete(
    m::offset_delete_request req) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) {
        m::offset_delete_response resp;
        resp.error_code = wire(error_code::coordinator_not_available);
        co_return resp;
    }
    auto op = impl_->on_partition<m::offset_delete_response>(
        p, [req = std::move(req)](coordinator_shard& cs,
                                  std::function<void(m::offset_delete_response)> done) {
            cs.offset_delete(req, std::move(done));
        });
    co_return co_await std::move(op);
}

// ---- transactions ----

awaitable<m::txn_offset_commit_response> group_coordinator::txn_offset_commit(
    m::txn_offset_commit_request req) {
    auto p = impl_->partition_of(req.group_id);
    if (!p) {
        m::txn_offset_commit_response resp;
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
    auto op = impl_->on_partition<m::txn_offset_commit_response>(
        p, [req = std::move(req)](coordinator_shard& cs,
                                  std::function<void(m::txn_offset_commit_response)> done) {
            cs.txn_commit(req, std::move(done));
        });
    co_return co_await std::move(op);
}

awaitable<void> group_coordinator::txn_marker_written(int32_t partition, int64_t producer_id,
                                                      bool commit) {
    auto ps = impl_->partitions();
    if (partition < 0 || static_cast<size_t>(partition) >= ps->size()) co_return;
    auto op = impl_->on_partition<bool>(
        (*ps)[static_cast<size_t>(partition)],
        [producer_id, commit](coordinator_shard& cs, std::function<void(bool)> done) {
            cs.complete_txn(producer_id, commit);
            done(true);
        });
    co_await std::move(op);
}

awaitable<std::set<topic_partition>> group_coordinator::pending_txn_partitions(
    std::string group_id) {
    using parts = std::set<topic_partition>;
    if (impl_->partitions()->empty()) co_return parts{};
    auto p = impl_->partition_of(group_id);
    if (!p) co_return parts{};
    auto op = impl_->on_partition<parts>(
        p, [group_id](coordinator_shard& cs, std::function<void(parts)> done) {
            done(cs.pending_txn_partitions(group_id));
        });
    co_return co_await std::move(op);
}

// ---- admin views ----

awaitable<std::vector<group_view>> group_coordinator::list_groups() {
    auto op = impl_->each_partition<std::vector<group_view>>([](coordinator_shard& cs) {
        std::vector<group_view> out;
        (void)cs.ready();
        if (cs.load_status() != coordinator_shard::status::loaded) return out;
        for (const auto& [id, g] : cs.groups())
            if (!g->is_dead()) out.push_back(impl::view_of(*g));
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
        p, [group_id](coordinator_shard& cs, std::function<void(std::optional<group_view>)> done) {
            group* g = impl::visible(cs, group_id);
            if (!g) return done(std::nullopt);
            done(impl::view_of(*g));
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
        p, [group_id](coordinator_shard& cs, std::function<void(snapshot)> done) {
            snapshot s;
            if (group* g = impl::visible(cs, group_id)) {
                s.view = impl::view_of(*g);
                if (const auto* offs = cs.offsets().of(group_id))
                    for (const auto& [tp, co] : *offs)
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
        p, [group_id](coordinator_shard& cs, std::function<void(error_code)> done) {
            cs.delete_group(group_id, std::move(done));
        });
    co_return co_await std::move(op);
}

}  // namespace rill::coordinator
