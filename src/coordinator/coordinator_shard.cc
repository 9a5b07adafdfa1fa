// Loading, writing and the periodic work of one coordinator shard (see coordinator_shard.h).
#include "coordinator/coordinator_shard.h"

#include "common/group_config.h"
#include "common/logging.h"
#include "coordinator/offsets_records.h"
#include "protocol/generated/consumer_group_metadata_key.h"
#include "protocol/record_batch.h"
#include "storage/producer_state.h"

namespace rill::coordinator {

namespace m = protocol::messages;
using protocol::error_code;

coordinator_shard::coordinator_shard(topic_partition tp, std::unique_ptr<shard_host> host,
                                     const broker_config& config)
    : tp_(std::move(tp)),
      host_(std::move(host)),
      config_(config),
      log_(rill::logger("coordinator")) {}

coordinator_shard::~coordinator_shard() = default;

int64_t coordinator_shard::cfg(std::string_view key) const {
    return config_.get_int(key);
}

int64_t coordinator_shard::group_cfg(const std::string& group, std::string_view key) const {
    auto overrides = host_->group_configs(group);
    return group_config_int(key, overrides ? &*overrides : nullptr, config_);
}

group* coordinator_shard::find_group(const std::string& id) {
    auto it = groups_.find(id);
    return it == groups_.end() ? nullptr : it->second.get();
}

classic_group* coordinator_shard::find_classic(const std::string& id) {
    group* g = find_group(id);
    return g && g->type() == group_type::classic ? static_cast<classic_group*>(g) : nullptr;
}

consumer_group* coordinator_shard::find_consumer(const std::string& id) {
    group* g = find_group(id);
    return g && g->type() == group_type::consumer ? static_cast<consumer_group*>(g) : nullptr;
}

// ---- loading ----

error_code coordinator_shard::ready() {
    const int32_t epoch = host_->leader_epoch();
    if (status_ != status::unloaded && epoch != leader_epoch_)
        unload(epoch < 0 ? "leadership moved to another broker" : "new leader epoch");
    if (epoch < 0) return error_code::not_coordinator;
    if (status_ == status::loaded) return error_code::none;
    if (status_ == status::loading) return error_code::coordinator_load_in_progress;
    status_ = status::loading;
    leader_epoch_ = epoch;
    load_next_ = 0;
    ++load_gen_;
    load_step();
    return status_ == status::loaded ? error_code::none : error_code::coordinator_load_in_progress;
}

void coordinator_shard::unload(const char* why) {
    size_t n = groups_.size();
    for (auto& [id, g] : groups_)
        if (g->type() == group_type::classic) {
            auto& cg = static_cast<classic_group&>(*g);
            cg.fail_waiting(error_code::not_coordinator);
            cg.transition_to(group_state::dead, host_->now_ms());
        } else {
            static_cast<consumer_group&>(*g).dead = true;
        }
    groups_.clear();
    offsets_.clear();
    pending_txn_.clear();
    staged_txn_.clear();
    staged_groups_.clear();
    staged_offsets_.clear();
    staged_consumer_.clear();
    expiring_.clear();
    status_ = status::unloaded;
    leader_epoch_ = -1;
    ++incarnation_;
    log_->info("{}: unloaded {} group(s): {}", tp_.dir_name(), n, why);
}

void coordinator_shard::abort_load(const std::string& why) {
    log_->error("{}: loading failed at offset {}: {}; will retry", tp_.dir_name(), load_next_, why);
    status_ = status::unloaded;
    leader_epoch_ = -1;
    staged_groups_.clear();
    staged_offsets_.clear();
    staged_consumer_.clear();
    staged_txn_.clear();
}

void coordinator_shard::replay(const protocol::record_view& rec) {
    if (!rec.key) return;
    auto key = decode_key(*rec.key);
    if (!key) {
        log_->warn("{}: skipping a record with an unreadable key at offset {}", tp_.dir_name(),
                   rec.offset);
        return;
    }
    if (auto* other = std::get_if<other_key>(&*key)) {
        if (other->version < 3 || other->version > 8) return;  // share groups and the like
        std::optional<protocol::bytes_view> value;
        if (rec.value) value = *rec.value;
        if (!staged_consumer_.replay(other->version, *rec.key, value)) {
            log_->warn("{}: skipping an unreadable consumer group record at offset {}",
                       tp_.dir_name(), rec.offset);
            return;
        }
        // A consumer group's epoch record replaces an older classic group of the same id.
        if (other->version == 3 && rec.value) {
            protocol::reader r(*rec.key);
            (void)r.read_int16();
            m::consumer_group_metadata_key k;
            k.decode(r, 3);
            if (r.ok()) staged_groups_.erase(k.group_id);
        }
    } else if (auto* ok = std::get_if<offset_key>(&*key)) {
        auto k = std::make_pair(ok->group, topic_partition{ok->topic, ok->partition});
        if (!rec.value) {
            staged_offsets_[k] = std::nullopt;
            return;
        }
        auto v = decode_offset_value(*rec.value);
        if (!v) {
            log_->warn("{}: skipping an unreadable offset value at offset {}", tp_.dir_name(),
                       rec.offset);
            return;
        }
        staged_offsets_[k] = committed_offset{v->offset, v->leader_epoch, v->metadata,
                                              v->commit_timestamp, v->expire_timestamp};
    } else if (auto* gk = std::get_if<group_key>(&*key)) {
        if (!rec.value) {
            staged_groups_[gk->group] = std::nullopt;
            // A group tombstone also ends the offsets written before it.
            for (auto it = staged_offsets_.lower_bound({gk->group, topic_partition{}});
                 it != staged_offsets_.end() && it->first.first == gk->group; ++it)
                it->second = std::nullopt;
            return;
        }
        auto v = decode_group_value(*rec.value);
        if (!v) {
            log_->warn("{}: skipping an unreadable group value at offset {}", tp_.dir_name(),
                       rec.offset);
            return;
        }
        staged_consumer_.forget(gk->group);  // a classic group replaces a consumer group
        staged_groups_[gk->group] = std::move(*v);
    }
}

void coordinator_shard::load_step() {
    // One read in flight at a time; its answer arrives on this shard (the file reads run on
    // the host's work pool), so the shard serves other work between steps.
    host_->read(load_next_, 1u << 20,
                [w = weak_from_this(), gen = load_gen_](result<log_chunk, std::string> chunk) {
                    auto self = w.lock();
                    // A read of an earlier load (unloaded, failed or restarted meanwhile).
                    if (!self || self->load_gen_ != gen || self->status_ != status::loading) return;
                    self->on_chunk(std::move(chunk));
                });
}

void coordinator_shard::on_chunk(result<log_chunk, std::string> chunk) {
    if (!chunk) return abort_load(chunk.error());
    if (load_next_ < chunk->log_start) {
        load_next_ = chunk->log_start;
        return load_step();
    }
    if (load_next_ >= chunk->log_end || chunk->batches.empty()) return finish_load();
    const int64_t before = load_next_;
    protocol::bytes_view rest(chunk->batches);
    while (auto slice = protocol::next_batch(rest)) {
        load_next_ = slice->header.last_offset() + 1;
        const int64_t pid = slice->header.producer_id;
        if (slice->header.is_control()) {
            // A transaction's end: its offsets apply (COMMIT) or are dropped (ABORT).
            auto it = staged_txn_.find(pid);
            if (it == staged_txn_.end()) continue;
            if (storage::control_type_of(slice->bytes) == storage::kControlCommit)
                for (auto& [k, co] : it->second)
                    staged_offsets_[k] = std::move(co);
            staged_txn_.erase(it);
            continue;
        }
        auto reader = protocol::record_reader::open(slice->bytes);
        if (!reader) continue;
        protocol::record_view rec;
        const bool txn = slice->header.is_transactional() && pid >= 0;
        while (reader->next(rec))
            if (txn)
                replay_txn(pid, rec);
            else
                replay(rec);
    }
    if (load_next_ == before) return abort_load("no complete batch at this offset");
    load_step();
}

void coordinator_shard::finish_load() {
    const int64_t now = host_->now_ms();
    size_t ngroups = 0, noffsets = 0;
    for (auto& [id, v] : staged_groups_) {
        if (!v) continue;
        groups_[id] = classic_group::from_record(id, *v, now);
        ++ngroups;
    }
    for (auto& [id, g] : staged_consumer_.build(now)) {
        resolve_regexes(g);  // not persisted: resolved against today's topics
        groups_[id] = std::make_unique<consumer_group>(std::move(g));
        ++ngroups;
    }
    for (auto& [k, v] : staged_offsets_) {
        if (!v) continue;
        if (!find_group(k.first)) groups_[k.first] = std::make_unique<classic_group>(k.first, -1);
        offsets_.put(k.first, k.second, *v);
        ++noffsets;
    }
    staged_groups_.clear();
    staged_offsets_.clear();
    pending_txn_ = std::move(staged_txn_);  // transactions still open
    staged_txn_.clear();
    status_ = status::loaded;
    if (ngroups || noffsets)
        log_->info("{}: loaded {} group(s) and {} committed offset(s)", tp_.dir_name(), ngroups,
                   noffsets);
}

// ---- writing ----

namespace {

// Kafka's mapping of a failed coordinator write to what the client sees.
error_code client_error(error_code e) {
    switch (e) {
        case error_code::none:
        case error_code::not_coordinator:
            return e;
        case error_code::not_leader_or_follower:
        case error_code::kafka_storage_error:
            return error_code::not_coordinator;
        case error_code::message_too_large:
        case error_code::record_list_too_large:
            return error_code::invalid_commit_offset_size;
        default:  // unknown partition, not enough replicas (after append), request timed out
            return error_code::coordinator_not_available;
    }
}

}  // namespace

void coordinator_shard::write(std::vector<protocol::record> recs,
                              std::function<void(error_code)> done) {
    write_as(protocol::batch_spec{}, std::move(recs), std::move(done));
}

void coordinator_shard::write_as(const protocol::batch_spec& spec,
                                 std::vector<protocol::record> recs,
                                 std::function<void(error_code)> done) {
    if (recs.empty()) return done(error_code::none);
    const int64_t now = host_->now_ms();
    for (auto& r : recs)
        r.timestamp = now;
    auto batch = protocol::build_batch(spec, recs);
    if (!batch) return done(error_code::unknown_server_error);
    auto base = host_->append(*batch);
    if (!base) {
        log_->warn("{}: append failed: error {}", tp_.dir_name(), static_cast<int>(base.error()));
        return done(client_error(base.error()));
    }
    ++pending_writes_;
    const int64_t end = *base + static_cast<int64_t>(recs.size());
    host_->when_committed(
        end, [w = weak_from_this(), inc = incarnation_, done = std::move(done)](error_code e) {
            auto self = w.lock();
            if (!self) return;  // shutting down: nobody waits any more
            --self->pending_writes_;
            if (e != error_code::none)
                self->log_->warn("{}: a write did not commit: error {}", self->tp_.dir_name(),
                                 static_cast<int>(e));
            // Unloaded meanwhile: the state it would change is gone (a reload replays the log).
            if (e == error_code::none && self->incarnation_ != inc) e = error_code::not_coordinator;
            done(client_error(e));
        });
}

// ---- periodic work ----

void coordinator_shard::tick() {
    if (status_ != status::loaded) return;
    if (host_->leader_epoch() != leader_epoch_) {
        unload("leadership changed");
        return;
    }
    const int64_t now = host_->now_ms();
    std::vector<std::string> ids;
    for (const auto& [id, g] : groups_)
        if (g->type() == group_type::classic) ids.push_back(id);
    for (const auto& id : ids)
        if (classic_group* g = find_classic(id)) expire_members(*g, now);
    expire_consumer_members(now);
    if (now - last_expiry_check_ >= cfg("offsets.retention.check.interval.ms")) {
        last_expiry_check_ = now;
        expire_offsets(now);
    }
}

}  // namespace rill::coordinator
