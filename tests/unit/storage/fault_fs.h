// A fault-injecting file system for storage tests, wrapping the POSIX one.
//
// Injected failures (the `faults` switches): writes (ENOSPC, whole or partial), syncs and
// directory syncs (EIO), truncates, opens (EIO), creates (ENOSPC), renames, unlinks, mkdirs,
// and running out of descriptors (EMFILE once `max_open_files` files are open). A failing
// subtree (`fail_under(dir, EROFS)`: a read-only remount or a dying disk under one log dir)
// fails every mutating operation under `dir` (writes, syncs, truncates, opens, renames,
// unlinks, mkdirs, directory syncs) with that errno; reads keep working.
//
// Power cuts (the idea of LevelDB's fault-injection env): with `track(root)`, the file system
// keeps an inode model of everything under `root` - what each file held when it was last
// fsynced and which entries each directory held when it was last fsynced. power_cut() then
// rewrites the real tree to what a machine would find after losing power: only synced
// directory entries exist (a created file whose directory was never synced is gone, a rename
// not made durable is undone), and each file holds its content as of its last fdatasync
// (optionally plus a random part of what was appended after it: a torn tail). With
// `ops_until_crash`, the machine "dies" after that many more mutating operations: every later
// one fails with EIO and changes nothing, as if the process stopped there.
//
// Limits of the model: directories themselves are durable once created (a real system also
// needs the parent synced), reads are never failed, and real fsyncs are skipped while
// tracking (the model decides what survives).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "storage/file_system.h"

namespace rill::storage::test {

struct faults {
    std::atomic<bool> fail_writes{false};     // every pwrite fails with ENOSPC
    std::atomic<bool> partial_writes{false};  // pwrite writes half, then fails
    std::atomic<bool> fail_syncs{false};      // fdatasync and directory fsync fail with EIO
    std::atomic<bool> fail_truncates{false};
    std::atomic<bool> skip_syncs{false};  // sync is a no-op (fast tests)
    std::atomic<int> syncs{0};
    std::atomic<int> sync_delay_us{0};

    std::atomic<bool> fail_opens{false};      // every open fails with EIO
    std::atomic<bool> fail_creates{false};    // opens that may create a file fail with ENOSPC
    std::atomic<bool> fail_renames{false};    // EIO
    std::atomic<bool> fail_unlinks{false};    // EIO
    std::atomic<bool> fail_mkdirs{false};     // EIO
    std::atomic<bool> fail_dir_syncs{false};  // directory fsync fails with EIO
    std::atomic<int> max_open_files{-1};      // open fails with EMFILE at this many; -1: no limit
    std::atomic<int> open_files{0};           // fault_files alive
    // Power-cut point: this many more mutating operations succeed, then `crashed` turns true
    // and every mutating operation fails with EIO without touching anything. -1: never.
    std::atomic<int64_t> ops_until_crash{-1};
    std::atomic<bool> crashed{false};

    // The failing subtree (fail_under): mutating operations on paths under it fail.
    void fail_under(std::string dir, int err) {
        std::lock_guard lk(subtree_mu);
        while (!dir.empty() && dir.back() == '/')
            dir.pop_back();
        subtree = std::move(dir);
        subtree_errno = err;
        subtree_set = !subtree.empty();
    }
    // The errno for a mutating operation on `path`, 0 when it may proceed.
    int failing(const std::string& path) {
        if (!subtree_set) return 0;
        std::lock_guard lk(subtree_mu);
        if (subtree.empty()) return 0;
        if (path == subtree ||
            (path.size() > subtree.size() && path.compare(0, subtree.size(), subtree) == 0 &&
             path[subtree.size()] == '/'))
            return subtree_errno;
        return 0;
    }
    std::atomic<bool> subtree_set{false};
    std::mutex subtree_mu;
    std::string subtree;
    int subtree_errno = 0;

    // The countdown; false when the operation must fail because the machine is dead.
    bool alive() {
        if (crashed) return false;
        int64_t left = ops_until_crash.load();
        if (left < 0) return true;
        if (left == 0) {
            crashed = true;
            return false;
        }
        ops_until_crash = left - 1;
        return true;
    }
};

inline unexpected<error> injected(int err, const std::string& what) {
    return unexpected{errno_error(err, "injected: " + what)};
}

class fault_fs;

class fault_file final : public file {
  public:
    fault_file(std::shared_ptr<file> f, std::shared_ptr<faults> fl, fault_fs* fs, uint64_t node)
        : f_(std::move(f)), fl_(std::move(fl)), fs_(fs), node_(node) {
        ++fl_->open_files;
    }
    ~fault_file() override { --fl_->open_files; }
    result<size_t> pread(uint64_t pos, std::span<uint8_t> out) override {
        return f_->pread(pos, out);
    }
    status pwrite(uint64_t pos, std::span<const uint8_t> data) override {
        if (!fl_->alive()) return injected(EIO, "crashed: pwrite " + path());
        if (int e = fl_->failing(path())) return injected(e, "pwrite " + path());
        if (fl_->partial_writes) {
            (void)f_->pwrite(pos, data.subspan(0, data.size() / 2));
            return injected(ENOSPC, "partial write " + path());
        }
        if (fl_->fail_writes) return injected(ENOSPC, "write " + path());
        return f_->pwrite(pos, data);
    }
    inline status sync() override;
    status truncate(uint64_t size) override {
        if (!fl_->alive()) return injected(EIO, "crashed: truncate " + path());
        if (int e = fl_->failing(path())) return injected(e, "truncate " + path());
        if (fl_->fail_truncates) return injected(EIO, "truncate " + path());
        return f_->truncate(size);
    }
    result<uint64_t> size() override { return f_->size(); }
    int fd() const override { return f_->fd(); }
    const std::string& path() const override { return f_->path(); }

  private:
    std::shared_ptr<file> f_;
    std::shared_ptr<faults> fl_;
    fault_fs* fs_;
    uint64_t node_;  // 0: not tracked
};

class fault_fs final : public file_system {
  public:
    fault_fs() : real_(posix_file_system()), faults_(std::make_shared<faults>()) {}
    faults& f() { return *faults_; }

    // Starts the power-cut model for everything under `root` (an existing directory whose
    // current content counts as durable). Call it before other threads use the file system.
    void track(const std::string& root) {
        std::lock_guard lock(mu_);
        root_ = root;
        while (!root_.empty() && root_.back() == '/')
            root_.pop_back();
        rescan_locked();
    }

    // Power loss: rewrites the tree under root() to its durable state (see the header
    // comment); with `rng`, each file that only grew since its last sync keeps a random prefix
    // of the unsynced bytes (a torn tail). Clears every fault switch. The files still open
    // from before refer to deleted inodes: drop them.
    void power_cut(std::mt19937_64* rng = nullptr) {
        std::lock_guard lock(mu_);
        std::map<uint64_t, std::vector<uint8_t>> survivors;
        collect_survivors_locked(root_id_, root_, rng, survivors);
        materialize_locked(root_id_, root_, survivors);
        auto& fl = *faults_;
        fl.fail_writes = fl.partial_writes = fl.fail_syncs = fl.fail_truncates = false;
        fl.fail_opens = fl.fail_creates = fl.fail_renames = fl.fail_unlinks = false;
        fl.fail_mkdirs = fl.fail_dir_syncs = false;
        fl.max_open_files = -1;
        fl.ops_until_crash = -1;
        fl.crashed = false;
        rescan_locked();
    }

    result<std::shared_ptr<file>> open(const std::string& path, open_mode mode) override {
        auto& fl = *faults_;
        bool creates = mode != open_mode::read_write;
        if (creates && !fl.alive()) return injected(EIO, "crashed: open " + path);
        if (fl.fail_opens) return injected(EIO, "open " + path);
        if (int e = fl.failing(path)) return injected(e, "open " + path);
        if (creates && fl.fail_creates) return injected(ENOSPC, "create " + path);
        int max = fl.max_open_files;
        if (max >= 0 && fl.open_files >= max) return injected(EMFILE, "open " + path);
        auto r = real_->open(path, mode);
        if (!r) return r;
        uint64_t node = 0;
        {
            std::lock_guard lock(mu_);
            if (auto at = resolve_parent_locked(path)) {
                auto& entries = nodes_[at->first].live;
                auto it = entries.find(at->second);
                if (it == entries.end()) {
                    node = new_node_locked(false);
                    nodes_[at->first].live[at->second] = node;
                } else {
                    node = it->second;
                }
            }
        }
        return std::shared_ptr<file>(std::make_shared<fault_file>(*r, faults_, this, node));
    }
    status rename(const std::string& a, const std::string& b) override {
        if (!faults_->alive()) return injected(EIO, "crashed: rename " + a);
        if (faults_->fail_renames) return injected(EIO, "rename " + a + " -> " + b);
        if (int e = faults_->failing(a) ? faults_->failing(a) : faults_->failing(b))
            return injected(e, "rename " + a + " -> " + b);
        if (auto s = real_->rename(a, b); !s) return s;
        std::lock_guard lock(mu_);
        auto from = resolve_parent_locked(a);
        auto to = resolve_parent_locked(b);
        if (from && to) {
            auto& src = nodes_[from->first].live;
            auto it = src.find(from->second);
            if (it != src.end()) {
                uint64_t id = it->second;
                src.erase(it);
                nodes_[to->first].live[to->second] = id;
            }
        }
        return {};
    }
    status unlink(const std::string& p) override {
        if (!faults_->alive()) return injected(EIO, "crashed: unlink " + p);
        if (faults_->fail_unlinks) return injected(EIO, "unlink " + p);
        if (int e = faults_->failing(p)) return injected(e, "unlink " + p);
        if (auto s = real_->unlink(p); !s) return s;
        forget_entry(p);
        return {};
    }
    result<std::vector<std::string>> list(const std::string& d) override { return real_->list(d); }
    status mkdir(const std::string& d) override {
        if (!faults_->alive()) return injected(EIO, "crashed: mkdir " + d);
        if (faults_->fail_mkdirs) return injected(EIO, "mkdir " + d);
        if (int e = faults_->failing(d)) return injected(e, "mkdir " + d);
        if (auto s = real_->mkdir(d); !s) return s;
        std::lock_guard lock(mu_);
        if (auto at = resolve_parent_locked(d)) {
            auto& parent = nodes_[at->first];
            if (!parent.live.count(at->second)) {
                // Directories are durable once created (see the header comment).
                uint64_t id = new_node_locked(true);
                nodes_[at->first].live[at->second] = id;
                nodes_[at->first].synced[at->second] = id;
            }
        }
        return {};
    }
    status rmdir(const std::string& d) override {
        if (!faults_->alive()) return injected(EIO, "crashed: rmdir " + d);
        if (int e = faults_->failing(d)) return injected(e, "rmdir " + d);
        if (auto s = real_->rmdir(d); !s) return s;
        forget_entry(d);
        return {};
    }
    status sync_dir(const std::string& d) override {
        if (!faults_->alive()) return injected(EIO, "crashed: fsync dir " + d);
        if (faults_->fail_syncs || faults_->fail_dir_syncs) return injected(EIO, "fsync dir " + d);
        if (int e = faults_->failing(d)) return injected(e, "fsync dir " + d);
        {
            std::lock_guard lock(mu_);
            if (tracking()) {
                if (auto id = resolve_locked(d)) {
                    auto& n = nodes_[*id];
                    n.synced = n.live;
                }
                return {};
            }
        }
        if (faults_->skip_syncs) return {};
        return real_->sync_dir(d);
    }
    bool exists(const std::string& p) override { return real_->exists(p); }

    // fault_file::sync: records the file's content as durable.
    status synced(uint64_t node, file& real) {
        std::lock_guard lock(mu_);
        if (!tracking()) return real.sync();
        auto it = nodes_.find(node);
        if (it == nodes_.end()) return {};  // a file from before the last power cut
        auto sz = real.size();
        if (!sz) return unexpected{sz.error()};
        std::vector<uint8_t> content(*sz);
        auto n = real.pread(0, content);
        if (!n) return unexpected{n.error()};
        content.resize(*n);
        it->second.durable = std::move(content);
        return {};
    }
    bool tracking() const { return !root_.empty(); }

  private:
    struct node {
        bool dir = false;
        std::vector<uint8_t> durable;            // file: content at the last sync
        std::map<std::string, uint64_t> live;    // dir: entries now
        std::map<std::string, uint64_t> synced;  // dir: entries at the last fsync
    };

    uint64_t new_node_locked(bool dir) {
        uint64_t id = next_id_++;
        nodes_[id].dir = dir;
        return id;
    }

    // Directory node id of `path` (root or below), following live entries.
    std::optional<uint64_t> resolve_locked(const std::string& path) const {
        if (!tracking()) return std::nullopt;
        std::string p = path;
        while (p.size() > 1 && p.back() == '/')
            p.pop_back();
        if (p == root_) return root_id_;
        if (p.compare(0, root_.size() + 1, root_ + "/") != 0) return std::nullopt;
        uint64_t cur = root_id_;
        size_t pos = root_.size() + 1;
        while (pos <= p.size()) {
            size_t end = p.find('/', pos);
            if (end == std::string::npos) end = p.size();
            std::string name = p.substr(pos, end - pos);
            auto n = nodes_.find(cur);
            if (n == nodes_.end()) return std::nullopt;
            auto e = n->second.live.find(name);
            if (e == n->second.live.end()) return std::nullopt;
            cur = e->second;
            pos = end + 1;
        }
        return cur;
    }
    // {parent directory node, entry name} of `path`.
    std::optional<std::pair<uint64_t, std::string>> resolve_parent_locked(
        const std::string& path) const {
        auto parent = resolve_locked(dir_name(path));
        if (!parent) return std::nullopt;
        return std::make_pair(*parent, path.substr(path.find_last_of('/') + 1));
    }
    void forget_entry(const std::string& p) {
        std::lock_guard lock(mu_);
        if (auto at = resolve_parent_locked(p)) nodes_[at->first].live.erase(at->second);
    }

    // The content each durably named file will have after the cut.
    void collect_survivors_locked(uint64_t dir, const std::string& path, std::mt19937_64* rng,
                                  std::map<uint64_t, std::vector<uint8_t>>& out) {
        const node& d = nodes_[dir];
        for (const auto& [name, id] : d.synced) {
            const node& n = nodes_[id];
            if (n.dir) {
                collect_survivors_locked(id, path + "/" + name, rng, out);
                continue;
            }
            if (out.count(id)) continue;
            std::vector<uint8_t> content = n.durable;
            // A torn tail: the file still under its live name that only grew since its sync.
            auto live = d.live.find(name);
            if (rng && live != d.live.end() && live->second == id && (*rng)() % 2 == 0) {
                auto now = read_whole_file(*real_, path + "/" + name);
                if (now && now->size() > content.size() &&
                    std::equal(content.begin(), content.end(), now->begin())) {
                    size_t extra = (*rng)() % (now->size() - content.size() + 1);
                    content.insert(content.end(), now->begin() + static_cast<long>(content.size()),
                                   now->begin() + static_cast<long>(content.size() + extra));
                }
            }
            out[id] = std::move(content);
        }
    }
    void materialize_locked(uint64_t dir, const std::string& path,
                            const std::map<uint64_t, std::vector<uint8_t>>& survivors) {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(path, ec))
            std::filesystem::remove_all(e.path(), ec);
        for (const auto& [name, id] : nodes_[dir].synced) {
            std::string p = path + "/" + name;
            if (nodes_[id].dir) {
                std::filesystem::create_directory(p, ec);
                materialize_locked(id, p, survivors);
                continue;
            }
            auto f = real_->open(p, open_mode::create_truncate);
            if (!f) std::abort();
            const auto& content = survivors.at(id);
            if (!content.empty() && !(*f)->pwrite(0, content)) std::abort();
        }
    }
    // The model from the real tree: everything present is durable.
    void rescan_locked() {
        nodes_.clear();
        root_id_ = new_node_locked(true);
        scan_locked(root_id_, root_);
    }
    void scan_locked(uint64_t dir, const std::string& path) {
        std::error_code ec;
        for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
            std::string name = e.path().filename().string();
            bool is_dir = e.is_directory();
            uint64_t id = new_node_locked(is_dir);
            nodes_[dir].live[name] = id;
            nodes_[dir].synced[name] = id;
            if (is_dir) {
                scan_locked(id, e.path().string());
            } else if (auto c = read_whole_file(*real_, e.path().string())) {
                nodes_[id].durable = std::move(*c);
            }
        }
    }

    std::shared_ptr<file_system> real_;
    std::shared_ptr<faults> faults_;
    std::mutex mu_;
    std::string root_;
    std::map<uint64_t, node> nodes_;
    uint64_t root_id_ = 0;
    uint64_t next_id_ = 1;
};

inline status fault_file::sync() {
    ++fl_->syncs;
    if (fl_->sync_delay_us > 0) ::usleep(static_cast<useconds_t>(fl_->sync_delay_us.load()));
    if (!fl_->alive()) return injected(EIO, "crashed: fdatasync " + path());
    if (fl_->fail_syncs) return injected(EIO, "fdatasync " + path());
    if (int e = fl_->failing(path())) return injected(e, "fdatasync " + path());
    if (fs_->tracking()) return node_ ? fs_->synced(node_, *f_) : status{};
    if (fl_->skip_syncs) return {};
    return f_->sync();
}

}  // namespace rill::storage::test
