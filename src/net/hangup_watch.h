// Tells a shard when the peer of a socket has gone (FIN or reset), even while the socket holds
// unread bytes.
//
// Why: a connection that waits for request budget does not read its socket, so the bytes the
// client already sent sit in the kernel's receive buffer. A read-readiness wait then completes at
// once (the socket is readable) and says nothing about the peer; a FIN behind pending data only
// shows as EPOLLRDHUP, which Asio's reactor does not ask for. This class keeps its own epoll set
// (registered in the shard's reactor as one descriptor) with EPOLLRDHUP | EPOLLONESHOT per
// watched socket; EPOLLHUP and EPOLLERR (reset, both directions shut) are always reported.
//
// Threading: one instance per shard io_context; every member is called on that shard's thread,
// and callbacks run there. Not copyable.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "common/asio.h"

namespace rill::net {

class hangup_watch {
  public:
    // Throws boost::system::system_error when no epoll instance can be created.
    explicit hangup_watch(boost::asio::io_context& ctx);
    ~hangup_watch();
    hangup_watch(const hangup_watch&) = delete;
    hangup_watch& operator=(const hangup_watch&) = delete;

    // Calls `on_hangup` once, on the shard's thread, when the peer of socket `fd` has shut down
    // its sending side or reset the connection (at once if that already happened). Returns a
    // token for remove(), or 0 if the socket cannot be watched (the caller then relies on its
    // other timeouts). A socket is watched at most once at a time.
    uint64_t add(int fd, std::function<void()> on_hangup);
    // Stops watching (a no-op for 0, or once the callback ran). Call before closing the socket.
    void remove(uint64_t token);
    size_t size() const { return entries_.size(); }

  private:
    struct entry {
        int fd;
        std::function<void()> on_hangup;
    };
    void arm();
    void on_ready();

    boost::asio::posix::stream_descriptor epoll_;
    std::unordered_map<uint64_t, entry> entries_;
    uint64_t next_token_ = 1;
    bool armed_ = false;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace rill::net
