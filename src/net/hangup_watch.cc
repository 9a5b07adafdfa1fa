#include "net/hangup_watch.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <vector>

namespace rill::net {

namespace {

int make_epoll() {
    int fd = ::epoll_create1(EPOLL_CLOEXEC);
    if (fd < 0)
        throw boost::system::system_error(
            boost::system::error_code(errno, boost::system::system_category()), "epoll_create1");
    return fd;
}

}  // namespace

hangup_watch::hangup_watch(boost::asio::io_context& ctx) : epoll_(ctx, make_epoll()) {}

hangup_watch::~hangup_watch() {
    *alive_ = false;
    boost::system::error_code ec;
    epoll_.close(ec);
}

uint64_t hangup_watch::add(int fd, std::function<void()> on_hangup) {
    const uint64_t token = next_token_++;
    epoll_event ev{};
    // Level-triggered and one-shot: reported once, even if the peer left before we asked.
    ev.events = EPOLLRDHUP | EPOLLONESHOT;
    ev.data.u64 = token;
    if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) return 0;
    entries_.emplace(token, entry{fd, std::move(on_hangup)});
    arm();
    return token;
}

void hangup_watch::remove(uint64_t token) {
    auto it = entries_.find(token);
    if (it == entries_.end()) return;
    ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, it->second.fd, nullptr);
    entries_.erase(it);
}

void hangup_watch::arm() {
    if (armed_ || entries_.empty()) return;
    armed_ = true;
    epoll_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this, alive = alive_](const boost::system::error_code& ec) {
                          if (!*alive) return;
                          armed_ = false;
                          if (!ec) on_ready();
                          arm();
                      });
}

void hangup_watch::on_ready() {
    std::array<epoll_event, 64> events;
    std::vector<std::function<void()>> fired;
    for (;;) {
        int n = ::epoll_wait(epoll_.native_handle(), events.data(), events.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (int i = 0; i < n; ++i) {
            auto it = entries_.find(events[i].data.u64);
            if (it == entries_.end()) continue;
            ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, it->second.fd, nullptr);
            fired.push_back(std::move(it->second.on_hangup));
            entries_.erase(it);
        }
        if (n < static_cast<int>(events.size())) break;
    }
    // Callbacks may add or remove watches: run them once the table is consistent.
    for (auto& f : fired)
        f();
}

}  // namespace rill::net
