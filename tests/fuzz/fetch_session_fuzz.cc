// Fuzz target: the fetch session cache (broker/fetch_session.h) driven through its public API by
// a sequence of operations, against a model of which sessions are alive and which are leased.
//
// Input: byte 0 = the cache's capacity (1..16), byte 1 = its eviction idle time (0..255 ms),
// byte 2 = the partition limit per session (1..32), then one operation per 2 bytes (op, arg):
//   create a session (leased)   acquire one (a live id or an arbitrary one)   release a lease
//   remove a session   use a leased session (touch, step its epoch, add partitions)   advance
//   the clock
// Checks: ids are positive and unique among live sessions; a created session is leased (a
// second acquire says in_use); acquire finds exactly the live sessions and refuses a leased one;
// only create evicts, at most one session at a time; a refused create is over the partition
// limit or finds the cache full; size() matches the model and never exceeds the capacity;
// epochs wrap within 1..INT32_MAX. Session ids come from a fixed sequence over 1..64 (the
// cache's test hook), so that runs replay and ids are reused.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "broker/fetch_session.h"
#include "fuzz_check.h"

using namespace rill;
using broker::fetch_session_cache;

namespace {

struct model_session {
    fetch_session_cache::lease held;  // empty when nobody holds it
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    broker::fetch_session_options opt;
    opt.max_sessions = 1 + data[0] % 16;
    opt.eviction_ms = data[1];
    opt.max_partitions = 1 + data[2] % 32;
    // Ids from a small space and a fixed sequence: a finding replays exactly, and removed or
    // evicted ids come back, as random ids do only once in 2^31.
    uint64_t id_state = 0x9e3779b97f4a7c15ULL;
    opt.id_source = [&id_state] {
        id_state = id_state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<int32_t>(1 + (id_state >> 33) % 64);
    };
    fetch_session_cache cache(opt);
    std::map<int32_t, model_session> live;
    int64_t now = 1000;

    auto pick_live = [&live](uint8_t arg) -> std::map<int32_t, model_session>::iterator {
        auto it = live.begin();
        std::advance(it, arg % live.size());
        return it;
    };
    // A live session's id, or an arbitrary small id (0 and negatives included).
    auto pick = [&live, &pick_live](uint8_t arg) -> int32_t {
        if (live.empty() || arg >= 0xf0) return static_cast<int32_t>(arg) - 0xf8;
        return pick_live(arg)->first;
    };
    // Which model sessions the cache no longer has (probing leases and frees what it takes).
    // `fresh` is the id of a session just created: a model session with that id was evicted
    // and its id reused.
    auto vanished = [&cache, &live](int32_t fresh) {
        int gone = 0;
        for (auto it = live.begin(); it != live.end();) {
            if (it->first == fresh) {
                FUZZ_CHECK(!it->second.held, "a leased session's id was reused");
                ++gone;
                it = live.erase(it);
                continue;
            }
            auto r = cache.acquire(it->first);
            if (r) {
                FUZZ_CHECK(!it->second.held, "a leased session was leased again");
            } else if (r.error() == fetch_session_cache::acquire_error::in_use) {
                FUZZ_CHECK(static_cast<bool>(it->second.held),
                           "a session nobody holds answers in_use");
            } else {
                ++gone;
                it = live.erase(it);
                continue;
            }
            ++it;
        }
        return gone;
    };

    for (size_t i = 3; i + 1 < size; i += 2) {
        const uint8_t op = data[i] % 6, arg = data[i + 1];
        switch (op) {
            case 0: {  // create
                const size_t partitions = arg % 40;
                auto l = cache.create(now, partitions, (arg & 0x80) != 0);
                const int gone = vanished(l ? l->id : 0);
                FUZZ_CHECK(gone <= (l ? 1 : 0), "create evicted " + std::to_string(gone));
                if (!l) {
                    FUZZ_CHECK(partitions > opt.max_partitions || cache.size() == opt.max_sessions,
                               "refused a session below capacity and within the limit");
                    break;
                }
                FUZZ_CHECK(l->id > 0, "session id " + std::to_string(l->id));
                FUZZ_CHECK(!live.contains(l->id), "a live session's id was reused");
                FUZZ_CHECK(partitions <= opt.max_partitions, "a session over the limit");
                auto again = cache.acquire(l->id);
                FUZZ_CHECK(!again && again.error() == fetch_session_cache::acquire_error::in_use,
                           "a created session was not leased");
                const int32_t id = l->id;
                live[id].held = std::move(l);
                break;
            }
            case 1: {  // acquire (and keep the lease)
                const int32_t id = pick(arg);
                auto r = cache.acquire(id);
                auto it = live.find(id);
                if (it == live.end()) {
                    FUZZ_CHECK(!r && r.error() == fetch_session_cache::acquire_error::not_found,
                               "acquired a session that does not exist");
                } else if (it->second.held) {
                    FUZZ_CHECK(!r && r.error() == fetch_session_cache::acquire_error::in_use,
                               "acquired a leased session");
                } else {
                    FUZZ_CHECK(static_cast<bool>(r), "a live free session was not found");
                    FUZZ_CHECK((*r)->id == id, "acquire returned another session");
                    it->second.held = std::move(*r);
                }
                break;
            }
            case 2: {  // release
                if (live.empty()) break;
                pick_live(arg)->second.held.release();
                break;
            }
            case 3: {  // remove
                const int32_t id = pick(arg);
                cache.remove(id);
                live.erase(id);
                auto r = cache.acquire(id);
                FUZZ_CHECK(!r && r.error() == fetch_session_cache::acquire_error::not_found,
                           "a removed session is still there");
                break;
            }
            case 4: {  // use a leased session: touch it, step its epoch, add a partition
                if (live.empty()) break;
                auto& l = pick_live(arg)->second.held;
                if (!l) break;
                l->last_used_ms = now;
                l->next_epoch = broker::next_session_epoch(l->next_epoch);
                FUZZ_CHECK(l->next_epoch >= 1, "epoch " + std::to_string(l->next_epoch));
                l->partitions[{"t" + std::to_string(arg % 4), arg % 8}].fetch_offset = arg;
                break;
            }
            default:  // advance the clock
                now += arg;
                break;
        }
        FUZZ_CHECK(cache.size() == live.size(), "size() disagrees with the model");
        FUZZ_CHECK(cache.size() <= opt.max_sessions, "more sessions than the capacity");
    }
    FUZZ_CHECK(broker::next_session_epoch(INT32_MAX) == 1, "epoch does not wrap to 1");
    return 0;
}
