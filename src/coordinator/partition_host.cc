#include "coordinator/partition_host.h"

#include <algorithm>
#include <optional>
#include <string>

#include "common/clock.h"

namespace rill::coordinator {

using protocol::error_code;

namespace {

class partition_host final : public shard_host {
  public:
    partition_host(const coordinator_host& host, cluster::metadata_store& metadata,
                   topic_partition tp, size_t shard)
        : host_(host), metadata_(metadata), tp_(std::move(tp)), shard_(shard) {}

    int64_t now_ms() override { return wall_clock_ms(); }
    int32_t leader_epoch() override {
        return host_.leader_epoch_of ? host_.leader_epoch_of(tp_) : 0;
    }
    void read(int64_t from, size_t max_bytes, read_callback done) override {
        auto lg = host_.log_of(tp_);
        if (!lg) return done(unexpected(std::string("the partition is not hosted here")));
        log_chunk c;
        c.log_start = lg->log_start_offset();
        c.log_end = lg->log_end_offset();
        if (from < c.log_start || from >= c.log_end) return done(std::move(c));
        // Locating the batches is in memory (the segment indexes); copying them out of the
        // files is not, so it runs on the blocking pool.
        auto rr = lg->read(from, max_bytes, c.log_end);
        if (!rr) {
            if (rr.error().code == storage::errc::offset_out_of_range) {
                c.log_start = std::max(c.log_start, lg->log_start_offset());
                return done(std::move(c));
            }
            return done(unexpected(rr.error().message));
        }
        if (rr->regions.empty()) return done(std::move(c));
        auto copy = [rr = std::move(*rr), c = std::move(c), done = std::move(done),
                     io = host_.shards[shard_]]() mutable {
            // The regions keep their segment files open, whatever the shard does meanwhile.
            auto bytes = storage::read_into_memory(rr);
            boost::asio::post(*io, [bytes = std::move(bytes), c = std::move(c),
                                    done = std::move(done)]() mutable {
                if (!bytes) return done(unexpected(std::string("cannot read the segment files")));
                c.batches = std::move(*bytes);
                done(std::move(c));
            });
        };
        if (!host_.run_blocking) return copy();
        host_.run_blocking(std::move(copy));
    }
    result<int64_t, error_code> append(protocol::bytes& batch) override {
        return host_.append(tp_, batch);
    }
    void when_committed(int64_t end, std::function<void(error_code)> done) override {
        if (!host_.when_committed) return done(error_code::none);
        host_.when_committed(tp_, end, std::move(done));
    }
    std::optional<int32_t> partition_count(const std::string& topic) override {
        auto snap = metadata_.snapshot();
        const auto* t = snap->find_topic(topic);
        if (!t) return std::nullopt;
        return static_cast<int32_t>(t->partitions.size());
    }
    std::optional<topic_meta> topic(const std::string& name) override {
        auto snap = metadata_.snapshot();
        const auto* t = snap->find_topic(name);
        if (!t) return std::nullopt;
        return topic_meta{t->id, static_cast<int32_t>(t->partitions.size())};
    }

    std::shared_ptr<const std::vector<std::string>> topic_names() override {
        auto snap = metadata_.snapshot();
        if (names_ && snap->version == names_version_) return names_;
        auto fresh = std::make_shared<std::vector<std::string>>();
        for (const auto& [name, t] : snap->topics)
            if (!t.internal) fresh->push_back(name);
        names_version_ = snap->version;
        // Most metadata changes (ISR, leaders) leave the names alone: keep the same list.
        if (!names_ || *names_ != *fresh) names_ = std::move(fresh);
        return names_;
    }

    std::optional<config_values> group_configs(const std::string& group) override {
        auto snap = metadata_.snapshot();
        auto it = snap->group_configs.find(group);
        if (it == snap->group_configs.end()) return std::nullopt;
        return it->second;
    }

    std::vector<std::set<std::string>> partition_racks(const std::string& name) override {
        auto snap = metadata_.snapshot();
        const auto* t = snap->find_topic(name);
        if (!t) return {};
        std::vector<std::set<std::string>> out(t->partitions.size());
        bool any = false;
        for (size_t i = 0; i < t->partitions.size(); ++i)
            for (int32_t b : t->partitions[i].replicas) {
                auto it = snap->brokers.find(b);
                if (it == snap->brokers.end() || !it->second.rack) continue;
                out[i].insert(*it->second.rack);
                any = true;
            }
        if (!any) out.clear();
        return out;
    }

  private:
    std::shared_ptr<const std::vector<std::string>> names_;  // owner shard only
    uint64_t names_version_ = 0;
    const coordinator_host& host_;
    cluster::metadata_store& metadata_;
    topic_partition tp_;
    size_t shard_;
};

}  // namespace

std::unique_ptr<shard_host> make_partition_host(const coordinator_host& host,
                                                cluster::metadata_store& metadata,
                                                topic_partition tp, size_t shard) {
    return std::make_unique<partition_host>(host, metadata, std::move(tp), shard);
}

}  // namespace rill::coordinator
