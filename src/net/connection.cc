// One Kafka connection: frames in, handler, responses out, within the request budget and the
// idle timeout (server.h states the rules; docs/architecture.md why they cannot deadlock).
#include <sys/sendfile.h>
#include <unistd.h>

#include <mutex>

#include "common/logging.h"
#include "common/metrics.h"
#include "common/work_pool.h"
#include "net/connection.h"
#include "net/sasl.h"
#include "net/tls_context.h"

namespace rill::net {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {

std::shared_ptr<spdlog::logger> log() {
    static auto l = rill::logger("net");
    return l;
}

log_limiter& oversize_log() {
    static log_limiter l;
    return l;
}

log_limiter& handshake_log() {
    static log_limiter l;
    return l;
}

// Reads and writes go through the TLS stream on TLS connections.
awaitable<size_t> read_some(connection_state& c, asio::mutable_buffer b) {
    if (c.tls) co_return co_await c.tls->async_read_some(b, use_awaitable);
    co_return co_await c.sock.async_read_some(b, use_awaitable);
}

awaitable<void> read_exact(connection_state& c, uint8_t* data, size_t len) {
    while (len > 0) {
        size_t n = co_await read_some(c, asio::buffer(data, len));
        data += n;
        len -= n;
    }
}

// Bodies are read into a buffer grown as bytes arrive (never more than twice what was
// received, plus this), so a stalled frame holds little memory even though its whole size is
// reserved in the budget.
constexpr size_t kFirstChunk = 64 * 1024;

// Sends a file region with sendfile, waiting for writability as needed.
awaitable<void> send_file_region(connection_state& c, const protocol::file_region& region) {
    off_t off = region.position;
    int64_t left = region.length;
    while (left > 0) {
        ssize_t n = ::sendfile(c.sock.native_handle(), region.fd, &off,
                               static_cast<size_t>(std::min<int64_t>(left, 1 << 30)));
        if (n > 0) {
            left -= n;
            c.touch();
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            co_await c.sock.async_wait(tcp::socket::wait_write, use_awaitable);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        // n == 0: the file is shorter than the region (truncated underneath us). The frame is
        // now unrecoverable for the client: close the connection rather than send garbage.
        throw boost::system::system_error(
            n == 0 ? boost::system::error_code(EIO, boost::system::system_category())
                   : boost::system::error_code(errno, boost::system::system_category()),
            "sendfile");
    }
}

// Writes bytes, counting every partial write as activity (a slow reader is not idle).
awaitable<void> send_bytes(connection_state& c, const uint8_t* data, size_t len) {
    while (len > 0) {
        size_t n = 0;
        if (c.tls)
            n = co_await c.tls->async_write_some(asio::buffer(data, len), use_awaitable);
        else
            n = co_await c.sock.async_write_some(asio::buffer(data, len), use_awaitable);
        data += n;
        len -= n;
        c.touch();
    }
}

// TLS connections cannot sendfile: the region is read in chunks and written through the TLS
// stream. The reads run on the server's file-read pool (a pread may wait for the disk, which
// must not stall the shard); the connection holds one chunk at a time.
constexpr size_t kTlsFileChunk = 256 * 1024;

// One chunk: the bytes read, or -errno. Runs on a pool thread; `buf` is the connection's.
struct chunk_read {
    int fd;
    uint8_t* buf;
    size_t want;
    off_t off;
    ssize_t operator()() const {
        for (;;) {
            ssize_t n = ::pread(fd, buf, want, off);
            if (n >= 0) return n;
            if (errno != EINTR) return -errno;
        }
    }
};

awaitable<void> send_file_region_tls(connection_state& c, const protocol::file_region& region,
                                     work_pool* reads) {
    std::vector<uint8_t> buf(static_cast<size_t>(std::min<int64_t>(region.length, kTlsFileChunk)));
    off_t off = region.position;
    int64_t left = region.length;
    while (left > 0) {
        chunk_read read{region.fd, buf.data(),
                        static_cast<size_t>(std::min<int64_t>(left, buf.size())), off};
        ssize_t n = 0;
        if (reads) {
            auto reading = reads->run(read);
            n = co_await std::move(reading);
        } else {
            n = read();  // no pool (a server without TLS listeners): not reached in practice
        }
        if (n <= 0)  // truncated underneath us, as in send_file_region
            throw boost::system::system_error(
                n == 0 ? boost::system::error_code(EIO, boost::system::system_category())
                       : boost::system::error_code(static_cast<int>(-n),
                                                   boost::system::system_category()),
                "pread");
        co_await send_bytes(c, buf.data(), static_cast<size_t>(n));
        off += n;
        left -= n;
    }
}

awaitable<void> write_response(connection_state& c, const response_frame& resp, work_pool* reads) {
    size_t pos = 0;
    for (const auto& sp : resp.splices) {
        if (sp.at > pos) co_await send_bytes(c, resp.buffer.data() + pos, sp.at - pos);
        pos = sp.at;
        if (c.tls)
            co_await send_file_region_tls(c, sp.region, reads);
        else
            co_await send_file_region(c, sp.region);
    }
    if (pos < resp.buffer.size())
        co_await send_bytes(c, resp.buffer.data() + pos, resp.buffer.size() - pos);
}

// The idle watchdog: one timer per connection, re-armed only when it fires (activity just
// stores a timestamp), so a busy connection costs one wake-up per idle period.
void arm_idle(const std::shared_ptr<connection_state>& c, int64_t idle_ms, int64_t delay_ms) {
    c->idle_timer.expires_after(std::chrono::milliseconds(std::max<int64_t>(delay_ms, 0)));
    c->idle_timer.async_wait([c, idle_ms](const boost::system::error_code& ec) {
        if (ec || c->closed) return;
        if (c->handling) {  // e.g. a long-poll fetch: not idle, look again later
            arm_idle(c, idle_ms, idle_ms);
            return;
        }
        const int64_t idle = steady_now_ms() - c->last_activity_ms;
        if (idle >= idle_ms) {
            log()->debug("connection {} from {} idle for {} ms (connections.max.idle.ms); closing",
                         c->info.id, c->info.peer, idle);
            metrics::registry::global().net().idle_closed.add();
            c->close();
            return;
        }
        arm_idle(c, idle_ms, idle_ms - idle);
    });
}

}  // namespace

awaitable<std::optional<memory_budget::lease>> server::reserve(std::shared_ptr<connection_state> c,
                                                               int64_t bytes, size_t shard) {
    if (auto l = budget_.try_acquire(bytes)) co_return std::move(*l);
    metrics::registry::global().net().budget_waits.add();
    auto w = budget_.make_waiter(c->sock.get_executor(), bytes);
    c->waiter = w;
    // Holding nothing, the connection waits for room; its peer leaving, the idle watchdog or
    // stop() end the wait (a FIN behind the unread bytes only shows to the hang-up watch).
    bool peer_left = false;
    auto& watch = *watches_[shard];
    uint64_t token = watch.add(c->sock.native_handle(), [w, &peer_left] {
        peer_left = true;
        w->cancel();
    });
    auto op = w->wait();
    auto got = co_await std::move(op);
    watch.remove(token);
    c->waiter.reset();
    if (peer_left) {
        metrics::registry::global().net().left_while_waiting.add();
        log()->debug("connection {} from {}: peer left while waiting for request budget",
                     c->info.id, c->info.peer);
    }
    if (!got || c->closed) co_return std::nullopt;  // a lease, if any, goes back here
    co_return std::move(*got);
}

awaitable<void> server::run_connection(tcp::socket sock, std::string listener_name,
                                       std::shared_ptr<const listener_security> security,
                                       asio::ip::address ip, size_t shard) {
    auto c = std::make_shared<connection_state>(std::move(sock));
    // Counted in by the acceptor; counted out however this coroutine ends.
    struct count_out {
        server* s;
        asio::ip::address ip;
        ~count_out() { s->connection_closed(ip); }
    } counted{this, ip};
    connection_info& info = c->info;
    info.id = next_id_.fetch_add(1);
    info.listener_name = std::move(listener_name);
    info.budget = &budget_;
    info.auth = std::make_shared<connection_auth>();
    if (security) {
        info.protocol = security->protocol;
        info.tls = security->tls != nullptr;
        if (security->sasl) {
            info.auth->st = connection_auth::stage::handshake;
            info.auth->config = security->sasl;
        }
    }
    boost::system::error_code ec;
    auto remote = c->sock.remote_endpoint(ec);
    info.peer = ec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
    c->sock.set_option(tcp::no_delay(true), ec);
    if (limits_.send_buffer_bytes > 0)
        c->sock.set_option(asio::socket_base::send_buffer_size(limits_.send_buffer_bytes), ec);
    if (limits_.receive_buffer_bytes > 0)
        c->sock.set_option(asio::socket_base::receive_buffer_size(limits_.receive_buffer_bytes),
                           ec);
    {
        std::lock_guard lock(state_->mu);
        if (state_->stopping) co_return;
        state_->open[info.id] = c;
    }
    log()->debug("connection {} from {}", info.id, info.peer);
    if (limits_.idle_timeout_ms >= 0) arm_idle(c, limits_.idle_timeout_ms, limits_.idle_timeout_ms);

    try {
        if (security && security->tls) {
            // The handshake is asynchronous like every read and write; a peer that stalls in
            // it is closed by the idle timeout.
            c->tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(c->sock, *security->tls);
            boost::system::error_code hec;
            co_await c->tls->async_handshake(asio::ssl::stream_base::server,
                                             asio::redirect_error(use_awaitable, hec));
            if (hec) {
                if (auto suppressed = handshake_log().admit())
                    log()->info(
                        "connection {} from {} ({}): failed authentication (TLS handshake "
                        "failed: {}) ({} more since the last line)",
                        info.id, info.peer, info.listener_name, hec.message(), *suppressed);
                throw boost::system::system_error(asio::error::operation_aborted);
            }
            c->touch();
            info.auth->principal = tls_peer_principal(c->tls->native_handle());
            log()->debug("connection {} from {}: TLS established, principal {}", info.id, info.peer,
                         info.auth->principal);
        }
        for (;;) {
            uint8_t size_buf[4];
            co_await read_exact(*c, size_buf, sizeof size_buf);
            c->touch();
            int32_t size =
                static_cast<int32_t>((uint32_t(size_buf[0]) << 24) | (uint32_t(size_buf[1]) << 16) |
                                     (uint32_t(size_buf[2]) << 8) | uint32_t(size_buf[3]));
            if (size < 0 || size > limits_.max_request_bytes) {
                if (auto suppressed = oversize_log().admit())
                    log()->warn(
                        "connection {} from {}: request size {} outside [0, {}] "
                        "(socket.request.max.bytes); closing ({} more since the last line)",
                        info.id, info.peer, size, limits_.max_request_bytes, *suppressed);
                break;
            }
            // The budget is reserved only once the body starts to arrive: a client that
            // announces a size and sends nothing holds none (the idle timeout closes it).
            // (Not on TLS: decrypted bytes may wait inside the TLS stream with none on the socket.)
            if (size > 0 && !c->tls && c->sock.available(ec) == 0) {
                co_await c->sock.async_wait(tcp::socket::wait_read, use_awaitable);
                if (c->closed || c->sock.available(ec) == 0) break;  // EOF, reset or closed
            }
            memory_budget::lease lease;
            if (size > 0) {
                auto reserving = reserve(c, size, shard);
                auto got = co_await std::move(reserving);
                if (!got) break;
                lease = std::move(*got);
                trimmer_->note_reserved(size);
            }
            auto body = std::make_shared<protocol::bytes>();
            body->reserve(static_cast<size_t>(size));
            size_t got = 0;
            while (got < static_cast<size_t>(size)) {
                if (got == body->size())
                    body->resize(std::min<size_t>(static_cast<size_t>(size),
                                                  got + std::max(kFirstChunk, got)));
                size_t n =
                    co_await read_some(*c, asio::buffer(body->data() + got, body->size() - got));
                got += n;
                c->touch();
            }
            c->handling = true;
            c->in_request = true;
            // The frame is built outside the co_await expression (GCC 12 may destroy
            // temporaries of a co_await full-expression twice).
            auto handling = handler_(info, request_frame{std::move(body)});
            handler_result res = co_await std::move(handling);
            c->handling = false;
            c->touch();
            lease.release();  // the request is handled: its bytes are no longer needed
            if (res.response) co_await write_response(*c, *res.response, file_reads_.get());
            c->in_request = false;
            if (res.close || c->closed) break;
            bool stopping;
            {
                std::lock_guard lock(state_->mu);
                stopping = state_->stopping;
            }
            if (stopping) break;
        }
    } catch (const boost::system::system_error& e) {
        if (e.code() != asio::error::eof && e.code() != asio::error::connection_reset &&
            e.code() != asio::error::operation_aborted && e.code() != asio::error::broken_pipe)
            log()->debug("connection {} from {}: {}", info.id, info.peer, e.what());
    } catch (const std::exception& e) {
        log()->error("connection {} from {}: unexpected error: {}", info.id, info.peer, e.what());
    }
    c->closed = true;
    c->idle_timer.cancel();
    {
        std::lock_guard lock(state_->mu);
        state_->open.erase(info.id);
    }
    c->sock.close(ec);
    log()->debug("connection {} closed", info.id);
}

}  // namespace rill::net
