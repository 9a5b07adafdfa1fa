// A thin RAII wrapper over one ZooKeeper C client handle (multithreaded library), with
// synchronous calls. The watcher function runs on the client's completion thread: it must not
// block and must not call back into the handle (a synchronous call there deadlocks).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

// The synchronous API of the multithreaded client is declared only with THREADED.
#ifndef THREADED
#define THREADED
#endif
#include <zookeeper/zookeeper.h>

namespace rill::cluster::zk {

// Watch and session events as delivered by the client (type: ZOO_*_EVENT, state: ZOO_*_STATE).
struct event {
    int type = 0;
    int state = 0;
    std::string path;
};

// One multi-op transaction. Strings are copied and kept alive by the builder.
class ops {
  public:
    void create(const std::string& path, const std::string& data, bool ephemeral = false);
    void remove(const std::string& path, int version = -1);
    void set(const std::string& path, const std::string& data, int version);
    void check(const std::string& path, int version);
    size_t size() const { return ops_.size(); }
    bool empty() const { return ops_.empty(); }

  private:
    friend class session;
    const std::string& keep(const std::string& s) { return strings_.emplace_back(s); }
    std::deque<std::string> strings_;
    std::deque<Stat> stats_;
    std::vector<zoo_op_t> ops_;
};

class session {
  public:
    using event_fn = std::function<void(const event&)>;

    // Connects and waits up to `connect_timeout` for the session. `hosts` may carry a chroot.
    // With `id`, resumes that session (its password included). nullptr + *error on failure.
    static std::unique_ptr<session> open(const std::string& hosts, int session_timeout_ms,
                                         std::chrono::milliseconds connect_timeout,
                                         event_fn on_event, std::string* error,
                                         const clientid_t* id = nullptr);
    ~session();  // closes the session (its ephemeral znodes go away)
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // Return ZooKeeper's error codes (ZOK, ZNONODE, ZNODEEXISTS, ZBADVERSION, ...).
    int get(const std::string& path, bool watch, std::string* data, Stat* stat = nullptr);
    int children(const std::string& path, bool watch, std::vector<std::string>* out);
    int exists(const std::string& path, bool watch, Stat* stat = nullptr);
    int create(const std::string& path, const std::string& data, bool ephemeral = false);
    // A persistent sequential znode `prefix`<10 digits>; *created gets its path.
    int create_sequential(const std::string& prefix, const std::string& data,
                          std::string* created = nullptr);
    int set(const std::string& path, const std::string& data, int version, Stat* stat = nullptr);
    int remove(const std::string& path, int version = -1);
    // Runs a transaction; on failure `failed_index` (if given) is the first failing op.
    // Returns the first failing op's error (or the transport error).
    int multi(ops& o, int* failed_index = nullptr, std::vector<Stat>* stats = nullptr);
    // Creates `path` and its missing parents (persistent, empty data).
    int ensure_path(const std::string& path);

    clientid_t client_id() const;
    int64_t session_id() const;
    bool connected() const;
    zhandle_t* raw() const { return zh_; }

    // Is `rc` a transport problem (connection loss, timeout, closing, expired session)?
    static bool is_transport_error(int rc);

  private:
    session() = default;
    static void watcher(zhandle_t* zh, int type, int state, const char* path, void* ctx);
    struct context;
    zhandle_t* zh_ = nullptr;
    std::shared_ptr<context> ctx_;
};

std::string error_string(int rc);

}  // namespace rill::cluster::zk
