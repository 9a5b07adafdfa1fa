// Fuzz target: the fetch-session handling of Fetch requests (broker/fetch_session_update.h), as
// handlers/fetch.cc runs it, driven by a sequence of requests against a model of the sessions.
//
// Input: byte 0 = the partition limit per session (1..16), then one request per op:
//   b0: bits 0-1 session id (0; a live session's; an arbitrary small id; the newest session's),
//       bit 2: keep the lease after the request (an in-flight fetch), bit 3: first release every
//       kept lease, bits 4-7: version 7 + n % 10 (v13+ names topics by id)
//   b1: which live session;  b2: epoch (the expected one, 0, -1, one ahead, or b3 - 128);  b3
//   b4: named partitions (0..7), each as one byte: topic (0..3 known, 4 unknown), partition
//       (-1..5);  then forgotten partitions (0..3), one byte each, the same way
// The topics t0..t3 have 1..4 partitions. The cache holds 64 sessions, so nothing is evicted
// while the model has fewer (eviction is fetch_session_fuzz's subject); ids come from a fixed
// sequence over 1..128 so that runs replay and closed ids come back.
// Checks against the model: the top-level error of every request (INVALID_FETCH_SESSION_EPOCH,
// FETCH_SESSION_ID_NOT_FOUND, none); which requests open, use, close or drop a session; a new
// session exactly when the request names no more than the limit; after an update the session
// holds exactly the model's partitions, the partitions answered once are exactly the unknown
// ones, and a session over the limit is removed; the next epoch; the cache's size.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "broker/fetch_session_update.h"
#include "fuzz_check.h"

using namespace rill;
using namespace rill::broker;
namespace m = rill::protocol::messages;
using protocol::error_code;

namespace {

using key = std::pair<std::string, int32_t>;

struct model_session {
    int32_t next_epoch = 1;
    std::set<key> partitions;
    fetch_session_cache::lease held;  // an in-flight fetch keeps it
};

protocol::uuid topic_uuid(int i) {
    protocol::uuid u;
    u.b[15] = static_cast<uint8_t>(i + 1);
    return u;
}

class reader {
  public:
    reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}
    bool more() const { return pos_ < n_; }
    uint8_t next() { return pos_ < n_ ? d_[pos_++] : 0; }

  private:
    const uint8_t* d_;
    size_t n_;
    size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1) return 0;
    fetch_session_options opt;
    opt.max_sessions = 64;
    opt.max_partitions = 1 + data[0] % 16;
    uint64_t id_state = 0x2545f4914f6cdd1dULL;
    opt.id_source = [&id_state] {
        id_state = id_state * 6364136223846793005ULL + 1442695040888963407ULL;
        return static_cast<int32_t>(1 + (id_state >> 33) % 128);
    };
    fetch_session_cache cache(opt);

    std::vector<cluster::topic_info> topics(4);
    for (int i = 0; i < 4; ++i) {
        topics[i].name = "t" + std::to_string(i);
        topics[i].id = topic_uuid(i);
        topics[i].partitions.resize(static_cast<size_t>(i + 1));
    }
    std::map<int32_t, model_session> live;
    int32_t newest = 0;
    int64_t now = 1000;
    reader in(data + 1, size - 1);

    while (in.more() && live.size() < 60) {
        const uint8_t b0 = in.next(), b1 = in.next(), b2 = in.next(), b3 = in.next();
        const int16_t version = static_cast<int16_t>(7 + (b0 >> 4) % 10);
        if (b0 & 0x08)
            for (auto& [_, s] : live)
                s.held.release();
        m::fetch_request req;
        auto pick_live = [&]() -> int32_t {
            if (live.empty()) return 0;
            auto it = live.begin();
            std::advance(it, b1 % live.size());
            return it->first;
        };
        switch (b0 & 0x03) {
            case 0:
                req.session_id = 0;
                break;
            case 1:
                req.session_id = pick_live();
                break;
            case 2:
                req.session_id = static_cast<int32_t>(b1 % 8) - 2;
                break;
            default:
                req.session_id = newest;
                break;
        }
        auto found = live.find(req.session_id);
        const int32_t expected_epoch = found == live.end() ? 1 : found->second.next_epoch;
        switch (b2 % 5) {
            case 0:
                req.session_epoch = expected_epoch;
                break;
            case 1:
                req.session_epoch = 0;
                break;
            case 2:
                req.session_epoch = -1;
                break;
            case 3:
                req.session_epoch = next_session_epoch(expected_epoch);
                break;
            default:
                req.session_epoch = static_cast<int32_t>(b3) - 128;
                break;
        }
        // A partition reference: topic 0..3 or unknown (4..7), partition -1..5.
        auto partition_ref = [&](uint8_t b, std::string* name, protocol::uuid* id) {
            const int t = b % 8;
            if (t < 4) {
                *name = topics[t].name;
                *id = topics[t].id;
            } else {
                *name = "unknown" + std::to_string(t);
                *id = topic_uuid(t + 10);
            }
            return static_cast<int32_t>((b >> 3) % 7) - 1;
        };
        const int named = in.next() % 8;
        for (int i = 0; i < named; ++i) {
            auto& t = req.topics.emplace_back();
            m::fetch_request::fetch_topic::fetch_partition p;
            p.partition = partition_ref(in.next(), &t.topic, &t.topic_id);
            p.fetch_offset = i;
            t.partitions.push_back(p);
        }
        const int forgotten = in.next() % 4;
        for (int i = 0; i < forgotten; ++i) {
            auto& f = req.forgotten_topics_data.emplace_back();
            f.partitions.push_back(partition_ref(in.next(), &f.topic, &f.topic_id));
        }
        auto lookup = [&](const std::string& name,
                          const protocol::uuid& id) -> const cluster::topic_info* {
            for (const auto& t : topics)
                if (version >= 13 ? t.id == id : t.name == name) return &t;
            return nullptr;
        };

        // The model's answer.
        error_code want = error_code::none;
        bool want_incremental = false, want_new = false;
        if (req.session_id == 0 && req.session_epoch > 0) {
            want = error_code::invalid_fetch_session_epoch;
        } else if (req.session_id != 0 && req.session_epoch > 0) {
            if (found == live.end())
                want = error_code::fetch_session_id_not_found;
            else if (found->second.held || req.session_epoch != found->second.next_epoch)
                want = error_code::invalid_fetch_session_epoch;
            else
                want_incremental = true;
        } else {
            if (req.session_id != 0) live.erase(req.session_id);  // closed (or replaced)
            want_new = req.session_epoch == 0 &&
                       req.topics.size() <= opt.max_partitions;  // one partition per topic entry
        }

        session_open got = open_fetch_session(cache, req, version, now, false);
        FUZZ_CHECK(got.error == want,
                   "request error " + std::to_string(static_cast<int>(got.error)) +
                       ", the model says " + std::to_string(static_cast<int>(want)));
        FUZZ_CHECK(got.incremental == want_incremental, "incremental disagrees with the model");
        FUZZ_CHECK(static_cast<bool>(got.session) == (want_incremental || want_new),
                   "a session where the model has none, or none where it has one");
        if (got.session) {
            const int32_t id = got.session->id;
            if (want_new) {
                FUZZ_CHECK(id > 0 && !live.contains(id), "a new session reuses a live id");
                live[id];
                newest = id;
            } else {
                FUZZ_CHECK(id == req.session_id, "another session was used");
            }
            model_session& ms = live[id];
            // The model's update: forgotten, then named; unknown ones answered once.
            std::vector<key> want_once;
            for (const auto& f : req.forgotten_topics_data) {
                const cluster::topic_info* t = lookup(f.topic, f.topic_id);
                for (int32_t p : f.partitions)
                    ms.partitions.erase({t ? t->name : f.topic, p});
            }
            for (const auto& t : req.topics) {
                const cluster::topic_info* info = lookup(t.topic, t.topic_id);
                for (const auto& p : t.partitions) {
                    if (!info || p.partition < 0 ||
                        p.partition >= static_cast<int32_t>(info->partitions.size()))
                        want_once.emplace_back(t.topic, p.partition);
                    else
                        ms.partitions.insert({info->name, p.partition});
                }
            }
            session_update up = update_fetch_session(cache, *got.session, req, lookup, now);
            FUZZ_CHECK(up.removed == (ms.partitions.size() > opt.max_partitions),
                       "removed disagrees with the partition limit");
            FUZZ_CHECK(up.once.size() == want_once.size(), "partitions answered once differ");
            for (size_t i = 0; i < up.once.size(); ++i)
                FUZZ_CHECK(up.once[i].topic->topic == want_once[i].first &&
                               up.once[i].partition->partition == want_once[i].second,
                           "partition answered once " + std::to_string(i) + " differs");
            if (up.removed) {
                live.erase(id);
                if (newest == id) newest = 0;
            } else {
                std::set<key> have;
                for (const auto& [k, _] : got.session->partitions)
                    have.insert(k);
                FUZZ_CHECK(have == ms.partitions, "the session's partitions differ");
                for (const auto& k : up.named)
                    FUZZ_CHECK(have.contains(k), "a named partition is not in the session");
                finish_fetch_session(*got.session, req, got.incremental);
                ms.next_epoch = got.incremental ? next_session_epoch(req.session_epoch) : 1;
                FUZZ_CHECK(got.session->next_epoch == ms.next_epoch, "next epoch differs");
                if (b0 & 0x04) ms.held = std::move(got.session);
            }
        }
        FUZZ_CHECK(cache.size() == live.size(), "the cache's size disagrees with the model");
        now += b3;
    }
    return 0;
}
