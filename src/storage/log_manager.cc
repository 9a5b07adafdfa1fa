#include "storage/log_manager.h"

#include "storage/logger.h"

namespace rill::storage {

std::optional<topic_partition> topic_partition::parse(const std::string& name) {
    auto dash = name.rfind('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 >= name.size()) return std::nullopt;
    int64_t p = 0;
    for (size_t i = dash + 1; i < name.size(); ++i) {
        char c = name[i];
        if (c < '0' || c > '9') return std::nullopt;
        p = p * 10 + (c - '0');
        if (p > INT32_MAX) return std::nullopt;
    }
    std::string topic = name.substr(0, dash);
    if (topic.find('.') != std::string::npos && topic.size() > 7 &&
        topic.compare(topic.size() - 7, 7, "-delete") == 0)
        return std::nullopt;
    return topic_partition{topic, static_cast<int32_t>(p)};
}

log_manager::log_manager(std::shared_ptr<file_system> fs, log_manager_config cfg)
    : fs_(std::move(fs)), cfg_(std::move(cfg)) {
    flusher_ = std::make_unique<flusher>(cfg_.flusher_threads);
    background_ = std::make_unique<task_queue>();
    cleaner_ = std::make_unique<task_queue>();
}

log_manager::~log_manager() {
    // Threads drain their queues in their destructors; logs not closed count as a crash.
    cleaner_.reset();
    flusher_.reset();
    background_.reset();
}

result<std::unique_ptr<log_manager>> log_manager::open(std::shared_ptr<file_system> fs,
                                                       log_manager_config cfg) {
    if (!fs) fs = posix_file_system();
    if (cfg.log_dirs.empty()) return make_error(errc::invalid_argument, "no log.dirs");
    for (const auto& d : cfg.log_dirs)
        if (auto s = fs->mkdir(d); !s) return unexpected{s.error()};
    return std::unique_ptr<log_manager>(new log_manager(std::move(fs), std::move(cfg)));
}

task_runner log_manager::background() {
    task_queue* q = background_.get();
    return [q](std::function<void()> t) { q->post(std::move(t)); };
}

partition_log::options log_manager::log_options(const std::string& dir, const log_config& cfg) {
    partition_log::options o;
    o.fs = fs_;
    o.dir = dir;
    o.config = cfg;
    o.flush = flusher_.get();
    o.background = background();
    return o;
}

std::vector<std::pair<topic_partition, error>> log_manager::load_all(
    const std::function<log_config(const topic_partition&)>& config_for, int64_t now_ms) {
    std::vector<std::pair<topic_partition, error>> failed;
    for (const auto& d : cfg_.log_dirs) {
        auto names = fs_->list(d);
        if (!names) {
            logger()->error("cannot list log dir {}: {}", d, names.error().message);
            continue;
        }
        for (const auto& n : *names) {
            std::string path = join_path(d, n);
            if (n.size() > 7 && n.compare(n.size() - 7, 7, "-delete") == 0) {
                background_->post([fs = fs_, path] { (void)remove_tree(*fs, path); });
                continue;
            }
            auto tp = topic_partition::parse(n);
            if (!tp) continue;
            if (logs_.count(*tp)) {
                logger()->error("partition {} found in two log dirs; ignoring {}", n, path);
                continue;
            }
            auto log = partition_log::open(log_options(path, config_for(*tp)), now_ms);
            if (!log) {
                logger()->error("cannot load {}: {}", path, log.error().message);
                failed.emplace_back(*tp, log.error());
                offline_[*tp] = {d, log.error()};
                continue;
            }
            logs_[*tp] = std::shared_ptr<partition_log>(std::move(*log));
            log_dir_of_[*tp] = d;
        }
    }
    return failed;
}

result<std::shared_ptr<partition_log>> log_manager::create(const topic_partition& tp,
                                                           const log_config& cfg, int64_t now_ms) {
    if (closed_) return make_error(errc::shutting_down, "log manager closed");
    if (logs_.count(tp)) return make_error(errc::already_exists, tp.dir_name());
    if (auto off = offline_.find(tp); off != offline_.end())
        return make_error(errc::log_offline, tp.dir_name() + " in " + off->second.log_dir +
                                                 " failed to load: " + off->second.cause.message);
    std::map<std::string, size_t> count;
    for (const auto& d : cfg_.log_dirs)
        count[d] = 0;
    for (const auto& [k, d] : log_dir_of_)
        ++count[d];
    for (const auto& [k, o] : offline_)
        ++count[o.log_dir];
    std::string best = cfg_.log_dirs.front();
    for (const auto& d : cfg_.log_dirs)
        if (count[d] < count[best]) best = d;
    std::string path = join_path(best, tp.dir_name());
    auto log = partition_log::open(log_options(path, cfg), now_ms);
    if (!log) return unexpected{log.error()};
    if (auto s = fs_->sync_dir(best); !s) return unexpected{s.error()};
    auto sp = std::shared_ptr<partition_log>(std::move(*log));
    logs_[tp] = sp;
    log_dir_of_[tp] = best;
    return sp;
}

std::shared_ptr<partition_log> log_manager::get(const topic_partition& tp) const {
    auto it = logs_.find(tp);
    return it == logs_.end() ? nullptr : it->second;
}

std::vector<topic_partition> log_manager::partitions() const {
    std::vector<topic_partition> out;
    for (const auto& [k, v] : logs_)
        out.push_back(k);
    return out;
}

status log_manager::remove(const topic_partition& tp) {
    auto it = logs_.find(tp);
    if (it == logs_.end()) return make_error(errc::not_found, tp.dir_name());
    std::string base = log_dir_of_[tp];
    std::string from = join_path(base, tp.dir_name());
    std::string to = from + "." + std::to_string(++delete_seq_) + "-delete";
    // Queued checkpoints and snapshots of this log must not land in a log recreated at `from`.
    it->second->retire();
    if (auto s = fs_->rename(from, to); !s) return s;
    if (auto s = fs_->sync_dir(base); !s) return s;
    logs_.erase(it);
    log_dir_of_.erase(tp);
    background_->post([fs = fs_, to] {
        if (auto s = remove_tree(*fs, to); !s)
            logger()->warn("could not remove {}: {}", to, s.error().message);
    });
    return {};
}

bool log_manager::schedule_compaction(const std::shared_ptr<partition_log>& log, int64_t now_ms,
                                      std::function<void(std::function<void()>)> post) {
    auto job = log->prepare_compaction(now_ms);
    if (!job) return false;
    std::weak_ptr<partition_log> weak = log;
    cleaner_->post([job, weak, post = std::move(post)] {
        (void)job->run();
        post([job, weak] {
            if (auto l = weak.lock()) (void)l->install_compaction(*job);
        });
    });
    return true;
}

status log_manager::close() {
    if (closed_) return {};
    closed_ = true;
    cleaner_->drain();
    status first;
    for (auto& [tp, log] : logs_) {
        if (auto s = log->close(); !s && first) first = s;
    }
    background_->drain();
    return first;
}

}  // namespace rill::storage
