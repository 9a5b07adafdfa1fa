// A coordinator shard's host without a broker: an in-memory log whose commits (the high
// watermark reaching a write) the test drives by hand, a settable clock and leader epoch.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "coordinator/coordinator_shard.h"
#include "protocol/record_batch.h"

namespace rill::coordinator::testing {

using protocol::error_code;

// The state the test inspects and drives; the host (owned by the shard) refers to it.
struct fake_partition {
    std::vector<protocol::bytes> batches;  // stamped with their base offsets
    int64_t log_start = 0;
    int64_t log_end = 0;
    int64_t committed = 0;    // the high watermark
    bool auto_commit = true;  // commit every append at once (a single in-sync replica)
    std::optional<error_code> fail_appends;  // every append fails with this
    int32_t epoch = 1;
    int64_t now = 1'000'000;
    std::map<std::string, int32_t> topics{{"t", 4}, {"u", 2}};
    std::deque<std::pair<int64_t, std::function<void(error_code)>>> waiting;
    std::deque<std::function<void()>> deferred;
    // Replica racks by topic and partition (rack-aware assignment).
    std::map<std::string, std::vector<std::set<std::string>>> racks;
    // Reads answer when the test runs `deferred` (the broker reads files on a work pool);
    // false: at once.
    bool defer_reads = false;
    size_t reads = 0;  // reads asked for

    // The topic id the fake gives a topic name (stable, distinct for short names).
    static protocol::uuid id_of(const std::string& name) {
        protocol::uuid u;
        for (size_t i = 0; i < name.size() && i < 15; ++i)
            u.b[i] = static_cast<uint8_t>(name[i]);
        u.b[15] = 1;
        return u;
    }
    // Raises the high watermark to `offset` and completes the writes below it, in order.
    void commit_to(int64_t offset) {
        committed = std::max(committed, std::min(offset, log_end));
        while (!waiting.empty() && waiting.front().first <= committed) {
            auto done = std::move(waiting.front().second);
            waiting.pop_front();
            done(error_code::none);
        }
    }
    void commit_all() { commit_to(log_end); }
    // Fails every write still waiting (leadership lost, ISR too small).
    void fail_waiting(error_code e) {
        while (!waiting.empty()) {
            auto done = std::move(waiting.front().second);
            waiting.pop_front();
            done(e);
        }
    }
    void run_deferred() {
        while (!deferred.empty()) {
            auto fn = std::move(deferred.front());
            deferred.pop_front();
            fn();
        }
    }
    // Appends records written by someone else (a log the shard will load).
    void append_records(std::vector<protocol::record> recs) {
        protocol::batch_spec spec;
        auto b = protocol::build_batch(spec, recs);
        protocol::set_base_offset(*b, log_end);
        log_end += static_cast<int64_t>(recs.size());
        committed = log_end;
        batches.push_back(std::move(*b));
    }
    // Every record written so far, in order.
    std::vector<protocol::record> records() const {
        std::vector<protocol::record> out;
        for (const auto& b : batches) {
            auto rs = protocol::read_records(b);
            if (rs) out.insert(out.end(), rs->begin(), rs->end());
        }
        return out;
    }
};

class fake_shard_host final : public shard_host {
  public:
    explicit fake_shard_host(std::shared_ptr<fake_partition> p) : p_(std::move(p)) {}

    int64_t now_ms() override { return p_->now; }
    int32_t leader_epoch() override { return p_->epoch; }
    void read(int64_t from, size_t max_bytes, read_callback done) override {
        ++p_->reads;
        if (!p_->defer_reads) return done(read_now(from, max_bytes));
        p_->deferred.push_back(
            [this, from, max_bytes, done = std::move(done)] { done(read_now(from, max_bytes)); });
    }
    result<log_chunk, std::string> read_now(int64_t from, size_t) {
        log_chunk c;
        c.log_start = p_->log_start;
        c.log_end = p_->log_end;
        int64_t base = 0;
        for (const auto& b : p_->batches) {
            auto rs = protocol::read_records(b);
            const int64_t n = rs ? static_cast<int64_t>(rs->size()) : 0;
            if (base + n > from && base >= p_->log_start)
                c.batches.insert(c.batches.end(), b.begin(), b.end());
            base += n;
        }
        return c;
    }
    result<int64_t, error_code> append(protocol::bytes& batch) override {
        if (p_->fail_appends) return unexpected(*p_->fail_appends);
        auto rs = protocol::read_records(batch);
        const int64_t base = p_->log_end;
        protocol::set_base_offset(batch, base);
        p_->log_end += static_cast<int64_t>(rs->size());
        p_->batches.push_back(batch);
        return base;
    }
    void when_committed(int64_t end, std::function<void(error_code)> done) override {
        p_->waiting.emplace_back(end, std::move(done));
        if (p_->auto_commit) p_->commit_to(end);
    }
    std::optional<int32_t> partition_count(const std::string& topic) override {
        auto it = p_->topics.find(topic);
        if (it == p_->topics.end()) return std::nullopt;
        return it->second;
    }
    std::optional<topic_meta> topic(const std::string& name) override {
        auto it = p_->topics.find(name);
        if (it == p_->topics.end()) return std::nullopt;
        return topic_meta{fake_partition::id_of(name), it->second};
    }

    std::shared_ptr<const std::vector<std::string>> topic_names() override {
        std::vector<std::string> names;
        for (const auto& [name, n] : p_->topics)
            names.push_back(name);
        if (!names_ || *names_ != names)
            names_ = std::make_shared<const std::vector<std::string>>(std::move(names));
        return names_;
    }

    std::vector<std::set<std::string>> partition_racks(const std::string& topic) override {
        auto it = p_->racks.find(topic);
        return it == p_->racks.end() ? std::vector<std::set<std::string>>{} : it->second;
    }

  private:
    std::shared_ptr<const std::vector<std::string>> names_;
    std::shared_ptr<fake_partition> p_;
};

}  // namespace rill::coordinator::testing
