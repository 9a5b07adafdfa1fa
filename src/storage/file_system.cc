#include "storage/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace rill::storage {

const char* errc_name(errc e) {
    switch (e) {
        case errc::io_error:
            return "io_error";
        case errc::disk_full:
            return "disk_full";
        case errc::log_offline:
            return "log_offline";
        case errc::corrupt:
            return "corrupt";
        case errc::corrupt_batch:
            return "corrupt_batch";
        case errc::offset_out_of_range:
            return "offset_out_of_range";
        case errc::out_of_order_sequence:
            return "out_of_order_sequence";
        case errc::invalid_producer_epoch:
            return "invalid_producer_epoch";
        case errc::not_found:
            return "not_found";
        case errc::already_exists:
            return "already_exists";
        case errc::invalid_argument:
            return "invalid_argument";
        case errc::shutting_down:
            return "shutting_down";
    }
    return "unknown";
}

error errno_error(int err, const std::string& what) {
    errc c = errc::io_error;
    if (err == ENOSPC || err == EDQUOT) c = errc::disk_full;
    if (err == ENOENT) c = errc::not_found;
    if (err == EEXIST) c = errc::already_exists;
    error e(c, what + ": " + std::strerror(err));
    e.sys_errno = err;
    return e;
}

namespace {

class posix_file final : public file {
  public:
    posix_file(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
    ~posix_file() override { ::close(fd_); }

    result<size_t> pread(uint64_t pos, std::span<uint8_t> out) override {
        size_t done = 0;
        while (done < out.size()) {
            ssize_t n =
                ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(pos + done));
            if (n < 0) {
                if (errno == EINTR) continue;
                return unexpected{errno_error(errno, "pread " + path_)};
            }
            if (n == 0) break;
            done += static_cast<size_t>(n);
        }
        return done;
    }

    status pwrite(uint64_t pos, std::span<const uint8_t> data) override {
        size_t done = 0;
        while (done < data.size()) {
            ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done,
                                 static_cast<off_t>(pos + done));
            if (n < 0) {
                if (errno == EINTR) continue;
                return unexpected{errno_error(errno, "pwrite " + path_)};
            }
            done += static_cast<size_t>(n);
        }
        return {};
    }

    status sync() override {
        if (::fdatasync(fd_) != 0) return unexpected{errno_error(errno, "fdatasync " + path_)};
        return {};
    }

    status truncate(uint64_t size) override {
        if (::ftruncate(fd_, static_cast<off_t>(size)) != 0)
            return unexpected{errno_error(errno, "ftruncate " + path_)};
        return {};
    }

    result<uint64_t> size() override {
        struct stat st;
        if (::fstat(fd_, &st) != 0) return unexpected{errno_error(errno, "fstat " + path_)};
        return static_cast<uint64_t>(st.st_size);
    }

    int fd() const override { return fd_; }
    const std::string& path() const override { return path_; }

  private:
    int fd_;
    std::string path_;
};

class posix_fs final : public file_system {
  public:
    result<std::shared_ptr<file>> open(const std::string& path, open_mode mode) override {
        int flags = O_RDWR | O_CLOEXEC;
        switch (mode) {
            case open_mode::read_write:
                break;
            case open_mode::create:
                flags |= O_CREAT;
                break;
            case open_mode::create_truncate:
                flags |= O_CREAT | O_TRUNC;
                break;
            case open_mode::create_exclusive:
                flags |= O_CREAT | O_EXCL;
                break;
        }
        int fd = ::open(path.c_str(), flags, 0644);
        if (fd < 0) return unexpected{errno_error(errno, "open " + path)};
        return std::shared_ptr<file>(std::make_shared<posix_file>(fd, path));
    }

    status rename(const std::string& from, const std::string& to) override {
        if (::rename(from.c_str(), to.c_str()) != 0)
            return unexpected{errno_error(errno, "rename " + from + " -> " + to)};
        return {};
    }

    status unlink(const std::string& path) override {
        if (::unlink(path.c_str()) != 0) return unexpected{errno_error(errno, "unlink " + path)};
        return {};
    }

    result<std::vector<std::string>> list(const std::string& dir) override {
        DIR* d = ::opendir(dir.c_str());
        if (!d) return unexpected{errno_error(errno, "opendir " + dir)};
        std::vector<std::string> out;
        while (struct dirent* e = ::readdir(d)) {
            std::string name = e->d_name;
            if (name == "." || name == "..") continue;
            out.push_back(std::move(name));
        }
        ::closedir(d);
        return out;
    }

    status mkdir(const std::string& dir) override {
        if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST)
            return unexpected{errno_error(errno, "mkdir " + dir)};
        return {};
    }

    status rmdir(const std::string& dir) override {
        if (::rmdir(dir.c_str()) != 0) return unexpected{errno_error(errno, "rmdir " + dir)};
        return {};
    }

    status sync_dir(const std::string& dir) override {
        int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) return unexpected{errno_error(errno, "open dir " + dir)};
        int rc = ::fsync(fd);
        int err = errno;
        ::close(fd);
        if (rc != 0) return unexpected{errno_error(err, "fsync dir " + dir)};
        return {};
    }

    bool exists(const std::string& path) override {
        struct stat st;
        return ::stat(path.c_str(), &st) == 0;
    }
};

}  // namespace

std::shared_ptr<file_system> posix_file_system() {
    static std::shared_ptr<file_system> fs = std::make_shared<posix_fs>();
    return fs;
}

std::string join_path(const std::string& dir, const std::string& name) {
    if (dir.empty()) return name;
    if (dir.back() == '/') return dir + name;
    return dir + "/" + name;
}

std::string dir_name(const std::string& path) {
    auto pos = path.find_last_of('/');
    if (pos == std::string::npos) return ".";
    if (pos == 0) return "/";
    return path.substr(0, pos);
}

status write_file_atomic(file_system& fs, const std::string& path, std::span<const uint8_t> data) {
    std::string tmp = path + ".tmp";
    auto f = fs.open(tmp, open_mode::create_truncate);
    if (!f) return unexpected{f.error()};
    if (auto s = (*f)->pwrite(0, data); !s) return s;
    if (auto s = (*f)->sync(); !s) return s;
    f->reset();
    if (auto s = fs.rename(tmp, path); !s) return s;
    return fs.sync_dir(dir_name(path));
}

result<std::vector<uint8_t>> read_whole_file(file_system& fs, const std::string& path) {
    auto f = fs.open(path, open_mode::read_write);
    if (!f) return unexpected{f.error()};
    auto sz = (*f)->size();
    if (!sz) return unexpected{sz.error()};
    std::vector<uint8_t> buf(*sz);
    auto n = (*f)->pread(0, buf);
    if (!n) return unexpected{n.error()};
    buf.resize(*n);
    return buf;
}

status remove_tree(file_system& fs, const std::string& dir) {
    auto names = fs.list(dir);
    if (!names) return unexpected{names.error()};
    for (const auto& n : *names) {
        std::string p = join_path(dir, n);
        if (!fs.unlink(p)) {
            if (auto s = remove_tree(fs, p); !s) return s;
        }
    }
    return fs.rmdir(dir);
}

}  // namespace rill::storage
