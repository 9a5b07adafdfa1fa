// Protocol-level behaviour of the real binary that no installed client exercises on demand:
// incremental fetch sessions (KIP-227), ApiVersions fallback, topic ids. Requests are encoded
// with Rill's generated codecs and sent over a plain socket.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.h"

#include "protocol/generated/api.h"
#include "protocol/generated/api_versions.h"
#include "protocol/generated/create_topics.h"
#include "protocol/generated/delete_groups.h"
#include "protocol/generated/describe_groups.h"
#include "protocol/generated/error_code.h"
#include "protocol/generated/fetch.h"
#include "protocol/generated/find_coordinator.h"
#include "protocol/generated/heartbeat.h"
#include "protocol/generated/init_producer_id.h"
#include "protocol/generated/join_group.h"
#include "protocol/generated/leave_group.h"
#include "protocol/generated/list_groups.h"
#include "protocol/generated/metadata.h"
#include "protocol/generated/offset_commit.h"
#include "protocol/generated/offset_fetch.h"
#include "protocol/generated/produce.h"
#include "protocol/generated/sync_group.h"
#include "protocol/legacy_message_set.h"
#include "protocol/record_batch.h"

namespace rill::protocol {
namespace {

namespace m = messages;

class wire_client : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        ASSERT_TRUE(broker_.start({"group.initial.rebalance.delay.ms=0"}))
            << "broker did not start";
    }
    static void TearDownTestSuite() { EXPECT_TRUE(broker_.stop()); }
    void SetUp() override {
        fd_ = compat::connect_loopback(broker_.port);
        ASSERT_GE(fd_, 0);
    }
    void TearDown() override {
        ::close(fd_);
        for (int fd : others_)
            ::close(fd);
    }

    bytes roundtrip(int16_t key, int16_t version, const bytes& body, int fd = -1) {
        send_request(key, version, body, fd);
        return read_response(key, version, fd);
    }

    void send_request(int16_t key, int16_t version, const bytes& body, int fd = -1) {
        if (fd < 0) fd = fd_;
        const m::api_info* api = m::find_api(key);
        writer w;
        w.write_int32(0);
        w.write_int16(key);
        w.write_int16(version);
        w.write_int32(++corr_);
        w.write_nullable_string(std::string("wire-test"), false);
        if (api->request_header_version(version) >= 2) w.write_uvarint(0);
        w.write_raw(body);
        w.patch_int32(0, static_cast<int32_t>(w.size() - 4));
        EXPECT_EQ(::send(fd, w.buffer().data(), w.size(), 0), static_cast<ssize_t>(w.size()));
        sent_[fd] = corr_;
    }

    // Reads the response to the last request sent on `fd`.
    bytes read_response(int16_t key, int16_t version, int fd = -1) {
        if (fd < 0) fd = fd_;
        const m::api_info* api = m::find_api(key);
        uint8_t hdr[4] = {};
        EXPECT_EQ(::recv(fd, hdr, 4, MSG_WAITALL), 4);
        size_t n = (size_t(hdr[0]) << 24) | (size_t(hdr[1]) << 16) | (size_t(hdr[2]) << 8) | hdr[3];
        bytes resp(n);
        EXPECT_EQ(::recv(fd, resp.data(), n, MSG_WAITALL), static_cast<ssize_t>(n));
        reader r(resp);
        EXPECT_EQ(r.read_int32(), sent_[fd]);
        if (api->response_header_version(version) >= 1) r.read_uvarint();
        return bytes(resp.begin() + static_cast<long>(resp.size() - r.remaining()), resp.end());
    }

    template <typename Req, typename Resp>
    Resp call(const Req& req, int16_t version, int fd = -1) {
        writer w;
        req.encode(w, version);
        bytes body = roundtrip(Req::api_key, version, w.buffer(), fd);
        return decode<Resp>(body, version);
    }

    template <typename Resp>
    Resp decode(const bytes& body, int16_t version) {
        // Decoded records view the body: keep it alive with the response.
        auto owned = std::make_shared<const bytes>(body);
        reader r(*owned, owned);
        Resp resp;
        resp.decode(r, version);
        EXPECT_TRUE(r.ok());
        return resp;
    }

    uuid create_topic_and_produce(const std::string& topic, int records, int fd = -1,
                                  compression_codec codec = compression_codec::none) {
        m::metadata_request mr;
        mr.topics.emplace();
        mr.topics->push_back({});
        mr.topics->back().name = topic;
        auto md = call<m::metadata_request, m::metadata_response>(mr, 12, fd);
        EXPECT_EQ(md.topics.size(), 1u);
        std::vector<record> recs(static_cast<size_t>(records));
        for (int i = 0; i < records; ++i)
            recs[static_cast<size_t>(i)].value = bytes{uint8_t('a' + i % 26)};
        batch_spec spec;
        spec.codec = codec;
        auto batch = build_batch(spec, recs);
        EXPECT_TRUE(batch);
        m::produce_request pr;
        pr.acks = 1;
        pr.timeout_ms = 5000;
        auto& t = pr.topic_data.emplace_back();
        t.name = topic;
        auto& p = t.partition_data.emplace_back();
        p.index = 0;
        p.records = record_data::from_bytes(std::move(*batch));
        auto resp = call<m::produce_request, m::produce_response>(pr, 9, fd);
        EXPECT_EQ(resp.responses.at(0).partition_responses.at(0).error_code, 0);
        return md.topics[0].topic_id;
    }

    // Another connection, closed at the end of the test.
    int connect_another() {
        int fd = compat::connect_loopback(broker_.port);
        EXPECT_GE(fd, 0);
        timeval tv{30, 0};  // a broker that stopped answering fails the test instead of hanging it
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        others_.push_back(fd);
        return fd;
    }

    static inline compat::broker_process broker_;
    int fd_ = -1;
    int32_t corr_ = 0;
    std::map<int, int32_t> sent_;  // fd -> correlation id of the last request
    std::vector<int> others_;
};

m::fetch_request fetch_for(const uuid& id, int64_t offset, int32_t session, int32_t epoch) {
    m::fetch_request f;
    f.max_wait_ms = 0;
    f.min_bytes = 0;
    f.session_id = session;
    f.session_epoch = epoch;
    if (offset >= 0) {
        auto& t = f.topics.emplace_back();
        t.topic_id = id;
        auto& p = t.partitions.emplace_back();
        p.partition = 0;
        p.fetch_offset = offset;
        p.partition_max_bytes = 1 << 20;
    }
    return f;
}

TEST_F(wire_client, incremental_fetch_session) {
    uuid id = create_topic_and_produce("sessions", 10);
    // Open a session with a full fetch (epoch 0).
    auto r0 = call<m::fetch_request, m::fetch_response>(fetch_for(id, 0, 0, 0), 13);
    ASSERT_EQ(r0.error_code, 0);
    ASSERT_NE(r0.session_id, 0);
    ASSERT_EQ(r0.responses.size(), 1u);
    EXPECT_EQ(r0.responses[0].topic_id, id);
    EXPECT_EQ(r0.responses[0].partitions[0].high_watermark, 10);
    EXPECT_GT(r0.responses[0].partitions[0].records.size(), 0u);

    // Incremental fetch at epoch 1 naming the new position: included (named).
    auto r1 = call<m::fetch_request, m::fetch_response>(fetch_for(id, 10, r0.session_id, 1), 13);
    ASSERT_EQ(r1.error_code, 0);
    EXPECT_EQ(r1.session_id, r0.session_id);
    // Epoch 2 with nothing named and nothing new: the partition is left out.
    auto r2 = call<m::fetch_request, m::fetch_response>(fetch_for(id, -1, r0.session_id, 2), 13);
    ASSERT_EQ(r2.error_code, 0);
    EXPECT_TRUE(r2.responses.empty());
    // New data: the partition comes back without being named.
    create_topic_and_produce("sessions", 3);
    auto r3 = call<m::fetch_request, m::fetch_response>(fetch_for(id, -1, r0.session_id, 3), 13);
    ASSERT_EQ(r3.responses.size(), 1u);
    EXPECT_EQ(r3.responses[0].partitions[0].high_watermark, 13);
    // A wrong epoch and an unknown session are refused.
    auto bad = call<m::fetch_request, m::fetch_response>(fetch_for(id, -1, r0.session_id, 9), 13);
    EXPECT_EQ(bad.error_code, static_cast<int16_t>(error_code::invalid_fetch_session_epoch));
    auto unknown = call<m::fetch_request, m::fetch_response>(fetch_for(id, -1, 987654, 1), 13);
    EXPECT_EQ(unknown.error_code, static_cast<int16_t>(error_code::fetch_session_id_not_found));
    // Closing (epoch -1) then using it again fails.
    auto closed =
        call<m::fetch_request, m::fetch_response>(fetch_for(id, 0, r0.session_id, -1), 13);
    EXPECT_EQ(closed.error_code, 0);
    EXPECT_EQ(closed.session_id, 0);
    auto gone = call<m::fetch_request, m::fetch_response>(fetch_for(id, -1, r0.session_id, 4), 13);
    EXPECT_EQ(gone.error_code, static_cast<int16_t>(error_code::fetch_session_id_not_found));
}

TEST_F(wire_client, api_versions_fallback_and_unknown_topic_id) {
    // A future ApiVersions version is answered in v0 form with UNSUPPORTED_VERSION.
    bytes body = roundtrip(18, 99, {});
    reader r(body);
    m::api_versions_response av;
    av.decode(r, 0);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(av.error_code, static_cast<int16_t>(error_code::unsupported_version));
    bool has_fetch = false;
    for (const auto& k : av.api_keys)
        has_fetch |= k.api_key == 1 && k.min_version == 0;
    EXPECT_TRUE(has_fetch);

    uuid bogus;
    bogus.b[0] = 0x42;
    auto f = call<m::fetch_request, m::fetch_response>(fetch_for(bogus, 0, 0, -1), 13);
    ASSERT_EQ(f.responses.size(), 1u);
    EXPECT_EQ(f.responses[0].partitions[0].error_code,
              static_cast<int16_t>(error_code::unknown_topic_id));
}

int16_t err(error_code e) {
    return static_cast<int16_t>(e);
}

// Every group error a client can provoke gets its Kafka code, and the group stays usable.
TEST_F(wire_client, group_errors_keep_the_group_consistent) {
    create_topic_and_produce("grp-wire", 5);
    const std::string g = "wire-group";

    m::find_coordinator_request fc;
    fc.coordinator_keys = {g, "other-group"};
    auto fr = call<m::find_coordinator_request, m::find_coordinator_response>(fc, 4);
    ASSERT_EQ(fr.coordinators.size(), 2u);
    for (const auto& c : fr.coordinators) {
        EXPECT_EQ(c.error_code, 0);
        EXPECT_EQ(c.port, broker_.port);
    }

    // Only the coordinator writes __consumer_offsets.
    {
        std::vector<record> recs(1);
        recs[0].key = bytes{1};
        recs[0].value = bytes{2};
        auto batch = build_batch(batch_spec{}, recs);
        ASSERT_TRUE(batch);
        m::produce_request pr;
        pr.acks = 1;
        pr.timeout_ms = 5000;
        auto& t = pr.topic_data.emplace_back();
        t.name = "__consumer_offsets";
        auto& p = t.partition_data.emplace_back();
        p.index = 0;
        p.records = record_data::from_bytes(std::move(*batch));
        auto resp = call<m::produce_request, m::produce_response>(pr, 9);
        EXPECT_EQ(resp.responses.at(0).partition_responses.at(0).error_code,
                  err(error_code::invalid_topic_exception));
    }

    m::join_group_request jr;
    jr.group_id = g;
    jr.session_timeout_ms = 10;
    jr.rebalance_timeout_ms = 10000;
    jr.protocol_type = "consumer";
    jr.protocols.push_back({"range", bytes{0, 1, 2}});
    auto j = call<m::join_group_request, m::join_group_response>(jr, 5);
    EXPECT_EQ(j.error_code, err(error_code::invalid_session_timeout));

    // v4+: the first join hands out a member id (KIP-394).
    jr.session_timeout_ms = 10000;
    j = call<m::join_group_request, m::join_group_response>(jr, 5);
    ASSERT_EQ(j.error_code, err(error_code::member_id_required));
    ASSERT_FALSE(j.member_id.empty());
    const std::string member = j.member_id;
    jr.member_id = member;
    j = call<m::join_group_request, m::join_group_response>(jr, 5);
    ASSERT_EQ(j.error_code, 0);
    const int32_t gen = j.generation_id;
    EXPECT_GE(gen, 1);
    EXPECT_EQ(j.leader, member);
    ASSERT_EQ(j.members.size(), 1u);
    EXPECT_EQ(j.members[0].metadata, (bytes{0, 1, 2}));
    EXPECT_EQ(j.protocol_name, std::optional<std::string>("range"));

    m::sync_group_request sr;
    sr.group_id = g;
    sr.generation_id = gen + 5;
    sr.member_id = member;
    sr.assignments.push_back({member, bytes{7, 8, 9}});
    EXPECT_EQ((call<m::sync_group_request, m::sync_group_response>(sr, 3).error_code),
              err(error_code::illegal_generation));
    sr.generation_id = gen;
    auto s = call<m::sync_group_request, m::sync_group_response>(sr, 3);
    ASSERT_EQ(s.error_code, 0);
    EXPECT_EQ(s.assignment, (bytes{7, 8, 9}));

    m::heartbeat_request hb;
    hb.group_id = g;
    hb.member_id = member;
    hb.generation_id = gen + 1;
    EXPECT_EQ((call<m::heartbeat_request, m::heartbeat_response>(hb, 4).error_code),
              err(error_code::illegal_generation));
    hb.generation_id = gen;
    hb.member_id = "nobody";
    EXPECT_EQ((call<m::heartbeat_request, m::heartbeat_response>(hb, 4).error_code),
              err(error_code::unknown_member_id));
    hb.member_id = member;
    EXPECT_EQ((call<m::heartbeat_request, m::heartbeat_response>(hb, 4).error_code), 0);

    // Another protocol type cannot join this group (v3: no member-id round trip).
    m::join_group_request other = jr;
    other.member_id.clear();
    other.protocol_type = "connect";
    EXPECT_EQ((call<m::join_group_request, m::join_group_response>(other, 3).error_code),
              err(error_code::inconsistent_group_protocol));

    m::offset_commit_request oc;
    oc.group_id = g;
    oc.generation_id_or_member_epoch = gen + 3;
    oc.member_id = member;
    auto& t = oc.topics.emplace_back();
    t.name = "grp-wire";
    t.partitions.push_back({0, 3, -1, -1, std::string("meta")});
    auto ocr = call<m::offset_commit_request, m::offset_commit_response>(oc, 8);
    EXPECT_EQ(ocr.topics.at(0).partitions.at(0).error_code, err(error_code::illegal_generation));
    oc.generation_id_or_member_epoch = gen;
    oc.member_id = "nobody";
    ocr = call<m::offset_commit_request, m::offset_commit_response>(oc, 8);
    EXPECT_EQ(ocr.topics.at(0).partitions.at(0).error_code, err(error_code::unknown_member_id));
    oc.member_id = member;
    oc.topics[0].partitions[0].committed_metadata = std::string(5000, 'x');
    ocr = call<m::offset_commit_request, m::offset_commit_response>(oc, 8);
    EXPECT_EQ(ocr.topics.at(0).partitions.at(0).error_code,
              err(error_code::offset_metadata_too_large));
    oc.topics[0].partitions[0].committed_metadata = "meta";
    auto& unknown = oc.topics.emplace_back();
    unknown.name = "no-such-topic";
    unknown.partitions.push_back({0, 1, -1, -1, std::nullopt});
    ocr = call<m::offset_commit_request, m::offset_commit_response>(oc, 8);
    EXPECT_EQ(ocr.topics.at(0).partitions.at(0).error_code, 0);
    EXPECT_EQ(ocr.topics.at(1).partitions.at(0).error_code,
              err(error_code::unknown_topic_or_partition));

    m::offset_fetch_request of;
    auto& fg = of.groups.emplace_back();
    fg.group_id = g;  // topics null: everything committed
    auto ofr = call<m::offset_fetch_request, m::offset_fetch_response>(of, 8);
    ASSERT_EQ(ofr.groups.size(), 1u);
    ASSERT_EQ(ofr.groups[0].topics.size(), 1u);
    ASSERT_EQ(ofr.groups[0].topics[0].partitions.size(), 1u);
    EXPECT_EQ(ofr.groups[0].topics[0].partitions[0].committed_offset, 3);
    EXPECT_EQ(ofr.groups[0].topics[0].partitions[0].metadata, std::optional<std::string>("meta"));

    // After all that the group is still stable with its one member and assignment.
    m::describe_groups_request dr;
    dr.groups = {g};
    auto d = call<m::describe_groups_request, m::describe_groups_response>(dr, 5);
    ASSERT_EQ(d.groups.size(), 1u);
    EXPECT_EQ(d.groups[0].group_state, "Stable");
    ASSERT_EQ(d.groups[0].members.size(), 1u);
    EXPECT_EQ(d.groups[0].members[0].member_assignment, (bytes{7, 8, 9}));

    m::list_groups_request lr;
    lr.states_filter = {"stable"};
    auto l = call<m::list_groups_request, m::list_groups_response>(lr, 4);
    EXPECT_TRUE(std::any_of(l.groups.begin(), l.groups.end(),
                            [&](const auto& x) { return x.group_id == g; }));

    // A non-empty group cannot be deleted.
    m::delete_groups_request del;
    del.groups_names = {g};
    auto dg = call<m::delete_groups_request, m::delete_groups_response>(del, 2);
    EXPECT_EQ(dg.results.at(0).error_code, err(error_code::non_empty_group));

    m::leave_group_request lv;
    lv.group_id = g;
    lv.members.push_back({"nobody", std::nullopt, std::nullopt});
    lv.members.push_back({member, std::nullopt, std::string("test done")});
    auto lvr = call<m::leave_group_request, m::leave_group_response>(lv, 5);
    ASSERT_EQ(lvr.members.size(), 2u);
    EXPECT_EQ(lvr.members[0].error_code, err(error_code::unknown_member_id));
    EXPECT_EQ(lvr.members[1].error_code, 0);

    d = call<m::describe_groups_request, m::describe_groups_response>(dr, 5);
    EXPECT_EQ(d.groups.at(0).group_state, "Empty");
    dg = call<m::delete_groups_request, m::delete_groups_response>(del, 2);
    EXPECT_EQ(dg.results.at(0).error_code, 0);
    d = call<m::describe_groups_request, m::describe_groups_response>(dr, 5);
    EXPECT_EQ(d.groups.at(0).group_state, "Dead");
    dg = call<m::delete_groups_request, m::delete_groups_response>(del, 2);
    EXPECT_EQ(dg.results.at(0).error_code, err(error_code::group_id_not_found));
}

// ---- Fetch sessions, spoofed ids, down-conversion (issue #13 items 4-6) ----

using fetch_req = m::fetch_request;
using fetch_resp = m::fetch_response;

// A sessionless fetch of partition 0 of `topic` by name (Fetch v0-v12).
fetch_req fetch_named(const std::string& topic, int64_t offset, int32_t max_bytes = 1 << 20) {
    fetch_req f;
    f.max_wait_ms = 0;
    f.min_bytes = 0;
    f.max_bytes = 1 << 20;
    auto& t = f.topics.emplace_back();
    t.topic = topic;
    auto& p = t.partitions.emplace_back();
    p.partition = 0;
    p.fetch_offset = offset;
    p.partition_max_bytes = max_bytes;
    return f;
}

const fetch_resp::fetchable_topic_response::partition_data& only_partition(const fetch_resp& r) {
    static const fetch_resp::fetchable_topic_response::partition_data none{};
    EXPECT_EQ(r.responses.size(), 1u);
    if (r.responses.size() != 1 || r.responses[0].partitions.size() != 1) return none;
    return r.responses[0].partitions[0];
}

int32_t next_epoch_after(int32_t e) {
    return e == INT32_MAX ? 1 : e + 1;
}

TEST_F(wire_client, fetch_session_ids_cannot_be_guessed_by_another_connection) {
    uuid id = create_topic_and_produce("guess", 3);
    const int other = connect_another();
    auto mine = call<fetch_req, fetch_resp>(fetch_for(id, 0, 0, 0), 13, other);
    ASSERT_EQ(mine.error_code, 0);
    ASSERT_GT(mine.session_id, 0);
    auto victim = call<fetch_req, fetch_resp>(fetch_for(id, 0, 0, 0), 13);
    ASSERT_GT(victim.session_id, 0);
    // Ids next to its own (what a sequential allocator would hand out next or before) are no
    // one's session.
    for (int64_t d = 1; d <= 5; ++d) {
        for (int64_t guess : {int64_t{mine.session_id} + d, int64_t{mine.session_id} - d}) {
            if (guess <= 0 || guess > INT32_MAX) continue;
            auto r = call<fetch_req, fetch_resp>(fetch_for(id, -1, static_cast<int32_t>(guess), 1),
                                                 13, other);
            EXPECT_EQ(r.error_code, static_cast<int16_t>(error_code::fetch_session_id_not_found))
                << "guess " << guess << " (victim " << victim.session_id << ")";
        }
    }
    // The victim's session is untouched.
    auto next = call<fetch_req, fetch_resp>(fetch_for(id, -1, victim.session_id, 1), 13);
    EXPECT_EQ(next.error_code, 0);
    EXPECT_EQ(next.session_id, victim.session_id);
}

TEST_F(wire_client, a_fetch_session_in_use_is_refused_without_blocking_anyone) {
    uuid id = create_topic_and_produce("inuse", 1);
    auto opened = call<fetch_req, fetch_resp>(fetch_for(id, 1, 0, 0), 13);
    ASSERT_GT(opened.session_id, 0);
    // A long poll on the session, waiting for the record at offset 1. Until the broker has
    // started it, a request on another connection may take its epoch first (it then succeeds
    // and the poll is refused at once): try again with the next epoch until the poll holds
    // the session.
    const int probe = connect_another();
    int32_t epoch = 1;
    bool held = false;
    for (int attempt = 0; attempt < 100 && !held; ++attempt) {
        fetch_req poll = fetch_for(id, -1, opened.session_id, epoch);
        poll.max_wait_ms = 60000;
        poll.min_bytes = 1;
        writer w;
        poll.encode(w, 13);
        send_request(fetch_req::api_key, 13, w.buffer());
        auto again =
            call<fetch_req, fetch_resp>(fetch_for(id, -1, opened.session_id, epoch), 13, probe);
        if (again.error_code == static_cast<int16_t>(error_code::invalid_fetch_session_epoch)) {
            held = true;
            break;
        }
        ASSERT_EQ(again.error_code, 0);
        auto refused = decode<fetch_resp>(read_response(fetch_req::api_key, 13), 13);
        ASSERT_EQ(refused.error_code,
                  static_cast<int16_t>(error_code::invalid_fetch_session_epoch));
        epoch = next_epoch_after(epoch);
    }
    ASSERT_TRUE(held);
    // Meanwhile, on other connections (spread over the shards, so one shares the poll's): the
    // busy session is refused at once and everything else is served.
    int last = -1;
    for (int i = 0; i < 4; ++i) {
        last = connect_another();
        auto again =
            call<fetch_req, fetch_resp>(fetch_for(id, -1, opened.session_id, epoch), 13, last);
        EXPECT_EQ(again.error_code, static_cast<int16_t>(error_code::invalid_fetch_session_epoch));
        auto plain = call<fetch_req, fetch_resp>(fetch_for(id, 0, 0, -1), 13, last);
        EXPECT_EQ(plain.error_code, 0);
        EXPECT_EQ(only_partition(plain).error_code, 0);
        EXPECT_GT(only_partition(plain).records.size(), 0u);
    }
    // A new record wakes the poll, which answers with it; the session goes on.
    create_topic_and_produce("inuse", 1, last);
    auto woke = decode<fetch_resp>(read_response(fetch_req::api_key, 13), 13);
    EXPECT_EQ(woke.error_code, 0);
    EXPECT_GT(only_partition(woke).records.size(), 0u);
    auto next = call<fetch_req, fetch_resp>(
        fetch_for(id, -1, opened.session_id, next_epoch_after(epoch)), 13);
    EXPECT_EQ(next.error_code, 0);
}

TEST_F(wire_client, a_consumer_claiming_a_replica_id_is_not_served_as_a_follower) {
    create_topic_and_produce("spoof", 4);
    m::metadata_request mr;
    mr.topics.emplace();
    mr.topics->push_back({});
    mr.topics->back().name = "spoof";
    auto md = call<m::metadata_request, m::metadata_response>(mr, 12);
    ASSERT_EQ(md.topics.size(), 1u);
    const int32_t epoch = md.topics[0].partitions.at(0).leader_epoch;
    const int32_t self = md.brokers.at(0).node_id;
    for (int32_t claimed : {5, self}) {
        for (int16_t v : {4, 11, 15}) {
            for (bool with_epoch : {false, true}) {
                if (with_epoch && v < 9) continue;
                fetch_req f = fetch_named("spoof", 0);
                if (v >= 13) f = fetch_for(md.topics[0].topic_id, 0, 0, -1);
                if (v >= 15)
                    f.replica_state.replica_id = claimed;
                else
                    f.replica_id = claimed;
                if (with_epoch) f.topics[0].partitions[0].current_leader_epoch = epoch;
                auto r = call<fetch_req, fetch_resp>(f, v);
                const auto& p = only_partition(r);
                EXPECT_EQ(p.error_code,
                          static_cast<int16_t>(with_epoch ? error_code::unknown_leader_epoch
                                                          : error_code::not_leader_or_follower))
                    << "v" << v << " replica " << claimed;
                EXPECT_EQ(p.records.size(), 0u);
            }
        }
    }
    // A consumer still reads everything below the high watermark.
    auto r = call<fetch_req, fetch_resp>(fetch_named("spoof", 0), 11);
    EXPECT_EQ(only_partition(r).error_code, 0);
    EXPECT_EQ(only_partition(r).high_watermark, 4);
    EXPECT_GT(only_partition(r).records.size(), 0u);
}

TEST_F(wire_client, init_producer_id_bumps_only_the_current_epoch) {
    using req_t = m::init_producer_id_request;
    using resp_t = m::init_producer_id_response;
    req_t q;
    auto init = [&](int16_t v) { return call<req_t, resp_t>(q, v); };
    q.transaction_timeout_ms = 60000;
    auto first = call<req_t, resp_t>(q, 4);
    ASSERT_EQ(first.error_code, 0);
    ASSERT_GE(first.producer_id, 0);
    EXPECT_EQ(first.producer_epoch, 0);
    const int64_t pid = first.producer_id;
    q.producer_id = pid;
    q.producer_epoch = 0;
    auto bumped = call<req_t, resp_t>(q, 4);
    EXPECT_EQ(bumped.error_code, 0);
    EXPECT_EQ(bumped.producer_id, pid);
    EXPECT_EQ(bumped.producer_epoch, 1);
    // Replaying the old epoch, or guessing another, is fenced (KIP-588: INVALID_PRODUCER_EPOCH
    // before v4) and changes nothing.
    EXPECT_EQ(init(4).error_code, static_cast<int16_t>(error_code::producer_fenced));
    EXPECT_EQ(init(3).error_code, static_cast<int16_t>(error_code::invalid_producer_epoch));
    q.producer_epoch = 9;
    EXPECT_EQ(init(4).error_code, static_cast<int16_t>(error_code::producer_fenced));
    q.producer_epoch = 1;
    auto again = call<req_t, resp_t>(q, 4);
    EXPECT_EQ(again.error_code, 0);
    EXPECT_EQ(again.producer_epoch, 2);
    // An id this broker never handed out gets a new id, never the one asked for.
    q.producer_id = pid + 500000;
    q.producer_epoch = 3;
    auto fresh = call<req_t, resp_t>(q, 4);
    EXPECT_EQ(fresh.error_code, 0);
    EXPECT_NE(fresh.producer_id, pid + 500000);
    EXPECT_EQ(fresh.producer_epoch, 0);
    // An id without an epoch (or the reverse) is malformed.
    q.producer_epoch = -1;
    EXPECT_EQ(init(4).error_code, static_cast<int16_t>(error_code::invalid_request));
}

TEST_F(wire_client, fetch_v0_to_v3_answer_with_legacy_message_sets) {
    create_topic_and_produce("legacy-fetch", 5);
    for (int16_t v = 0; v <= 3; ++v) {
        auto r = call<fetch_req, fetch_resp>(fetch_named("legacy-fetch", 1), v);
        const auto& p = only_partition(r);
        ASSERT_EQ(p.error_code, 0) << "v" << v;
        EXPECT_EQ(p.high_watermark, 5);
        const auto& recs = p.records;
        ASSERT_FALSE(recs.has_regions());
        // The first entry carries the fetch version's magic.
        ASSERT_GT(recs.view().size(), 17u);
        EXPECT_EQ(recs.view()[16], v <= 1 ? 0 : 1) << "v" << v;
        auto msgs = read_legacy_message_set(recs.view());
        ASSERT_TRUE(msgs) << "v" << v << ": " << to_string(msgs.error());
        ASSERT_EQ(msgs->size(), 4u);
        for (size_t i = 0; i < 4; ++i) {
            EXPECT_EQ((*msgs)[i].offset, static_cast<int64_t>(i + 1));
            EXPECT_EQ((*msgs)[i].value, bytes{uint8_t('a' + i + 1)});
            EXPECT_FALSE((*msgs)[i].key);
        }
    }
}

TEST_F(wire_client, down_conversion_disabled_or_zstd_gets_kafka_errors) {
    m::create_topics_request ct;
    auto& t = ct.topics.emplace_back();
    t.name = "no-downconvert";
    t.num_partitions = 1;
    t.replication_factor = 1;
    t.configs.push_back({"message.downconversion.enable", std::string("false")});
    // Deprecated since Kafka 3.0, still accepted (and ignored).
    t.configs.push_back({"message.format.version", std::string("0.10.2")});
    auto created = call<m::create_topics_request, m::create_topics_response>(ct, 5);
    ASSERT_EQ(created.topics.size(), 1u);
    ASSERT_EQ(created.topics[0].error_code, 0) << created.topics[0].error_message.value_or("");
    create_topic_and_produce("no-downconvert", 2);
    for (int16_t v : {0, 2, 3}) {
        auto r = call<fetch_req, fetch_resp>(fetch_named("no-downconvert", 0), v);
        EXPECT_EQ(only_partition(r).error_code,
                  static_cast<int16_t>(error_code::unsupported_version))
            << "v" << v;
        EXPECT_EQ(only_partition(r).records.size(), 0u);
    }
    auto modern = call<fetch_req, fetch_resp>(fetch_named("no-downconvert", 0), 4);
    EXPECT_EQ(only_partition(modern).error_code, 0);
    EXPECT_GT(only_partition(modern).records.size(), 0u);

    // zstd batches cannot be down-converted.
    create_topic_and_produce("zstd-legacy", 3, -1, compression_codec::zstd);
    auto z = call<fetch_req, fetch_resp>(fetch_named("zstd-legacy", 0), 2);
    EXPECT_EQ(only_partition(z).error_code,
              static_cast<int16_t>(error_code::unsupported_compression_type));
    EXPECT_EQ(only_partition(z).records.size(), 0u);
}

}  // namespace
}  // namespace rill::protocol
