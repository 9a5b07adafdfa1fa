// Protocol-level behaviour of the real binary that no installed client exercises on demand:
// incremental fetch sessions (KIP-227), ApiVersions fallback, topic ids. Requests are encoded
// with Rill's generated codecs and sent over a plain socket.
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "broker_process.h"

#include "protocol/generated/api.h"
#include "protocol/generated/api_versions.h"
#include "protocol/generated/error_code.h"
#include "protocol/generated/fetch.h"
#include "protocol/generated/metadata.h"
#include "protocol/generated/produce.h"
#include "protocol/record_batch.h"

namespace rill::protocol {
namespace {

namespace m = messages;

class wire_client : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { ASSERT_TRUE(broker_.start()) << "broker did not start"; }
    static void TearDownTestSuite() { EXPECT_TRUE(broker_.stop()); }
    void SetUp() override {
        fd_ = compat::connect_loopback(broker_.port);
        ASSERT_GE(fd_, 0);
    }
    void TearDown() override { ::close(fd_); }

    bytes roundtrip(int16_t key, int16_t version, const bytes& body) {
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
        EXPECT_EQ(::send(fd_, w.buffer().data(), w.size(), 0), static_cast<ssize_t>(w.size()));
        uint8_t hdr[4];
        EXPECT_EQ(::recv(fd_, hdr, 4, MSG_WAITALL), 4);
        size_t n = (size_t(hdr[0]) << 24) | (size_t(hdr[1]) << 16) | (size_t(hdr[2]) << 8) | hdr[3];
        bytes resp(n);
        EXPECT_EQ(::recv(fd_, resp.data(), n, MSG_WAITALL), static_cast<ssize_t>(n));
        reader r(resp);
        EXPECT_EQ(r.read_int32(), corr_);
        if (api->response_header_version(version) >= 1) r.read_uvarint();
        return bytes(resp.begin() + static_cast<long>(resp.size() - r.remaining()), resp.end());
    }

    template <typename Req, typename Resp>
    Resp call(const Req& req, int16_t version) {
        writer w;
        req.encode(w, version);
        bytes body = roundtrip(Req::api_key, version, w.buffer());
        reader r(body);
        Resp resp;
        resp.decode(r, version);
        EXPECT_TRUE(r.ok());
        return resp;
    }

    uuid create_topic_and_produce(const std::string& topic, int records) {
        m::metadata_request mr;
        mr.topics.emplace();
        mr.topics->push_back({});
        mr.topics->back().name = topic;
        auto md = call<m::metadata_request, m::metadata_response>(mr, 12);
        EXPECT_EQ(md.topics.size(), 1u);
        std::vector<record> recs(static_cast<size_t>(records));
        for (int i = 0; i < records; ++i)
            recs[static_cast<size_t>(i)].value = bytes{uint8_t('a' + i % 26)};
        auto batch = build_batch(batch_spec{}, recs);
        EXPECT_TRUE(batch);
        m::produce_request pr;
        pr.acks = 1;
        pr.timeout_ms = 5000;
        auto& t = pr.topic_data.emplace_back();
        t.name = topic;
        auto& p = t.partition_data.emplace_back();
        p.index = 0;
        p.records = record_data::from_bytes(std::move(*batch));
        auto resp = call<m::produce_request, m::produce_response>(pr, 9);
        EXPECT_EQ(resp.responses.at(0).partition_responses.at(0).error_code, 0);
        return md.topics[0].topic_id;
    }

    static inline compat::broker_process broker_;
    int fd_ = -1;
    int32_t corr_ = 0;
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

}  // namespace
}  // namespace rill::protocol
