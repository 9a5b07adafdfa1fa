#include "common/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace rill {
namespace {

std::string errno_message(const std::string& what, const std::string& path) {
    return what + " " + path + ": " + std::strerror(errno);
}

}  // namespace

result<void, std::string> write_file_atomically(const std::string& path,
                                                const std::string& content) {
    std::string tmp = path + ".tmp";
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return unexpected{errno_message("cannot create", tmp)};
    size_t done = 0;
    while (done < content.size()) {
        ssize_t n = ::write(fd, content.data() + done, content.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            auto msg = errno_message("cannot write", tmp);
            ::close(fd);
            return unexpected{msg};
        }
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0) {
        auto msg = errno_message("cannot fsync", tmp);
        ::close(fd);
        return unexpected{msg};
    }
    ::close(fd);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        return unexpected{errno_message("cannot rename", tmp)};
    auto dir = std::filesystem::path(path).parent_path();
    if (dir.empty()) dir = ".";
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return {};
}

result<std::string, std::string> read_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return unexpected{errno_message("cannot open", path)};
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            auto msg = errno_message("cannot read", path);
            ::close(fd);
            return unexpected{msg};
        }
        if (n == 0) break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

}  // namespace rill
