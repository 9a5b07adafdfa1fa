#include "storage/log_dir_failure.h"

#include <cerrno>

#include "storage/logger.h"

namespace rill::storage {

bool fails_log_dir(const error& e) {
    if (e.code != errc::io_error) return false;
    switch (e.sys_errno) {
        case EIO:    // a failed write-back or fsync, a dying disk
        case EROFS:  // remounted read-only (ext4 errors=remount-ro)
        case ENXIO:  // the device went away
        case ENODEV:
        case ESTALE:
        case EUCLEAN:  // file system corruption detected by the kernel
        case EREMOTEIO:
            return true;
        default:
            return false;
    }
}

void log_dir_failure_channel::set_listener(log_dir_failure_listener l) {
    std::lock_guard lk(mu_);
    listener_ = std::move(l);
}

void log_dir_failure_channel::notify(const std::string& dir, const error& cause) const {
    log_dir_failure_listener l;
    {
        std::lock_guard lk(mu_);
        l = listener_;
    }
    if (l) l(dir, cause);
}

std::optional<error> log_dir_state::cause() const {
    std::lock_guard lk(mu_);
    return cause_;
}

bool log_dir_state::fail(const error& cause) {
    {
        std::lock_guard lk(mu_);
        if (cause_) return false;
        cause_ = cause;
        failed_.store(true, std::memory_order_release);
    }
    logger()->error(
        "log dir {} failed ({}): every partition in it is offline, the other log dirs keep "
        "serving",
        path_, cause.message);
    if (channel_) channel_->notify(path_, cause);
    return true;
}

bool log_dir_state::report(const error& e) {
    if (fails_log_dir(e)) fail(e);
    return failed();
}

error log_dir_state::offline_error() const {
    auto c = cause();
    return error(errc::log_offline,
                 "log dir " + path_ + " is offline" + (c ? ": " + c->message : std::string()));
}

}  // namespace rill::storage
