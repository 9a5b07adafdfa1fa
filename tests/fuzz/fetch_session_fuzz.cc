// Fuzz target: the fetch session cache (broker/fetch_session.h) driven through its public API by
// a sequence of operations, against a model of which sessions are alive.
//
// Input: byte 0 = the cache's capacity (1..16), byte 1 = its idle time (0..255 ms), then one
// operation per 2 bytes (op, argument):
//   create (at the current time)   find / remove (a live session or an arbitrary id)
//   use a session (touch it, step its epoch)   advance the clock   add / forget partitions
// Checks: ids are positive and unique among live sessions; find() returns exactly the live
// sessions; a full cache refuses a new session unless one has been idle for the idle time, and
// then evicts only such a session; size() matches; epochs stay within 1..INT32_MAX.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "broker/fetch_session.h"
#include "fuzz_check.h"

using namespace rill;
using broker::fetch_session;
using broker::fetch_session_cache;

namespace {

struct model_session {
    std::shared_ptr<fetch_session> s;
    int64_t last_used_ms = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) return 0;
    const size_t capacity = 1 + data[0] % 16;
    const int64_t idle_ms = data[1];
    fetch_session_cache cache(capacity, idle_ms);
    std::map<int32_t, model_session> live;
    int64_t now = 1000;

    // A live session (REQUIRES: one exists).
    auto pick_live = [&live](uint8_t arg) -> model_session& {
        auto it = live.begin();
        std::advance(it, arg % live.size());
        return it->second;
    };
    // A live session's id, or an arbitrary small id (0 and negatives included).
    auto pick = [&live, &pick_live](uint8_t arg) -> int32_t {
        if (live.empty() || arg >= 0xf0) return static_cast<int32_t>(arg) - 0xf8;
        return pick_live(arg).s->id;
    };

    for (size_t i = 2; i + 1 < size; i += 2) {
        const uint8_t op = data[i] % 7, arg = data[i + 1];
        switch (op) {
            case 0: {  // create
                auto s = cache.create(now);
                if (!s) {
                    FUZZ_CHECK(live.size() >= capacity, "refused a session below capacity");
                    for (const auto& [id, m] : live)
                        FUZZ_CHECK(now - m.last_used_ms < idle_ms,
                                   "refused a session although one was idle");
                    break;
                }
                FUZZ_CHECK(s->id > 0, "session id " + std::to_string(s->id));
                FUZZ_CHECK(!live.contains(s->id), "a live session's id was reused");
                // At most one session was evicted, and it had been idle long enough.
                int evicted = 0;
                for (auto it = live.begin(); it != live.end();) {
                    if (cache.find(it->first) == it->second.s) {
                        ++it;
                        continue;
                    }
                    FUZZ_CHECK(now - it->second.last_used_ms >= idle_ms,
                               "evicted a session in use");
                    ++evicted;
                    it = live.erase(it);
                }
                FUZZ_CHECK(evicted <= 1, "evicted more than one session");
                live[s->id] = {s, now};
                break;
            }
            case 1: {  // find
                const int32_t id = pick(arg);
                auto s = cache.find(id);
                auto it = live.find(id);
                FUZZ_CHECK((it == live.end()) == (s == nullptr), "find() disagrees with the model");
                if (s) FUZZ_CHECK(s == it->second.s && s->id == id, "find() returned another");
                break;
            }
            case 2: {  // remove
                const int32_t id = pick(arg);
                cache.remove(id);
                live.erase(id);
                FUZZ_CHECK(cache.find(id) == nullptr, "a removed session is still found");
                break;
            }
            case 3: {  // use: touch and step the epoch
                if (live.empty()) break;
                auto& m = pick_live(arg);
                m.s->last_used_ms = now;
                m.last_used_ms = now;
                m.s->next_epoch = broker::next_session_epoch(m.s->next_epoch);
                FUZZ_CHECK(m.s->next_epoch >= 1, "epoch " + std::to_string(m.s->next_epoch));
                break;
            }
            case 4:  // advance the clock
                now += arg;
                break;
            case 5: {  // add a partition (as an incremental fetch does)
                if (live.empty()) break;
                auto& m = pick_live(arg);
                auto& p = m.s->partitions[{"t" + std::to_string(arg % 4), arg % 8}];
                p.fetch_offset = arg;
                break;
            }
            default: {  // forget a partition
                if (live.empty()) break;
                auto& m = pick_live(arg);
                m.s->partitions.erase({"t" + std::to_string(arg % 4), arg % 8});
                break;
            }
        }
        FUZZ_CHECK(cache.size() == live.size(), "size() disagrees with the model");
    }
    // Epoch wrap-around.
    FUZZ_CHECK(broker::next_session_epoch(INT32_MAX) == 1, "epoch does not wrap to 1");
    return 0;
}
