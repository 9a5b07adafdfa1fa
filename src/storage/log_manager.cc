#include "storage/log_manager.h"

#include <atomic>
#include <thread>

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
    for (const auto& d : cfg_.log_dirs)
        dir_states_[d] = std::make_shared<log_dir_state>(d, channel_);
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
    std::set<std::string> seen;
    for (const auto& d : cfg.log_dirs)
        if (!seen.insert(d).second)
            return make_error(errc::invalid_argument, "log dir " + d + " listed twice");
    std::unique_ptr<log_manager> m(new log_manager(std::move(fs), std::move(cfg)));
    // A log dir that cannot be created is failed from the start; the broker runs on the others.
    std::optional<error> last;
    size_t failed = 0;
    for (const auto& d : m->cfg_.log_dirs) {
        if (auto s = m->fs_->mkdir(d); !s) {
            last = s.error();
            ++failed;
            m->unlisted_dirs_.insert(d);
            m->dir_state(d).fail(s.error());
        }
    }
    if (failed == m->cfg_.log_dirs.size()) return unexpected{*last};
    return m;
}

std::vector<log_manager::failed_dir> log_manager::failed_log_dirs() const {
    std::vector<failed_dir> out;
    for (const auto& d : cfg_.log_dirs) {
        const auto& st = dir_state(d);
        if (!st.failed()) continue;
        out.push_back({d, st.cause().value_or(error(errc::io_error, "failed"))});
    }
    return out;
}

bool log_manager::log_dir_failed(const std::string& dir) const {
    auto it = dir_states_.find(dir);
    return it != dir_states_.end() && it->second->failed();
}

std::optional<std::string> log_manager::log_dir_of(const topic_partition& tp) const {
    if (auto it = log_dir_of_.find(tp); it != log_dir_of_.end()) return it->second;
    if (auto it = offline_.find(tp); it != offline_.end()) return it->second.log_dir;
    return std::nullopt;
}

std::map<topic_partition, log_manager::offline_log> log_manager::offline_partitions() const {
    auto out = offline_;
    for (const auto& [tp, d] : log_dir_of_) {
        const auto& st = dir_state(d);
        if (st.failed()) out[tp] = {d, st.offline_error()};
    }
    return out;
}

task_runner log_manager::background() {
    task_queue* q = background_.get();
    return [q](std::function<void()> t) { q->post(std::move(t)); };
}

partition_log::options log_manager::log_options(const std::string& log_dir, const std::string& dir,
                                                const log_config& cfg) {
    partition_log::options o;
    o.log_dir = dir_states_.at(log_dir);
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
        log_dir_state& state = dir_state(d);
        if (state.failed()) continue;
        auto names = fs_->list(d);
        if (!names) {
            logger()->error("cannot list log dir {}: {}", d, names.error().message);
            unlisted_dirs_.insert(d);
            state.fail(names.error());
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
            if (state.failed()) {
                // The dir failed while loading it: what is left stays offline, untouched.
                failed.emplace_back(*tp, state.offline_error());
                offline_[*tp] = {d, state.offline_error()};
                continue;
            }
            auto log = partition_log::open(log_options(d, path, config_for(*tp)), now_ms);
            if (!log) {
                logger()->error("cannot load {}: {}", path, log.error().message);
                failed.emplace_back(*tp, log.error());
                offline_[*tp] = {d, log.error()};
                state.report(log.error());
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
    // A failed dir that could not be listed may hold this partition: never create it empty
    // elsewhere (Kafka refuses the same while log dirs are offline).
    if (!unlisted_dirs_.empty())
        return make_error(errc::log_offline, "cannot create " + tp.dir_name() + ": log dir " +
                                                 *unlisted_dirs_.begin() +
                                                 " is offline and its content unknown");
    std::map<std::string, size_t> count;
    for (const auto& d : cfg_.log_dirs)
        count[d] = 0;
    for (const auto& [k, d] : log_dir_of_)
        ++count[d];
    for (const auto& [k, o] : offline_)
        ++count[o.log_dir];
    std::optional<std::string> best;
    for (const auto& d : cfg_.log_dirs)
        if (!dir_state(d).failed() && (!best || count[d] < count[*best])) best = d;
    if (!best)
        return make_error(errc::log_offline,
                          "cannot create " + tp.dir_name() + ": every log dir is offline");
    std::string path = join_path(*best, tp.dir_name());
    auto log = partition_log::open(log_options(*best, path, cfg), now_ms);
    if (!log) {
        dir_state(*best).report(log.error());
        return unexpected{log.error()};
    }
    if (auto s = fs_->sync_dir(*best); !s) {
        dir_state(*best).report(s.error());
        return unexpected{s.error()};
    }
    auto sp = std::shared_ptr<partition_log>(std::move(*log));
    logs_[tp] = sp;
    log_dir_of_[tp] = *best;
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
    if (dir_state(base).failed())
        return make_error(errc::log_offline, "cannot remove " + from + ": its log dir is offline");
    it->second->retire();
    if (auto s = fs_->rename(from, to); !s) {
        dir_state(base).report(s.error());
        return s;
    }
    if (auto s = fs_->sync_dir(base); !s) {
        dir_state(base).report(s.error());
        return s;
    }
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
    // Every checkpoint and snapshot queued for the logs is written before their final state,
    // which the closing threads then write themselves (no FIFO order to keep any more).
    background_->drain();
    std::vector<partition_log*> logs;
    logs.reserve(logs_.size());
    for (auto& [tp, log] : logs_)
        logs.push_back(log.get());
    std::vector<status> results(logs.size());
    std::atomic<size_t> next{0};
    auto closer = [&] {
        for (size_t i; (i = next.fetch_add(1)) < logs.size();)
            results[i] = logs[i]->close(true);
    };
    const size_t threads = std::min(std::max<size_t>(cfg_.close_threads, 1), logs.size());
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t)
        pool.emplace_back(closer);
    closer();
    for (auto& t : pool)
        t.join();
    status first;
    size_t in_failed_dirs = 0;
    for (size_t i = 0; i < logs.size(); ++i) {
        const auto& s = results[i];
        // A failed log dir is not written at all (not even a clean-shutdown marker): its logs
        // recover at the next start; that is no error of the shutdown.
        if (!s && logs[i]->log_dir_failed()) {
            ++in_failed_dirs;
            continue;
        }
        if (!s && first) first = s;
    }
    if (in_failed_dirs > 0)
        logger()->warn(
            "{} logs in failed log dirs were not closed cleanly (recovered at the next "
            "start)",
            in_failed_dirs);
    background_->drain();
    return first;
}

}  // namespace rill::storage
