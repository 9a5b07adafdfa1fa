// The matrix scenario for librdkafka's C API (tests/compat/test_client_matrix.py).
// Usage: rdkafka_scenario STEP BOOTSTRAP ARGS_JSON; prints one JSON result line.
// Record i of a run tagged T: key "key-<i % 17>", value "T-<i>", headers tag=T, seq=<i>.
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

std::string g_bootstrap;

struct failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

rd_kafka_conf_t* make_conf(const std::map<std::string, std::string>& extra) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    char err[512];
    std::map<std::string, std::string> all = {{"bootstrap.servers", g_bootstrap},
                                              {"client.id", "matrix-rdkafka"}};
    for (const auto& [k, v] : extra)
        all[k] = v;
    for (const auto& [k, v] : all)
        if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
            throw failure(k + ": " + err);
    return conf;
}

rd_kafka_t* make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) throw failure(std::string("rd_kafka_new: ") + err);
    return rk;
}

// Owns a client; consumers are closed (commit, LeaveGroup) before destruction.
struct client {
    rd_kafka_t* rk;
    bool consumer;
    client(rd_kafka_type_t type, rd_kafka_conf_t* conf)
        : rk(make_client(type, conf)), consumer(type == RD_KAFKA_CONSUMER) {
        if (consumer) rd_kafka_poll_set_consumer(rk);
    }
    ~client() {
        if (consumer) rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    client(const client&) = delete;
    client& operator=(const client&) = delete;
};

std::string str(const void* p, size_t n) {
    return p ? std::string(static_cast<const char*>(p), n) : std::string();
}

json row(const rd_kafka_message_t* m) {
    json headers = json::array();
    rd_kafka_headers_t* hs = nullptr;
    if (rd_kafka_message_headers(m, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char* name;
        const void* value;
        size_t size;
        for (size_t i = 0;
             rd_kafka_header_get_all(hs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
             ++i)
            headers.push_back(json::array({name, str(value, size)}));
    }
    return json::array(
        {m->partition, m->offset, str(m->key, m->key_len), str(m->payload, m->len), headers});
}

// Runs an admin request on `q` and returns the result event (caller destroys).
rd_kafka_event_t* admin_result(rd_kafka_queue_t* q) {
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 20000);
    if (!ev) throw failure("admin request timed out");
    if (rd_kafka_event_error(ev)) {
        std::string e = rd_kafka_event_error_string(ev);
        rd_kafka_event_destroy(ev);
        throw failure(e);
    }
    return ev;
}

void create_topic(rd_kafka_t* rk, const std::string& topic, int partitions) {
    char err[512];
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(topic.c_str(), partitions, 1, err, sizeof err);
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
    rd_kafka_event_t* ev = admin_result(q);
    size_t n;
    const rd_kafka_topic_result_t** res =
        rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
    std::string e = n == 1 && rd_kafka_topic_result_error(res[0])
                        ? rd_kafka_topic_result_error_string(res[0])
                        : "";
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    if (!e.empty()) throw failure("CreateTopics: " + e);
}

// Partition count of `topic` from Metadata, -1 if not listed.
int partition_count(rd_kafka_t* rk, const std::string& topic) {
    const rd_kafka_metadata_t* md;
    if (rd_kafka_metadata(rk, 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        throw failure("Metadata failed");
    int n = -1;
    for (int i = 0; i < md->topic_cnt; ++i)
        if (topic == md->topics[i].topic && !md->topics[i].err) n = md->topics[i].partition_cnt;
    rd_kafka_metadata_destroy(md);
    return n;
}

bool wait_until(const std::function<bool()>& cond, int seconds) {
    auto deadline = clock_type::now() + std::chrono::seconds(seconds);
    while (clock_type::now() < deadline) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
}

json step_create(const json& a) {
    client c(RD_KAFKA_PRODUCER, make_conf({}));
    create_topic(c.rk, a["topic"], a["partitions"]);
    int n = partition_count(c.rk, a["topic"]);
    if (n != a["partitions"]) return {{"ok", false}, {"error", std::to_string(n) + " partitions"}};
    return {{"ok", true}};
}

struct delivery {
    std::atomic<int> ok{0};
    std::mutex mu;
    std::vector<std::string> errors;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* d = static_cast<delivery*>(opaque);
    if (!m->err) {
        d->ok++;
        return;
    }
    std::lock_guard lock(d->mu);
    d->errors.push_back(rd_kafka_err2str(m->err));
}

json produce(const json& a, std::map<std::string, std::string> extra) {
    delivery d;
    extra["compression.codec"] = a["codec"];
    extra["linger.ms"] = "5";
    rd_kafka_conf_t* conf = make_conf(extra);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, &d);
    client c(RD_KAFKA_PRODUCER, conf);
    const std::string topic = a["topic"], tag = a["tag"];
    const int start = a["start"], n = a["n"];
    for (int i = start; i < start + n; ++i) {
        std::string key = "key-" + std::to_string(i % 17), value = tag + "-" + std::to_string(i);
        std::string seq = std::to_string(i);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    c.rk, RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(key.data(), key.size()),
                    RD_KAFKA_V_VALUE(value.data(), value.size()),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_HEADER("tag", tag.data(), static_cast<ssize_t>(tag.size())),
                    RD_KAFKA_V_HEADER("seq", seq.data(), static_cast<ssize_t>(seq.size())),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(c.rk, 10);
        if (err) throw failure(std::string("producev: ") + rd_kafka_err2str(err));
    }
    rd_kafka_flush(c.rk, 30000);
    if (!d.errors.empty())
        return {{"ok", false},
                {"error", std::to_string(d.errors.size()) + " failed: " + d.errors[0]}};
    return {{"ok", true}, {"count", d.ok.load()}};
}

json step_consume(const json& a) {
    client c(RD_KAFKA_CONSUMER,
             make_conf({{"group.id", "matrix-unused"}, {"enable.auto.commit", "false"}}));
    const std::string topic = a["topic"];
    const int partitions = a["partitions"];
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; ++p)
        rd_kafka_topic_partition_list_add(l, topic.c_str(), p)->offset = 0;
    rd_kafka_assign(c.rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    json out = json::array();
    const size_t count = a["count"];
    auto deadline = clock_type::now() + std::chrono::seconds(30);
    while (out.size() < count && clock_type::now() < deadline) {
        rd_kafka_message_t* m = rd_kafka_consumer_poll(c.rk, 200);
        if (!m) continue;
        if (!m->err) out.push_back(row(m));
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(c.rk, nullptr);
    return {{"ok", true}, {"records", out}};
}

// A group member: the rebalance callback tracks its assignment (eager protocol).
struct member {
    std::set<int> assigned;
    std::map<int, int64_t> pos;
    json records = json::array();
    std::unique_ptr<client> c;
};

void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                  void* opaque) {
    auto* m = static_cast<member*>(opaque);
    m->assigned.clear();
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        for (int i = 0; i < parts->cnt; ++i)
            m->assigned.insert(parts->elems[i].partition);
        rd_kafka_assign(rk, parts);
    } else {
        rd_kafka_assign(rk, nullptr);
    }
}

void start_member(member& m, const json& a, const std::string& name) {
    rd_kafka_conf_t* conf = make_conf({{"group.id", a["group"]},
                                       {"client.id", name},
                                       {"enable.auto.commit", "false"},
                                       {"auto.offset.reset", "earliest"},
                                       {"session.timeout.ms", "6000"},
                                       {"heartbeat.interval.ms", "300"}});
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, &m);
    m.c = std::make_unique<client>(RD_KAFKA_CONSUMER, conf);
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, std::string(a["topic"]).c_str(), RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(m.c->rk, l);
    rd_kafka_topic_partition_list_destroy(l);
}

// Takes what the member has queued (waiting at most `ms` for the first message).
void poll_member(member& m, int ms) {
    for (int i = 0; i < 500; ++i) {
        rd_kafka_message_t* msg = rd_kafka_consumer_poll(m.c->rk, i == 0 ? ms : 0);
        if (!msg) return;
        if (!msg->err) {
            m.records.push_back(row(msg));
            m.pos[msg->partition] = std::max(m.pos[msg->partition], msg->offset + 1);
        }
        rd_kafka_message_destroy(msg);
    }
}

void commit(member& m, const std::string& topic, const std::map<int, int64_t>& offsets) {
    rd_kafka_topic_partition_list_t* l = rd_kafka_topic_partition_list_new(3);
    for (const auto& [p, o] : offsets)
        rd_kafka_topic_partition_list_add(l, topic.c_str(), p)->offset = o;
    rd_kafka_resp_err_t err = rd_kafka_commit(m.c->rk, l, 0);
    rd_kafka_topic_partition_list_destroy(l);
    if (err) throw failure(std::string("commit: ") + rd_kafka_err2str(err));
}

json step_group(const json& a) {
    std::map<int, int64_t> ends;
    for (const auto& [p, o] : a["ends"].items())
        ends[std::stoi(p)] = o;
    member ms[2];
    for (int i = 0; i < 2; ++i)
        start_member(ms[i], a, "matrix-member-" + std::to_string(i));
    auto done = [&] {
        std::set<int> all;
        for (auto& m : ms) {
            if (m.assigned.empty()) return false;
            for (int p : m.assigned) {
                all.insert(p);
                if (m.pos[p] < ends[p]) return false;
            }
        }
        return all.size() == 3;
    };
    auto deadline = clock_type::now() + std::chrono::seconds(60);
    while (!done()) {
        if (clock_type::now() > deadline) throw failure("group did not settle");
        for (auto& m : ms)
            poll_member(m, 10);
    }
    json members = json::array();
    for (auto& m : ms) {
        std::map<int, int64_t> offsets;
        for (int p : m.assigned)
            offsets[p] = ends[p];
        commit(m, a["topic"], offsets);
        members.push_back({{"assigned", m.assigned}, {"records", m.records}});
    }
    for (auto& m : ms)
        m.c.reset();
    return {{"ok", true}, {"members", members}};
}

json step_resume(const json& a) {
    json p = a;
    p["codec"] = "none";
    json r = produce(p, {});
    if (!r["ok"].get<bool>()) return r;
    member m;
    start_member(m, a, "matrix-resume");
    const size_t n = a["n"];
    auto deadline = clock_type::now() + std::chrono::seconds(30);
    while (m.records.size() < n && clock_type::now() < deadline)
        poll_member(m, 200);
    commit(m, a["topic"], m.pos);
    json records = m.records;
    m.c.reset();
    return {{"ok", true}, {"records", records}};
}

json step_admin_topics(const json& a) {
    client c(RD_KAFKA_PRODUCER, make_conf({}));
    const std::string topic = a["topic"];
    create_topic(c.rk, topic, a["partitions"]);
    if (partition_count(c.rk, topic) != a["partitions"])
        return {{"ok", false}, {"error", "created topic not listed with its partitions"}};
    rd_kafka_DeleteTopic_t* dt = rd_kafka_DeleteTopic_new(topic.c_str());
    rd_kafka_queue_t* q = rd_kafka_queue_new(c.rk);
    rd_kafka_DeleteTopics(c.rk, &dt, 1, nullptr, q);
    rd_kafka_event_destroy(admin_result(q));
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteTopic_destroy(dt);
    if (!wait_until([&] { return partition_count(c.rk, topic) == -1; }, 10))
        return {{"ok", false}, {"error", "deleted topic still listed"}};
    return {{"ok", true}};
}

// ListGroups + DescribeGroups through rd_kafka_list_groups; DeleteGroups through the admin API.
json step_admin_groups(const json& a) {
    client c(RD_KAFKA_PRODUCER, make_conf({}));
    const std::string group = a["group"];
    const rd_kafka_group_list* list;
    rd_kafka_resp_err_t err = rd_kafka_list_groups(c.rk, nullptr, &list, 10000);
    if (err) throw failure(std::string("list_groups: ") + rd_kafka_err2str(err));
    bool listed = false;
    for (int i = 0; i < list->group_cnt; ++i)
        listed |= group == list->groups[i].group;
    rd_kafka_group_list_destroy(list);
    if (!listed) return {{"ok", false}, {"error", "group not listed"}};
    err = rd_kafka_list_groups(c.rk, group.c_str(), &list, 10000);
    if (err) throw failure(std::string("describe: ") + rd_kafka_err2str(err));
    std::string state = list->group_cnt == 1 ? list->groups[0].state : "";
    std::string type = list->group_cnt == 1 ? list->groups[0].protocol_type : "";
    rd_kafka_group_list_destroy(list);
    if (state != "Empty" || type != "consumer")
        return {{"ok", false}, {"error", "describe: state '" + state + "' type '" + type + "'"}};
    rd_kafka_DeleteGroup_t* dg = rd_kafka_DeleteGroup_new(group.c_str());
    rd_kafka_queue_t* q = rd_kafka_queue_new(c.rk);
    rd_kafka_DeleteGroups(c.rk, &dg, 1, nullptr, q);
    rd_kafka_event_t* ev = admin_result(q);
    size_t n;
    const rd_kafka_group_result_t** res =
        rd_kafka_DeleteGroups_result_groups(rd_kafka_event_DeleteGroups_result(ev), &n);
    std::string e = n == 1 && rd_kafka_group_result_error(res[0])
                        ? rd_kafka_error_string(rd_kafka_group_result_error(res[0]))
                        : "";
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_DeleteGroup_destroy(dg);
    if (!e.empty()) return {{"ok", false}, {"error", "DeleteGroups: " + e}};
    err = rd_kafka_list_groups(c.rk, nullptr, &list, 10000);
    if (err) throw failure(std::string("list_groups: ") + rd_kafka_err2str(err));
    listed = false;
    for (int i = 0; i < list->group_cnt; ++i)
        listed |= group == list->groups[i].group;
    rd_kafka_group_list_destroy(list);
    if (listed) return {{"ok", false}, {"error", "deleted group still listed"}};
    return {{"ok", true}};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: rdkafka_scenario STEP BOOTSTRAP ARGS_JSON\n");
        return 2;
    }
    const std::string step = argv[1];
    g_bootstrap = argv[2];
    json res;
    try {
        const json a = json::parse(argv[3]);
        if (step == "create") {
            res = step_create(a);
        } else if (step == "produce") {
            res = produce(a, {});
        } else if (step == "consume") {
            res = step_consume(a);
        } else if (step == "group") {
            res = step_group(a);
        } else if (step == "resume") {
            res = step_resume(a);
        } else if (step == "admin_topics") {
            res = step_admin_topics(a);
        } else if (step == "admin_groups") {
            res = step_admin_groups(a);
        } else if (step == "idempotent") {
            res = produce(a, {{"enable.idempotence", "true"}, {"acks", "all"}});
        } else {
            res = {{"na", "no step " + step}};
        }
    } catch (const std::exception& e) {
        res = {{"ok", false}, {"error", e.what()}};
    }
    std::printf("%s\n", res.dump().c_str());
    return 0;
}
