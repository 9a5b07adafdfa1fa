// The epochs of the producer ids this broker handed out to idempotent producers
// (InitProducerId without a transactional id), so that an epoch bump (KIP-360: the producer
// passes its current id and epoch) is granted only to the producer that holds that epoch.
//
//   try_bump(id, epoch)   id known, epoch current        -> bumped, the new epoch
//                         id known, another epoch        -> fenced (PRODUCER_FENCED, or
//                                                           INVALID_PRODUCER_EPOCH before v4)
//                         id unknown, or epoch exhausted -> unknown: the caller hands out a
//                                                           new id, as Kafka does for every
//                                                           idempotent InitProducerId
//
// Bounded: at most `max_tracked` ids; the oldest are forgotten first (a producer whose id was
// forgotten gets a new id when it asks for a bump, which it accepts). Ids are process-local:
// after a restart, or on another broker, every id is unknown.
//
// Thread-safety: every member may be called from any thread (one short critical section,
// never held across a suspension).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>

namespace rill::broker {

class producer_epochs {
  public:
    explicit producer_epochs(size_t max_tracked = 100000) : max_(max_tracked) {}

    enum class outcome : uint8_t { bumped, fenced, unknown };
    struct bump {
        outcome result = outcome::unknown;
        int16_t epoch = -1;  // the new epoch when bumped
    };

    // Records a newly issued id at epoch 0.
    void issued(int64_t id);
    bump try_bump(int64_t id, int16_t epoch);
    size_t size() const;

  private:
    mutable std::mutex mu_;
    size_t max_;
    std::unordered_map<int64_t, int16_t> epochs_;
    std::deque<int64_t> order_;  // issue order, for eviction
};

}  // namespace rill::broker
