#include <sys/statvfs.h>

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
    std::string dir;
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

// Every log directory with the size of each partition in it (null topics: all partitions).
task<m::describe_log_dirs_response> handle_describe_log_dirs(request_context& ctx,
                                                             m::describe_log_dirs_request& req) {
    auto& pm = ctx.b.partitions();
    std::vector<item> items;
    for (auto& p : pm.all())
        if (wanted(req.topics, p->tp)) items.push_back({p, 0, {}});
    co_await pm.run_on_owners(items, [](partition& p, item& it) {
        it.size = static_cast<int64_t>(p.log->size_bytes());
        it.dir = p.log->dir();
    });
    m::describe_log_dirs_response resp;
    for (const auto& dir : pm.logs().log_dirs()) {
        auto& r = resp.results.emplace_back();
        r.log_dir = dir;
        struct statvfs st {};
        if (::statvfs(dir.c_str(), &st) == 0) {
            r.total_bytes = static_cast<int64_t>(st.f_blocks) * static_cast<int64_t>(st.f_frsize);
            r.usable_bytes = static_cast<int64_t>(st.f_bavail) * static_cast<int64_t>(st.f_frsize);
        }
        std::map<std::string, std::vector<const item*>> by_topic;
        for (const auto& it : items)
            if (it.dir.rfind(dir, 0) == 0) by_topic[it.part->tp.topic].push_back(&it);
        for (const auto& [topic, parts] : by_topic) {
            auto& t = r.topics.emplace_back();
            t.name = topic;
            for (const item* it : parts)
                t.partitions.push_back({it->part->tp.partition, it->size, 0, false});
        }
    }
    co_return resp;
}

}  // namespace rill::broker
