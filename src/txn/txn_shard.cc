#include "txn/txn_shard.h"

#include <limits>

#include "common/logging.h"
#include "protocol/record_batch.h"

namespace rill::txn {

txn_shard::txn_shard(topic_partition tp, std::unique_ptr<coordinator::shard_host> host,
                     marker_writer markers, const broker_config& config)
    : tp_(std::move(tp)),
      host_(std::move(host)),
      markers_(std::move(markers)),
      config_(config),
      log_(rill::logger("txn")) {}

txn_shard::~txn_shard() = default;

int64_t txn_shard::cfg(std::string_view key) const {
    return config_.get_int(key);
}

// ---- loading ----

error_code txn_shard::ready() {
    const int32_t epoch = host_->leader_epoch();
    if (status_ != status::unloaded && epoch != leader_epoch_)
        unload(epoch < 0 ? "leadership moved to another broker" : "new leader epoch");
    if (epoch < 0) return error_code::not_coordinator;
    if (status_ == status::loaded) return error_code::none;
    if (status_ == status::loading) return error_code::coordinator_load_in_progress;
    status_ = status::loading;
    leader_epoch_ = epoch;
    load_next_ = 0;
    load_step();
    return status_ == status::loaded ? error_code::none : error_code::coordinator_load_in_progress;
}

void txn_shard::unload(const char* why) {
    size_t n = txns_.size();
    txns_.clear();
    busy_.clear();
    retry_markers_.clear();
    staged_.clear();
    status_ = status::unloaded;
    leader_epoch_ = -1;
    ++incarnation_;
    log_->info("{}: unloaded {} transactional id(s): {}", tp_.dir_name(), n, why);
}

void txn_shard::abort_load(const std::string& why) {
    log_->error("{}: loading failed at offset {}: {}; will retry", tp_.dir_name(), load_next_, why);
    status_ = status::unloaded;
    leader_epoch_ = -1;
    staged_.clear();
}

void txn_shard::load_step() {
    // One read in flight at a time; its answer arrives on this shard (the file reads run on
    // the host's work pool).
    host_->read(load_next_, 1u << 20,
                [w = weak_from_this(), inc = incarnation_,
                 at = load_next_](result<coordinator::log_chunk, std::string> chunk) {
                    auto self = w.lock();
                    if (!self || self->incarnation_ != inc || self->status_ != status::loading ||
                        self->load_next_ != at)
                        return;
                    self->on_chunk(std::move(chunk));
                });
}

void txn_shard::on_chunk(result<coordinator::log_chunk, std::string> chunk) {
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
        if (slice->header.is_control()) continue;
        auto reader = protocol::record_reader::open(slice->bytes);
        if (!reader) continue;
        protocol::record_view rec;
        while (reader->next(rec)) {
            if (!rec.key) continue;
            auto id = decode_txn_key(*rec.key);
            if (!id) {
                log_->warn("{}: skipping a record with an unknown key at offset {}", tp_.dir_name(),
                           rec.offset);
                continue;
            }
            if (!rec.value) {
                staged_[*id] = std::nullopt;
                continue;
            }
            auto md = decode_txn_value(*id, *rec.value);
            if (!md) {
                log_->warn("{}: skipping an unreadable value at offset {}", tp_.dir_name(),
                           rec.offset);
                continue;
            }
            staged_[*id] = std::move(*md);
        }
    }
    if (load_next_ == before) return abort_load("no complete batch at this offset");
    load_step();
}

void txn_shard::finish_load() {
    std::vector<std::string> resume;
    for (auto& [id, md] : staged_) {
        if (!md) continue;
        if (md->state == txn_state::prepare_commit || md->state == txn_state::prepare_abort)
            resume.push_back(id);
        txns_[id] = std::move(*md);
    }
    staged_.clear();
    status_ = status::loaded;
    if (!txns_.empty())
        log_->info("{}: loaded {} transactional id(s), {} to complete", tp_.dir_name(),
                   txns_.size(), resume.size());
    for (const auto& id : resume) {
        busy_.insert(id);
        complete(id);
    }
}

// ---- writing ----

namespace {

// Kafka's mapping of a failed transaction log write to what the client sees.
error_code client_error(error_code e) {
    switch (e) {
        case error_code::none:
        case error_code::not_coordinator:
            return e;
        case error_code::not_leader_or_follower:
        case error_code::kafka_storage_error:
            return error_code::not_coordinator;
        default:  // unknown partition, not enough replicas, timed out, too large
            return error_code::coordinator_not_available;
    }
}

}  // namespace

void txn_shard::write(txn_metadata next, std::function<void(error_code)> done) {
    const int64_t now = host_->now_ms();
    std::vector<protocol::record> recs(1);
    recs[0].key = encode_txn_key(next.transactional_id);
    recs[0].value = encode_txn_value(next);
    recs[0].timestamp = now;
    protocol::batch_spec spec;
    auto batch = protocol::build_batch(spec, recs);
    if (!batch) return done(error_code::unknown_server_error);
    auto base = host_->append(*batch);
    if (!base) {
        log_->warn("{}: append failed: error {}", tp_.dir_name(), static_cast<int>(base.error()));
        return done(client_error(base.error()));
    }
    host_->when_committed(*base + 1,
                          [w = weak_from_this(), inc = incarnation_, next = std::move(next),
                           done = std::move(done)](error_code e) mutable {
                              auto self = w.lock();
                              if (!self) return;
                              if (e == error_code::none && self->incarnation_ != inc)
                                  e = error_code::not_coordinator;
                              if (e == error_code::none) {
                                  auto id = next.transactional_id;
                                  self->txns_[id] = std::move(next);
                              } else {
                                  self->log_->warn("{}: a write did not commit: error {}",
                                                   self->tp_.dir_name(), static_cast<int>(e));
                              }
                              done(client_error(e));
                          });
}

void txn_shard::expire(const std::string& id) {
    std::vector<protocol::record> recs(1);
    recs[0].key = encode_txn_key(id);
    recs[0].timestamp = host_->now_ms();
    protocol::batch_spec spec;
    auto batch = protocol::build_batch(spec, recs);
    if (!batch) return;
    auto base = host_->append(*batch);
    if (!base) return;  // tried again at the next check
    busy_.insert(id);
    log_->info("{}: transactional id {} expired", tp_.dir_name(), id);
    host_->when_committed(*base + 1, [w = weak_from_this(), inc = incarnation_, id](error_code e) {
        auto self = w.lock();
        if (!self || self->incarnation_ != inc) return;
        self->busy_.erase(id);
        if (e == error_code::none) self->txns_.erase(id);
    });
}

void txn_shard::complete(const std::string& id) {
    auto it = txns_.find(id);
    if (it == txns_.end()) {
        busy_.erase(id);
        return;
    }
    const txn_metadata& md = it->second;
    const bool commit = md.state == txn_state::prepare_commit;
    marker_request mr;
    mr.producer_id = md.producer_id;
    mr.producer_epoch = md.producer_epoch;
    mr.commit = commit;
    mr.coordinator_epoch = leader_epoch_;
    mr.partitions.assign(md.partitions.begin(), md.partitions.end());
    auto after_markers = [w = weak_from_this(), inc = incarnation_, id, commit](error_code e) {
        auto self = w.lock();
        if (!self || self->incarnation_ != inc) return;
        auto it = self->txns_.find(id);
        if (it == self->txns_.end()) {
            self->busy_.erase(id);
            return;
        }
        if (e != error_code::none) {
            self->log_->warn("{}: markers of {} not written (error {}); retrying",
                             self->tp_.dir_name(), id, static_cast<int>(e));
            self->retry_markers_.insert(id);
            return;
        }
        txn_metadata next = it->second;
        next.state = commit ? txn_state::complete_commit : txn_state::complete_abort;
        next.partitions.clear();
        next.update_ms = self->host_->now_ms();
        self->write(std::move(next), [w, inc, id](error_code we) {
            auto self = w.lock();
            if (!self || self->incarnation_ != inc) return;
            if (we != error_code::none) {
                self->retry_markers_.insert(id);  // markers again (idempotent), then complete
                return;
            }
            self->busy_.erase(id);
        });
    };
    if (mr.partitions.empty()) return after_markers(error_code::none);
    markers_(std::move(mr), std::move(after_markers));
}

void txn_shard::fence_and_abort(const std::string& id, std::function<void(error_code)> done) {
    txn_metadata next = txns_.at(id);
    // Bump the epoch so that the previous producer's requests and batches are fenced; the
    // markers carry the new epoch.
    if (next.producer_epoch < std::numeric_limits<int16_t>::max() - 1) ++next.producer_epoch;
    next.state = txn_state::prepare_abort;
    next.update_ms = host_->now_ms();
    busy_.insert(id);
    write(std::move(next),
          [w = weak_from_this(), inc = incarnation_, id, done = std::move(done)](error_code e) {
              auto self = w.lock();
              if (!self || self->incarnation_ != inc) return done(error_code::not_coordinator);
              if (e != error_code::none) {
                  self->busy_.erase(id);
                  return done(e);
              }
              self->complete(id);
              done(error_code::none);
          });
}

// ---- the protocol ----

void txn_shard::init_producer_id(const std::string& id, int32_t timeout_ms, int64_t req_id,
                                 int16_t req_epoch, int64_t fresh_id,
                                 std::function<void(init_result)> cb) {
    init_result res;
    auto fail = [&](error_code e) {
        res.error = e;
        cb(res);
    };
    if (auto e = ready(); e != error_code::none) return fail(e);
    if (timeout_ms <= 0 || timeout_ms > cfg("transaction.max.timeout.ms"))
        return fail(error_code::invalid_transaction_timeout);
    if (busy_.count(id)) return fail(error_code::concurrent_transactions);
    const int64_t now = host_->now_ms();
    txn_metadata next;
    auto it = txns_.find(id);
    if (it == txns_.end() || it->second.state == txn_state::dead) {
        next.transactional_id = id;
        next.producer_id = fresh_id;
        next.producer_epoch = 0;
    } else {
        const txn_metadata& md = it->second;
        // KIP-360: a producer naming its id and epoch must hold the current ones.
        if (req_id >= 0 && (req_id != md.producer_id || req_epoch != md.producer_epoch))
            return fail(error_code::producer_fenced);
        switch (md.state) {
            case txn_state::prepare_commit:
            case txn_state::prepare_abort:
            case txn_state::prepare_epoch_fence:
                return fail(error_code::concurrent_transactions);
            case txn_state::ongoing:
                // A new instance: abort the open transaction (fencing the previous producer)
                // and have this one retry once the abort completed.
                fence_and_abort(id, [cb](error_code e) {
                    init_result r;
                    r.error = e == error_code::none ? error_code::concurrent_transactions : e;
                    cb(r);
                });
                return;
            default:
                break;
        }
        next = md;
        if (next.producer_epoch >= std::numeric_limits<int16_t>::max() - 1) {
            next.last_producer_id = next.producer_id;
            next.producer_id = fresh_id;
            next.producer_epoch = 0;
        } else {
            ++next.producer_epoch;
        }
    }
    next.timeout_ms = timeout_ms;
    next.state = txn_state::empty;
    next.partitions.clear();
    next.start_ms = -1;
    next.update_ms = now;
    busy_.insert(id);
    const int64_t pid = next.producer_id;
    const int16_t epoch = next.producer_epoch;
    write(std::move(next),
          [w = weak_from_this(), inc = incarnation_, id, pid, epoch, cb](error_code e) {
              auto self = w.lock();
              if (self && self->incarnation_ == inc) self->busy_.erase(id);
              init_result r;
              r.error = e;
              if (e == error_code::none) {
                  r.producer_id = pid;
                  r.producer_epoch = epoch;
              }
              cb(r);
          });
}

void txn_shard::add_partitions(const std::string& id, int64_t producer_id, int16_t epoch,
                               std::vector<topic_partition> tps,
                               std::function<void(error_code)> cb) {
    if (auto e = ready(); e != error_code::none) return cb(e);
    auto it = txns_.find(id);
    if (it == txns_.end() || it->second.producer_id != producer_id)
        return cb(error_code::invalid_producer_id_mapping);
    const txn_metadata& md = it->second;
    if (md.producer_epoch != epoch) return cb(error_code::producer_fenced);
    if (busy_.count(id)) return cb(error_code::concurrent_transactions);
    if (md.state == txn_state::prepare_commit || md.state == txn_state::prepare_abort)
        return cb(error_code::concurrent_transactions);
    if (!valid_transition(md.state, txn_state::ongoing)) return cb(error_code::invalid_txn_state);
    txn_metadata next = md;
    bool added = false;
    for (auto& tp : tps)
        added |= next.partitions.insert(std::move(tp)).second;
    if (!added && md.state == txn_state::ongoing) return cb(error_code::none);
    const int64_t now = host_->now_ms();
    if (md.state != txn_state::ongoing) next.start_ms = now;
    next.state = txn_state::ongoing;
    next.update_ms = now;
    busy_.insert(id);
    write(std::move(next), [w = weak_from_this(), inc = incarnation_, id, cb](error_code e) {
        auto self = w.lock();
        if (self && self->incarnation_ == inc) self->busy_.erase(id);
        cb(e);
    });
}

void txn_shard::end_txn(const std::string& id, int64_t producer_id, int16_t epoch, bool commit,
                        std::function<void(error_code)> cb) {
    if (auto e = ready(); e != error_code::none) return cb(e);
    auto it = txns_.find(id);
    if (it == txns_.end() || it->second.producer_id != producer_id)
        return cb(error_code::invalid_producer_id_mapping);
    const txn_metadata& md = it->second;
    if (md.producer_epoch != epoch) return cb(error_code::producer_fenced);
    switch (md.state) {
        case txn_state::ongoing:
            break;
        case txn_state::complete_commit:
            // A retry of the EndTxn that completed it.
            return cb(commit ? error_code::none : error_code::invalid_txn_state);
        case txn_state::complete_abort:
            return cb(commit ? error_code::invalid_txn_state : error_code::none);
        case txn_state::prepare_commit:
            return cb(commit ? error_code::concurrent_transactions : error_code::invalid_txn_state);
        case txn_state::prepare_abort:
            return cb(commit ? error_code::invalid_txn_state : error_code::concurrent_transactions);
        default:
            return cb(error_code::invalid_txn_state);
    }
    if (busy_.count(id)) return cb(error_code::concurrent_transactions);
    txn_metadata next = md;
    next.state = commit ? txn_state::prepare_commit : txn_state::prepare_abort;
    next.update_ms = host_->now_ms();
    busy_.insert(id);
    write(std::move(next), [w = weak_from_this(), inc = incarnation_, id, cb](error_code e) {
        auto self = w.lock();
        if (!self || self->incarnation_ != inc) return cb(error_code::not_coordinator);
        if (e != error_code::none) {
            self->busy_.erase(id);
            return cb(e);
        }
        // Prepared: the outcome is decided and durable; the markers follow.
        cb(error_code::none);
        self->complete(id);
    });
}

error_code txn_shard::check_member(const std::string& id, int64_t producer_id, int16_t epoch,
                                   const topic_partition& tp) const {
    if (status_ != status::loaded) return error_code::coordinator_load_in_progress;
    auto it = txns_.find(id);
    if (it == txns_.end() || it->second.producer_id != producer_id)
        return error_code::invalid_producer_id_mapping;
    if (it->second.producer_epoch != epoch) return error_code::producer_fenced;
    if (it->second.state != txn_state::ongoing || !it->second.partitions.count(tp))
        return error_code::invalid_txn_state;
    return error_code::none;
}

// ---- periodic work ----

void txn_shard::tick() {
    if (status_ != status::loaded) return;
    if (host_->leader_epoch() != leader_epoch_) {
        unload("leadership changed");
        return;
    }
    auto retry = std::move(retry_markers_);
    retry_markers_.clear();
    for (const auto& id : retry)
        complete(id);
    const int64_t now = host_->now_ms();
    if (now - last_expiry_check_ >=
        cfg("transaction.remove.expired.transaction.cleanup.interval.ms")) {
        last_expiry_check_ = now;
        const int64_t idle = cfg("transactional.id.expiration.ms");
        std::vector<std::string> gone;
        for (const auto& [id, md] : txns_)
            if (!busy_.count(id) &&
                (md.state == txn_state::empty || md.state == txn_state::complete_commit ||
                 md.state == txn_state::complete_abort) &&
                now - md.update_ms > idle)
                gone.push_back(id);
        for (const auto& id : gone)
            expire(id);
    }
    if (now - last_timeout_check_ <
        cfg("transaction.abort.timed.out.transaction.cleanup.interval.ms"))
        return;
    last_timeout_check_ = now;
    std::vector<std::string> expired;
    for (const auto& [id, md] : txns_)
        if (md.state == txn_state::ongoing && !busy_.count(id) && md.start_ms >= 0 &&
            now - md.start_ms > md.timeout_ms)
            expired.push_back(id);
    for (const auto& id : expired) {
        log_->info("{}: aborting transaction of {}: open longer than its timeout", tp_.dir_name(),
                   id);
        fence_and_abort(id, [](error_code) {});
    }
}

}  // namespace rill::txn
