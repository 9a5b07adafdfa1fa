#include <sys/statvfs.h>

#include <algorithm>
#include <map>

#include "broker/broker.h"
#include "broker/errors.h"
#include "broker/handlers/handlers.h"
#include "broker/partition_manager.h"

namespace rill::broker {
namespace {

struct item {
    std::shared_ptr<partition> part;
    int64_t size = 0;
    std::string dir;  // the log.dirs entry
};

bool wanted(const std::optional<
                std::vector<m::describe_log_dirs_request::describable_log_dir_topic>>& topics,
            const topic_partition& tp) {
    if (!topics) return true;
    for (const auto& t : *topics)
        if (t.topic == tp.topic)
            for (auto p : t.partitions)
                if (p == tp.partition) return true;
    return false;
}

}  // namespace

// Every log directory with the size of each partition in it (null topics: all partitions). A
// failed log dir answers KAFKA_STORAGE_ERROR and lists the offline partitions it holds (their
// last known size, 0 for those never loaded); partitions that failed to load in a working dir
// are listed there with size 0.
task<m::describe_log_dirs_response> handle_describe_log_dirs(request_context& ctx,
                                                             m::describe_log_dirs_request& req) {
    auto& pm = ctx.b.partitions();
    std::vector<item> items;
    for (auto& p : pm.all())
        if (wanted(req.topics, p->tp)) items.push_back({p, 0, {}});
    co_await pm.run_on_owners(items, [](partition& p, item& it) {
        it.size = static_cast<int64_t>(p.log->size_bytes());
        if (const auto& ld = p.log->log_dir()) it.dir = ld->path();
    });
    // Offline partitions without a partition object (never loaded).
    std::map<topic_partition, std::string> hosted;
    for (const auto& it : items)
        hosted[it.part->tp] = it.dir;
    std::map<std::string, std::map<std::string, std::vector<std::pair<int32_t, int64_t>>>> by_dir;
    for (const auto& it : items)
        by_dir[it.dir][it.part->tp.topic].emplace_back(it.part->tp.partition, it.size);
    for (const auto& [tp, dir] : pm.offline_partitions())
        if (!hosted.contains(tp) && wanted(req.topics, tp))
            by_dir[dir][tp.topic].emplace_back(tp.partition, 0);
    const auto failed = pm.logs().failed_log_dirs();
    m::describe_log_dirs_response resp;
    for (const auto& dir : pm.logs().log_dirs()) {
        auto& r = resp.results.emplace_back();
        r.log_dir = dir;
        const bool dir_failed =
            std::any_of(failed.begin(), failed.end(), [&](const auto& f) { return f.dir == dir; });
        struct statvfs st {};
        if (dir_failed) {
            r.error_code = wire(error_code::kafka_storage_error);
        } else if (::statvfs(dir.c_str(), &st) == 0) {
            r.total_bytes = static_cast<int64_t>(st.f_blocks) * static_cast<int64_t>(st.f_frsize);
            r.usable_bytes = static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
        }
        for (auto& [topic, parts] : by_dir[dir]) {
            auto& t = r.topics.emplace_back();
            t.name = topic;
            std::sort(parts.begin(), parts.end());
            for (const auto& [partition, size] : parts)
                t.partitions.push_back({partition, size, 0, false});
        }
    }
    co_return resp;
}

}  // namespace rill::broker
