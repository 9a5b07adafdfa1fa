#include "broker/partition.h"

#include <algorithm>

namespace rill::broker {

partition::partition(topic_partition tp_, size_t shard_,
                     std::shared_ptr<storage::partition_log> log_, int32_t self_,
                     isr_writer write_isr)
    : tp(std::move(tp_)),
      shard(shard_),
      log(std::move(log_)),
      self(self_),
      write_isr_(std::move(write_isr)) {}

bool partition::in_isr(int32_t id) const {
    return std::find(isr_.begin(), isr_.end(), id) != isr_.end();
}

void partition::make_sole_leader(int32_t leader_epoch) {
    leader_id_ = self;
    leader_epoch_ = leader_epoch;
    replicas_ = {self};
    isr_ = {self};
}

partition::transition partition::apply_state(const cluster::partition_info& pi, bool cluster_mode,
                                             int64_t now_ms) {
    transition t;
    t.was_leader = is_leader();
    if (removed_) {
        t.ignored = true;
        return t;
    }
    // An older state than the applied one (a late metadata snapshot, or an ISR write answered
    // after a newer leader epoch arrived) changes nothing.
    if (pi.leader_epoch < leader_epoch_ ||
        (pi.leader_epoch == leader_epoch_ && pi.partition_epoch < partition_epoch_)) {
        t.ignored = true;
        return t;
    }
    t.leader_changed = leader_id_ != pi.leader || leader_epoch_ != pi.leader_epoch;
    replicas_ = pi.replicas;
    for (int32_t r : pi.adding_replicas)
        if (std::find(replicas_.begin(), replicas_.end(), r) == replicas_.end())
            replicas_.push_back(r);
    isr_ = pi.isr;
    partition_epoch_ = pi.partition_epoch;
    leader_id_ = cluster_mode ? pi.leader : self;
    leader_epoch_ = pi.leader_epoch;
    if (is_leader()) {
        if (!t.was_leader || t.leader_changed) {
            followers_.clear();
            // The new epoch starts at our log end (Kafka's assignEpochStartOffset), so a
            // follower asking where its older epoch ends gets this offset.
            epoch_start_offset_ = log->log_end_offset();
            log->assign_epoch_start(leader_epoch_);
        }
        // Every other replica gets a progress entry; a new one starts with a grace period.
        std::erase_if(followers_, [&](const auto& f) {
            return std::find(replicas_.begin(), replicas_.end(), f.first) == replicas_.end();
        });
        for (int32_t r : replicas_)
            if (r != self && !followers_.contains(r)) followers_[r].caught_up_ms = now_ms;
        advance_high_watermark(now_ms);
        return t;
    }
    if (t.was_leader) {
        fail_ack_waiters(error_code::not_leader_or_follower);
        followers_.clear();
        wake_waiters();
    }
    return t;
}

void partition::on_log_offline() {
    fail_ack_waiters(error_code::kafka_storage_error);
    wake_waiters();
}

void partition::remove() {
    removed_ = true;
    fail_ack_waiters(error_code::not_leader_or_follower);
    wake_waiters();
}

result<storage::append_result, append_failure> partition::append(std::span<uint8_t> batch,
                                                                 int64_t now_ms,
                                                                 int32_t required_isr) {
    if (log->offline() && !removed_) {
        auto e = log->offline_error();
        return unexpected(append_failure{error_code::kafka_storage_error,
                                         e ? e->message : std::string("log dir offline")});
    }
    if (!is_leader()) return unexpected(append_failure{error_code::not_leader_or_follower, {}});
    if (static_cast<int32_t>(isr_.size()) < required_isr)
        return unexpected(append_failure{error_code::not_enough_replicas, {}});
    auto r = log->append(batch, leader_epoch_, now_ms);
    if (!r) return unexpected(append_failure{to_error_code(r.error().code), r.error().message});
    if (!r->duplicate) wake_waiters();  // consumers and followers
    advance_high_watermark(now_ms);     // single replica: committed at once
    return *r;
}

void partition::when_committed(int64_t offset, int32_t min_insync,
                               std::function<void(error_code)> done) {
    if (!is_leader()) return done(error_code::not_leader_or_follower);
    if (log->log_dir_failed()) return done(error_code::kafka_storage_error);
    ack_waiters_.push_back({offset, min_insync, std::move(done)});
    complete_ack_waiters();
}

void partition::add_waiter(std::shared_ptr<latch> l) {
    std::erase_if(waiters_, [](const auto& w) { return w->finished(); });
    waiters_.push_back(std::move(l));
}

void partition::wake_waiters() {
    for (auto& w : waiters_)
        if (!w->finished()) w->release();
    waiters_.clear();
}

std::vector<int32_t> partition::maximal_isr() const {
    std::vector<int32_t> out = isr_;
    for (int32_t r : pending_isr_)
        if (std::find(out.begin(), out.end(), r) == out.end()) out.push_back(r);
    return out;
}

bool partition::in_sync_candidate(int64_t offset) const {
    return offset >= log->high_watermark() && offset >= epoch_start_offset_;
}

void partition::advance_high_watermark(int64_t /*now_ms*/) {
    if (!is_leader()) return;
    int64_t hw = log->log_end_offset();
    // Over the maximal ISR (KIP-497): a replica being added counts as in sync while its
    // addition is written, so the high watermark never passes what the newcomer has; one
    // being removed still counts until its removal is committed.
    for (int32_t r : maximal_isr()) {
        if (r == self) continue;
        auto it = followers_.find(r);
        // A follower that has not fetched since this broker became leader holds the high
        // watermark where it is.
        hw = std::min(hw, it == followers_.end() || it->second.leo < 0 ? log->high_watermark()
                                                                       : it->second.leo);
    }
    if (hw > log->high_watermark()) {
        log->set_high_watermark(hw);
        wake_waiters();
    }
    complete_ack_waiters();
}

void partition::complete_ack_waiters() {
    if (ack_waiters_.empty()) return;
    const int64_t committed = log->high_watermark();
    std::vector<ack_waiter> done;
    std::erase_if(ack_waiters_, [&](ack_waiter& w) {
        if (w.offset > committed) return false;
        done.push_back(std::move(w));
        return true;
    });
    for (auto& w : done)
        w.done(static_cast<int32_t>(isr_.size()) < w.min_insync
                   ? error_code::not_enough_replicas_after_append
                   : error_code::none);
}

void partition::fail_ack_waiters(error_code e) {
    auto waiting = std::move(ack_waiters_);
    ack_waiters_.clear();
    for (auto& w : waiting)
        w.done(e);
}

void partition::on_follower_fetch(int32_t replica, int64_t offset, int64_t now_ms) {
    if (!is_leader()) return;
    auto it = followers_.find(replica);
    if (it == followers_.end()) return;
    follower_progress& f = it->second;
    const int64_t leo = log->log_end_offset();
    if (offset > leo) return;  // a diverged follower: it truncates before it fetches again
    if (offset >= leo)
        f.caught_up_ms = now_ms;
    else if (offset >= f.last_fetch_leader_leo)
        f.caught_up_ms = std::max(f.caught_up_ms, f.last_fetch_ms);
    f.last_fetch_leader_leo = leo;
    f.last_fetch_ms = now_ms;
    f.leo = offset;
    // KAFKA-7128: caught up means at the high watermark AND at the start of the leader's
    // current epoch; a follower below the epoch start may miss records the previous leader
    // committed that this leader's high watermark does not cover yet.
    if (!in_isr(replica) && !isr_inflight_ && in_sync_candidate(offset)) {
        auto isr = isr_;
        isr.push_back(replica);
        std::sort(isr.begin(), isr.end());
        propose_isr(std::move(isr), "caught up");
    }
    advance_high_watermark(now_ms);
}

void partition::shrink_isr(int64_t now_ms, int64_t lag_max_ms) {
    if (!is_leader() || isr_inflight_) return;
    std::vector<int32_t> isr;
    for (int32_t r : isr_) {
        auto it = followers_.find(r);
        if (r != self && it != followers_.end() && now_ms - it->second.caught_up_ms > lag_max_ms)
            continue;
        isr.push_back(r);
    }
    if (isr.size() != isr_.size()) propose_isr(std::move(isr), "lagging replica");
}

void partition::propose_isr(std::vector<int32_t> isr, const char* why) {
    if (!write_isr_) return;
    isr_inflight_ = true;
    pending_isr_ = isr;
    write_isr_(*this, std::move(isr), why);
}

void partition::end_isr_change() {
    isr_inflight_ = false;
    pending_isr_.clear();
}

}  // namespace rill::broker
