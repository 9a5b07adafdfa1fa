#include "cluster/zk_client.h"

#include <condition_variable>
#include <cstring>
#include <mutex>

#include "common/logging.h"

namespace rill::cluster::zk {

struct session::context {
    event_fn on_event;
    std::mutex mu;
    std::condition_variable cv;
    bool connected = false;
    bool expired = false;
};

void ops::create(const std::string& path, const std::string& data, bool ephemeral) {
    const auto& p = keep(path);
    const auto& d = keep(data);
    zoo_op_t op;
    zoo_create_op_init(&op, p.c_str(), d.data(), static_cast<int>(d.size()), &ZOO_OPEN_ACL_UNSAFE,
                       ephemeral ? ZOO_EPHEMERAL : ZOO_PERSISTENT, nullptr, 0);
    ops_.push_back(op);
}

void ops::remove(const std::string& path, int version) {
    const auto& p = keep(path);
    zoo_op_t op;
    zoo_delete_op_init(&op, p.c_str(), version);
    ops_.push_back(op);
}

void ops::set(const std::string& path, const std::string& data, int version) {
    const auto& p = keep(path);
    const auto& d = keep(data);
    Stat* st = &stats_.emplace_back();
    std::memset(st, 0, sizeof(Stat));
    zoo_op_t op;
    zoo_set_op_init(&op, p.c_str(), d.data(), static_cast<int>(d.size()), version, st);
    ops_.push_back(op);
}

void ops::check(const std::string& path, int version) {
    const auto& p = keep(path);
    zoo_op_t op;
    zoo_check_op_init(&op, p.c_str(), version);
    ops_.push_back(op);
}

namespace {
// The C client's own messages (connection attempts, socket errors) go to the "zk" logger at
// debug level: the store logs what matters (disconnected, expired, reconnected) itself.
void client_log(const char* message) {
    static auto log = rill::logger("zk");
    log->debug("client: {}", message ? message : "");
}
}  // namespace

void session::watcher(zhandle_t*, int type, int state, const char* path, void* ctx) {
    auto* c = static_cast<context*>(ctx);
    if (type == ZOO_SESSION_EVENT) {
        std::lock_guard lock(c->mu);
        c->connected = state == ZOO_CONNECTED_STATE;
        if (state == ZOO_EXPIRED_SESSION_STATE) c->expired = true;
        c->cv.notify_all();
    }
    if (c->on_event) c->on_event(event{type, state, path ? std::string(path) : std::string()});
}

std::unique_ptr<session> session::open(const std::string& hosts, int session_timeout_ms,
                                       std::chrono::milliseconds connect_timeout, event_fn on_event,
                                       std::string* error, const clientid_t* id) {
    static std::once_flag log_once;
    std::call_once(log_once, [] { zoo_set_debug_level(ZOO_LOG_LEVEL_WARN); });
    std::unique_ptr<session> s(new session());
    s->ctx_ = std::make_shared<context>();
    s->ctx_->on_event = std::move(on_event);
    s->zh_ = zookeeper_init2(hosts.c_str(), &session::watcher, session_timeout_ms, id,
                             s->ctx_.get(), 0, &client_log);
    if (!s->zh_) {
        *error = "cannot create a ZooKeeper handle for '" + hosts + "': " + std::strerror(errno);
        return nullptr;
    }
    std::unique_lock lock(s->ctx_->mu);
    bool ok = s->ctx_->cv.wait_for(lock, connect_timeout,
                                   [&] { return s->ctx_->connected || s->ctx_->expired; });
    if (!ok || !s->ctx_->connected) {
        lock.unlock();
        *error = s->ctx_->expired ? "ZooKeeper session expired while connecting to '" + hosts + "'"
                                  : "timed out after " + std::to_string(connect_timeout.count()) +
                                        " ms connecting to ZooKeeper at '" + hosts + "'";
        return nullptr;  // the destructor closes the handle
    }
    return s;
}

session::~session() {
    if (zh_) zookeeper_close(zh_);
}

int session::get(const std::string& path, bool watch, std::string* data, Stat* stat) {
    Stat st;
    int len = 0;
    std::vector<char> buf(16 * 1024);
    for (int attempt = 0; attempt < 4; ++attempt) {
        len = static_cast<int>(buf.size());
        int rc = zoo_get(zh_, path.c_str(), watch ? 1 : 0, buf.data(), &len, &st);
        if (rc != ZOK) return rc;
        if (st.dataLength <= static_cast<int>(buf.size())) {
            if (data) data->assign(buf.data(), len < 0 ? 0 : static_cast<size_t>(len));
            if (stat) *stat = st;
            return ZOK;
        }
        buf.resize(static_cast<size_t>(st.dataLength) + 1024);
    }
    return ZMARSHALLINGERROR;
}

int session::children(const std::string& path, bool watch, std::vector<std::string>* out) {
    String_vector v{};
    int rc = zoo_get_children(zh_, path.c_str(), watch ? 1 : 0, &v);
    if (rc != ZOK) return rc;
    out->clear();
    for (int32_t i = 0; i < v.count; ++i)
        out->emplace_back(v.data[i]);
    deallocate_String_vector(&v);
    return ZOK;
}

int session::exists(const std::string& path, bool watch, Stat* stat) {
    Stat st;
    return zoo_exists(zh_, path.c_str(), watch ? 1 : 0, stat ? stat : &st);
}

int session::create(const std::string& path, const std::string& data, bool ephemeral) {
    return zoo_create(zh_, path.c_str(), data.data(), static_cast<int>(data.size()),
                      &ZOO_OPEN_ACL_UNSAFE, ephemeral ? ZOO_EPHEMERAL : ZOO_PERSISTENT, nullptr, 0);
}

int session::create_sequential(const std::string& prefix, const std::string& data,
                               std::string* created) {
    char buf[1024];
    int rc = zoo_create(zh_, prefix.c_str(), data.data(), static_cast<int>(data.size()),
                        &ZOO_OPEN_ACL_UNSAFE, ZOO_SEQUENCE, buf, sizeof(buf));
    if (rc == ZOK && created) *created = buf;
    return rc;
}

int session::set(const std::string& path, const std::string& data, int version, Stat* stat) {
    Stat st;
    return zoo_set2(zh_, path.c_str(), data.data(), static_cast<int>(data.size()), version,
                    stat ? stat : &st);
}

int session::remove(const std::string& path, int version) {
    return zoo_delete(zh_, path.c_str(), version);
}

int session::multi(ops& o, int* failed_index, std::vector<Stat>* stats) {
    if (o.ops_.empty()) return ZOK;
    std::vector<zoo_op_result_t> results(o.ops_.size());
    int rc = zoo_multi(zh_, static_cast<int>(o.ops_.size()), o.ops_.data(), results.data());
    if (failed_index) *failed_index = -1;
    if (rc != ZOK) {
        for (size_t i = 0; i < results.size(); ++i) {
            int e = results[i].err;
            if (e != ZOK && e != ZRUNTIMEINCONSISTENCY) {
                if (failed_index) *failed_index = static_cast<int>(i);
                return e;
            }
        }
        return rc;
    }
    if (stats) stats->assign(o.stats_.begin(), o.stats_.end());
    return ZOK;
}

int session::ensure_path(const std::string& path) {
    if (path.empty() || path == "/") return ZOK;
    if (int rc = exists(path, false); rc == ZOK) return ZOK;
    size_t pos = 0;
    while (pos != std::string::npos) {
        pos = path.find('/', pos + 1);
        std::string prefix = path.substr(0, pos);
        int rc = create(prefix, "");
        if (rc != ZOK && rc != ZNODEEXISTS) return rc;
    }
    return ZOK;
}

clientid_t session::client_id() const {
    return *zoo_client_id(zh_);
}

int64_t session::session_id() const {
    return zoo_client_id(zh_)->client_id;
}

bool session::connected() const {
    return zoo_state(zh_) == ZOO_CONNECTED_STATE;
}

bool session::is_transport_error(int rc) {
    return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZSESSIONEXPIRED ||
           rc == ZCLOSING || rc == ZINVALIDSTATE || rc == ZSYSTEMERROR || rc == ZMARSHALLINGERROR ||
           rc == ZSESSIONMOVED;
}

std::string error_string(int rc) {
    const char* s = zerror(rc);
    return s ? std::string(s) : "error " + std::to_string(rc);
}

}  // namespace rill::cluster::zk
