// rill_perf: a Kafka benchmark client on librdkafka, in the spirit of rdkafka_performance and
// kafka-producer-perf-test. It talks to any Kafka-protocol broker (Rill, librdkafka's mock
// cluster, Kafka) and prints one JSON object per run on stdout (human notes go to stderr).
//
//   rill_perf create  -b HOST:PORT -t TOPIC -p PARTITIONS
//   rill_perf produce -b ... -t TOPIC [-s SIZE] [-a ACKS] [-z none|lz4|zstd] [-d SECONDS]
//                     [-c COUNT] [-r RATE] [--create -p N]
//   rill_perf consume -b ... -t TOPIC [-c COUNT] [-d SECONDS]   (from the beginning to the end)
//   rill_perf latency -b ... -t TOPIC -r RATE [-d SECONDS] [-w WARMUP] [-s SIZE] [-a ACKS]
//   rill_perf conns   -b ... -n CONNECTIONS [-d SECONDS]        (raw ApiVersions round trips)
//
// -X key=value passes any librdkafka property. Throughput counts payload bytes (MB = 10^6 B).
//
// Latency mode is free of coordinated omission: record i has an intended send time
// t0 + i/RATE, written into its payload; the consumer (same process, same clock) records
// now - intended, so a stalled producer or broker shows up as latency instead of as fewer
// samples. Values go into a log-bucketed histogram (HDR-style: 128 linear sub-buckets per
// power of two, <= 0.8% relative error); percentiles report the bucket's upper bound.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using clk = std::chrono::steady_clock;

int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(clk::now().time_since_epoch())
        .count();
}

[[noreturn]] void die(const std::string& msg) {
    std::fprintf(stderr, "rill_perf: %s\n", msg.c_str());
    std::exit(1);
}

// ---------------------------------------------------------------- histogram

class histogram {
  public:
    static constexpr int sub_bits = 7;
    static constexpr uint64_t sub_count = uint64_t{1} << sub_bits;

    histogram() : counts_((64 - sub_bits + 1) * sub_count, 0) {}

    void record(int64_t value) {
        uint64_t v = value < 0 ? 0 : static_cast<uint64_t>(value);
        ++counts_[index(v)];
        ++total_;
        max_ = std::max(max_, v);
        sum_ += static_cast<double>(v);
    }

    uint64_t count() const { return total_; }
    uint64_t max() const { return max_; }
    double mean() const { return total_ ? sum_ / static_cast<double>(total_) : 0.0; }

    // The smallest bucket upper bound at or below which `q` of the values lie.
    uint64_t percentile(double q) const {
        if (total_ == 0) return 0;
        auto want = static_cast<uint64_t>(q * static_cast<double>(total_));
        if (want == 0) want = 1;
        uint64_t seen = 0;
        for (size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= want) return std::min(upper(i), max_);
        }
        return max_;
    }

  private:
    static size_t index(uint64_t v) {
        if (v < sub_count) return static_cast<size_t>(v);
        int msb = 63 - std::countl_zero(v);
        int shift = msb - sub_bits;
        return (static_cast<size_t>(shift + 1) << sub_bits) + ((v >> shift) & (sub_count - 1));
    }
    static uint64_t upper(size_t i) {
        if (i < sub_count) return i;
        size_t block = i >> sub_bits;
        uint64_t sub = i & (sub_count - 1);
        int shift = static_cast<int>(block) - 1;
        return ((sub_count + sub) << shift) + ((uint64_t{1} << shift) - 1);
    }

    std::vector<uint64_t> counts_;
    uint64_t total_ = 0;
    uint64_t max_ = 0;
    double sum_ = 0;
};

// ---------------------------------------------------------------- options

struct options {
    std::string mode;
    std::string brokers = "127.0.0.1:9092";
    std::string topic = "rill-perf";
    int partitions = 8;
    size_t size = 1024;
    int64_t count = 0;  // 0: run for `duration`
    double duration = 5;
    double warmup = 1;
    std::string acks = "1";
    std::string compression = "none";
    double rate = 0;  // records/s; 0: as fast as possible
    bool create = false;
    int connections = 1;
    std::vector<std::pair<std::string, std::string>> props;
};

void usage() {
    std::fprintf(stderr,
                 "usage: rill_perf create|produce|consume|latency|conns [options]\n"
                 "  -b BROKERS      bootstrap servers (127.0.0.1:9092)\n"
                 "  -t TOPIC        topic (rill-perf)\n"
                 "  -p N            partitions for create / --create (8)\n"
                 "  --create        create the topic first (produce, latency)\n"
                 "  -s BYTES        record value size (1024)\n"
                 "  -c COUNT        records to produce/consume (0: use -d)\n"
                 "  -d SECONDS      run time (5)\n"
                 "  -w SECONDS      latency warm-up excluded from the histogram (1)\n"
                 "  -a ACKS         0, 1 or all (1)\n"
                 "  -z CODEC        none, lz4, zstd, gzip, snappy (none)\n"
                 "  -r RATE         records/s, fixed schedule (0: unthrottled)\n"
                 "  -n CONNECTIONS  conns mode: TCP connections (1)\n"
                 "  -X key=value    any librdkafka property\n");
    std::exit(2);
}

options parse(int argc, char** argv) {
    if (argc < 2) usage();
    options o;
    o.mode = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage();
            return argv[++i];
        };
        if (a == "-b")
            o.brokers = next();
        else if (a == "-t")
            o.topic = next();
        else if (a == "-p")
            o.partitions = std::stoi(next());
        else if (a == "--create")
            o.create = true;
        else if (a == "-s")
            o.size = std::stoul(next());
        else if (a == "-c")
            o.count = std::stoll(next());
        else if (a == "-d")
            o.duration = std::stod(next());
        else if (a == "-w")
            o.warmup = std::stod(next());
        else if (a == "-a")
            o.acks = next();
        else if (a == "-z")
            o.compression = next();
        else if (a == "-r")
            o.rate = std::stod(next());
        else if (a == "-n")
            o.connections = std::stoi(next());
        else if (a == "-X") {
            std::string kv = next();
            auto eq = kv.find('=');
            if (eq == std::string::npos) usage();
            o.props.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
        } else
            usage();
    }
    return o;
}

// ---------------------------------------------------------------- librdkafka helpers

void set(rd_kafka_conf_t* conf, const std::string& k, const std::string& v) {
    char err[512];
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
        die("config " + k + "=" + v + ": " + err);
}

void apply_user_props(rd_kafka_conf_t* conf, const options& o) {
    for (auto& [k, v] : o.props)
        set(conf, k, v);
}

rd_kafka_t* make_client(rd_kafka_type_t type, rd_kafka_conf_t* conf) {
    char err[512];
    rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
    if (!rk) die(std::string("rd_kafka_new: ") + err);
    return rk;
}

// Waits until the topic's metadata shows every partition with a leader; returns the count.
int wait_for_topic(rd_kafka_t* rk, const std::string& topic, int want, double timeout_s) {
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
    int64_t deadline = now_ns() + static_cast<int64_t>(timeout_s * 1e9);
    int found = 0;
    std::string why = "no metadata";
    while (now_ns() < deadline) {
        const rd_kafka_metadata_t* md = nullptr;
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) {
            const auto& t = md->topics[0];
            bool ok = t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0 &&
                      (want <= 0 || t.partition_cnt >= want);
            for (int p = 0; ok && p < t.partition_cnt; ++p)
                if (t.partitions[p].leader < 0 || t.partitions[p].err) ok = false;
            found = t.partition_cnt;
            why = t.err ? rd_kafka_err2str(t.err) : "partitions not ready";
            rd_kafka_metadata_destroy(md);
            if (ok) {
                rd_kafka_topic_destroy(rkt);
                return found;
            }
        } else {
            why = rd_kafka_err2str(err);
            if (md) rd_kafka_metadata_destroy(md);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    rd_kafka_topic_destroy(rkt);
    die("topic " + topic + " not ready: " + why);
}

void create_topic(const options& o) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", o.brokers);
    apply_user_props(conf, o);
    rd_kafka_t* rk = make_client(RD_KAFKA_PRODUCER, conf);
    char err[512];
    rd_kafka_NewTopic_t* nt =
        rd_kafka_NewTopic_new(o.topic.c_str(), o.partitions, 1, err, sizeof err);
    if (!nt) die(std::string("NewTopic: ") + err);
    rd_kafka_queue_t* q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, nullptr, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, 60000);
    if (!ev) die("CreateTopics timed out");
    if (rd_kafka_event_error(ev))
        die(std::string("CreateTopics: ") + rd_kafka_event_error_string(ev));
    const rd_kafka_CreateTopics_result_t* res = rd_kafka_event_CreateTopics_result(ev);
    size_t n = 0;
    const rd_kafka_topic_result_t** tr = rd_kafka_CreateTopics_result_topics(res, &n);
    for (size_t i = 0; i < n; ++i) {
        auto e = rd_kafka_topic_result_error(tr[i]);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
            die(std::string("CreateTopics ") + o.topic + ": " + rd_kafka_err2str(e));
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_queue_destroy(q);
    wait_for_topic(rk, o.topic, o.partitions, 60);
    rd_kafka_destroy(rk);
}

// Values that compress like text (4 bits of entropy per byte): neither all zeros nor random.
void fill_payload(std::vector<char>& buf) {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (auto& c : buf) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c = static_cast<char>('a' + (x & 15));
    }
}

struct delivery_stats {
    std::atomic<int64_t> ok{0};
    std::atomic<int64_t> failed{0};
    std::atomic<int64_t> bytes{0};
    std::string first_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* st = static_cast<delivery_stats*>(opaque);
    if (m->err) {
        if (st->failed.fetch_add(1) == 0) st->first_error = rd_kafka_err2str(m->err);
    } else {
        st->ok.fetch_add(1, std::memory_order_relaxed);
        st->bytes.fetch_add(static_cast<int64_t>(m->len), std::memory_order_relaxed);
    }
}

rd_kafka_conf_t* producer_conf(const options& o, delivery_stats* st, bool latency) {
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", o.brokers);
    set(conf, "client.id", "rill-perf");
    set(conf, "acks", o.acks);
    set(conf, "compression.codec", o.compression);
    set(conf, "linger.ms", latency ? "0" : "5");
    set(conf, "batch.size", "1000000");
    set(conf, "queue.buffering.max.messages", "500000");
    set(conf, "queue.buffering.max.kbytes", "131072");
    set(conf, "message.timeout.ms", "60000");
    apply_user_props(conf, o);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_opaque(conf, st);
    return conf;
}

// Sleeps until the absolute steady-clock time `t_ns` (CLOCK_MONOTONIC, as steady_clock).
void sleep_until_ns(int64_t t_ns) {
    timespec ts{static_cast<time_t>(t_ns / 1000000000), static_cast<long>(t_ns % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

// ---------------------------------------------------------------- produce

int run_produce(options o) {
    if (o.create) create_topic(o);
    delivery_stats st;
    rd_kafka_t* rk = make_client(RD_KAFKA_PRODUCER, producer_conf(o, &st, false));
    int parts = wait_for_topic(rk, o.topic, 0, 30);
    rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, o.topic.c_str(), nullptr);
    // Records are distinct slices of a 64 MiB pool (larger than any batch and than the
    // compressors' windows), so compression sees text-like data, not repeated records.
    const size_t pool_size = std::max<size_t>(64 << 20, 4 * o.size);
    std::vector<char> payload(pool_size);
    fill_payload(payload);
    const size_t slots = (pool_size - o.size) / std::max<size_t>(o.size, 1);

    const int64_t start = now_ns();
    const int64_t end = start + static_cast<int64_t>(o.duration * 1e9);
    const double interval = o.rate > 0 ? 1e9 / o.rate : 0;
    int64_t sent = 0;
    int64_t queue_full = 0;
    for (;; ++sent) {
        if (o.count > 0 ? sent >= o.count : (sent & 255) == 0 && now_ns() >= end) break;
        if (interval > 0) sleep_until_ns(start + static_cast<int64_t>(sent * interval));
        auto part = static_cast<int32_t>(sent % parts);
        // No copy: the payload buffer outlives every message (flushed below).
        char* value = payload.data() + (sent % slots) * o.size;
        while (rd_kafka_produce(rkt, part, 0, value, o.size, nullptr, 0, nullptr) == -1) {
            auto err = rd_kafka_last_error();
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                die(std::string("produce: ") + rd_kafka_err2str(err));
            ++queue_full;
            rd_kafka_poll(rk, 1);
        }
        if ((sent & 1023) == 0) rd_kafka_poll(rk, 0);
    }
    while (rd_kafka_outq_len(rk) > 0)
        rd_kafka_poll(rk, 50);
    const double secs = static_cast<double>(now_ns() - start) / 1e9;
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);

    double recs = static_cast<double>(st.ok.load());
    double mb = static_cast<double>(st.bytes.load()) / 1e6;
    std::printf(
        "{\"mode\":\"produce\",\"topic\":\"%s\",\"partitions\":%d,\"size\":%zu,\"acks\":\"%s\","
        "\"compression\":\"%s\",\"sent\":%" PRId64 ",\"delivered\":%" PRId64 ",\"failed\":%" PRId64
        ",\"seconds\":%.3f,\"records_per_s\":%.0f,\"mb_per_s\":%.2f,\"queue_full\":%" PRId64
        ",\"error\":\"%s\"}\n",
        o.topic.c_str(), parts, o.size, o.acks.c_str(), o.compression.c_str(), sent, st.ok.load(),
        st.failed.load(), secs, recs / secs, mb / secs, queue_full, st.first_error.c_str());
    std::fflush(stdout);
    return st.failed.load() == 0 && st.ok.load() == sent ? 0 : 1;
}

// ---------------------------------------------------------------- consume

// A legacy (no group) consumer reading every partition into one queue.
struct partition_reader {
    rd_kafka_t* rk = nullptr;
    rd_kafka_topic_t* rkt = nullptr;
    rd_kafka_queue_t* q = nullptr;
    int parts = 0;

    // start(p) gives partition p's start offset.
    template <class Start>
    void open(const options& o, bool eof, bool latency, Start start) {
        rd_kafka_conf_t* conf = rd_kafka_conf_new();
        set(conf, "bootstrap.servers", o.brokers);
        set(conf, "client.id", "rill-perf-consumer");
        set(conf, "enable.partition.eof", eof ? "true" : "false");
        set(conf, "fetch.wait.max.ms", latency ? "100" : "500");
        set(conf, "fetch.min.bytes", "1");
        set(conf, "fetch.message.max.bytes", "4194304");
        set(conf, "queued.max.messages.kbytes", "262144");
        set(conf, "queued.min.messages", "1000000");
        apply_user_props(conf, o);
        rk = make_client(RD_KAFKA_CONSUMER, conf);
        parts = wait_for_topic(rk, o.topic, 0, 30);
        rd_kafka_topic_conf_t* tconf = rd_kafka_topic_conf_new();
        char err[512];
        rd_kafka_topic_conf_set(tconf, "auto.offset.reset", "earliest", err, sizeof err);
        rkt = rd_kafka_topic_new(rk, o.topic.c_str(), tconf);
        q = rd_kafka_queue_new(rk);
        for (int p = 0; p < parts; ++p)
            if (rd_kafka_consume_start_queue(rkt, p, start(p), q) == -1)
                die(std::string("consume_start: ") + rd_kafka_err2str(rd_kafka_last_error()));
    }
    void close() {
        for (int p = 0; p < parts; ++p)
            rd_kafka_consume_stop(rkt, p);
        rd_kafka_queue_destroy(q);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
    }
};

// Hands every message now on the queue to f (waiting up to timeout_ms for the first): unlike
// rd_kafka_consume_batch_queue, which waits until its array is full or the timeout expires.
template <class F>
void serve(rd_kafka_queue_t* q, int timeout_ms, F& f) {
    rd_kafka_consume_callback_queue(
        q, timeout_ms, [](rd_kafka_message_t* m, void* op) { (*static_cast<F*>(op))(m); }, &f);
}

int run_consume(const options& o) {
    partition_reader r;
    r.open(o, true, false, [](int) { return RD_KAFKA_OFFSET_BEGINNING; });
    std::vector<bool> at_eof(r.parts, false);
    int eofs = 0;
    int64_t recs = 0, bytes = 0, errors = 0;
    const int64_t start = now_ns();
    int64_t last = start;
    const int64_t deadline = start + static_cast<int64_t>(o.duration * 1e9);
    auto on_message = [&](rd_kafka_message_t* m) {
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (!at_eof[m->partition]) {
                at_eof[m->partition] = true;
                ++eofs;
            }
        } else if (m->err) {
            ++errors;
        } else {
            if (at_eof[m->partition]) {
                at_eof[m->partition] = false;
                --eofs;
            }
            ++recs;
            bytes += static_cast<int64_t>(m->len);
        }
    };
    while (now_ns() < deadline && (o.count == 0 || recs < o.count) && eofs < r.parts) {
        int64_t before = recs;
        serve(r.q, 20, on_message);
        if (recs != before) last = now_ns();
    }
    r.close();
    double secs = static_cast<double>(last - start) / 1e9;
    if (secs <= 0) secs = 1e-9;
    std::printf("{\"mode\":\"consume\",\"topic\":\"%s\",\"partitions\":%d,\"records\":%" PRId64
                ",\"bytes\":%" PRId64 ",\"errors\":%" PRId64
                ",\"seconds\":%.3f,\"records_per_s\":%.0f,\"mb_per_s\":%.2f}\n",
                o.topic.c_str(), r.parts, recs, bytes, errors, secs,
                static_cast<double>(recs) / secs, static_cast<double>(bytes) / 1e6 / secs);
    std::fflush(stdout);
    return recs > 0 ? 0 : 1;
}

// ---------------------------------------------------------------- latency

int run_latency(options o) {
    if (o.rate <= 0) die("latency needs -r RATE");
    if (o.size < 16) o.size = 16;
    if (o.create) create_topic(o);
    delivery_stats st;
    rd_kafka_t* prk = make_client(RD_KAFKA_PRODUCER, producer_conf(o, &st, true));
    int parts = wait_for_topic(prk, o.topic, 0, 30);
    // Start every partition at its current end, looked up synchronously, so no record is missed.
    std::vector<int64_t> high(parts, 0);
    for (int p = 0; p < parts; ++p) {
        int64_t lo = 0, hi = 0;
        auto err = rd_kafka_query_watermark_offsets(prk, o.topic.c_str(), p, &lo, &hi, 10000);
        if (err) die(std::string("watermarks: ") + rd_kafka_err2str(err));
        high[p] = hi;
    }
    partition_reader r;
    r.open(o, false, true, [&](int p) { return high[p]; });

    const int64_t interval = static_cast<int64_t>(1e9 / o.rate);
    const int64_t t0 = now_ns() + 200'000'000;  // let the consumer's first fetches go out
    const int64_t warm_end = t0 + static_cast<int64_t>(o.warmup * 1e9);
    const int64_t total = static_cast<int64_t>((o.warmup + o.duration) * o.rate);
    const int64_t measured_first = static_cast<int64_t>(o.warmup * o.rate);

    histogram h;
    std::atomic<bool> producer_done{false};
    std::atomic<int64_t> sent{0};
    int64_t received = 0, received_measured = 0;
    std::atomic<int64_t> late_stop{0};

    std::thread consumer([&] {
        auto on_message = [&](rd_kafka_message_t* m) {
            if (m->err || m->len < 16) return;
            int64_t now = now_ns();
            int64_t intended;
            std::memcpy(&intended, m->payload, 8);
            ++received;
            if (intended >= warm_end) {
                h.record(now - intended);
                ++received_measured;
            }
        };
        for (;;) {
            serve(r.q, 50, on_message);
            int64_t now = now_ns();
            if (producer_done.load()) {
                if (received >= sent.load()) break;
                if (now > late_stop.load()) break;
            }
        }
    });

    std::vector<char> payload(o.size);
    fill_payload(payload);
    for (int64_t i = 0; i < total; ++i) {
        int64_t intended = t0 + i * interval;
        sleep_until_ns(intended);
        std::memcpy(payload.data(), &intended, 8);
        std::memcpy(payload.data() + 8, &i, 8);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(prk, RD_KAFKA_V_TOPIC(o.topic.c_str()),
                                        RD_KAFKA_V_PARTITION(static_cast<int32_t>(i % parts)),
                                        RD_KAFKA_V_VALUE(payload.data(), payload.size()),
                                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                        RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(prk, 1);
        if (err) die(std::string("produce: ") + rd_kafka_err2str(err));
        sent.store(i + 1);
        rd_kafka_poll(prk, 0);
    }
    rd_kafka_flush(prk, 30000);
    late_stop.store(now_ns() + 10'000'000'000);
    producer_done.store(true);
    consumer.join();
    r.close();
    rd_kafka_destroy(prk);

    auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
    int64_t measured = total - measured_first;
    std::printf(
        "{\"mode\":\"latency\",\"topic\":\"%s\",\"partitions\":%d,\"size\":%zu,\"acks\":\"%s\","
        "\"rate\":%.0f,\"sent\":%" PRId64 ",\"delivered\":%" PRId64 ",\"received\":%" PRId64
        ",\"measured\":%" PRIu64 ",\"missing\":%" PRId64
        ",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
        "\"mean_us\":%.1f}\n",
        o.topic.c_str(), parts, o.size, o.acks.c_str(), o.rate, total, st.ok.load(), received,
        h.count(), measured - received_measured, us(h.percentile(0.50)), us(h.percentile(0.90)),
        us(h.percentile(0.99)), us(h.percentile(0.999)), us(h.max()), h.mean() / 1e3);
    std::fflush(stdout);
    return h.count() > 0 && received_measured == measured ? 0 : 1;
}

// ---------------------------------------------------------------- conns

// K raw TCP connections, each with one ApiVersions v0 request in flight at a time: shows how
// the broker's per-request cost and memory grow with the number of connections.
int run_conns(const options& o) {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    std::string host = o.brokers.substr(0, o.brokers.find(','));
    auto colon = host.rfind(':');
    if (colon == std::string::npos) die("broker must be HOST:PORT");
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(std::stoi(host.substr(colon + 1))));
    std::string ip = host.substr(0, colon);
    if (ip == "localhost") ip = "127.0.0.1";
    if (inet_pton(AF_INET, ip.c_str(), &sa.sin_addr) != 1) die("bad address " + ip);

    // size, api_key 18, version 0, correlation id, client id "rill-perf"
    static const char client_id[] = "rill-perf";
    const int16_t cid_len = sizeof client_id - 1;
    std::vector<unsigned char> req(4 + 2 + 2 + 4 + 2 + cid_len);
    auto put16 = [&](size_t at, uint16_t v) {
        uint16_t be = htons(v);
        std::memcpy(&req[at], &be, 2);
    };
    auto put32 = [&](size_t at, uint32_t v) {
        uint32_t be = htonl(v);
        std::memcpy(&req[at], &be, 4);
    };
    put32(0, static_cast<uint32_t>(req.size() - 4));
    put16(4, 18);
    put16(6, 0);
    put32(8, 0);
    put16(12, static_cast<uint16_t>(cid_len));
    std::memcpy(&req[14], client_id, cid_len);

    struct conn {
        int fd = -1;
        int64_t sent_at = 0;
        uint32_t want = 0;  // body bytes still expected (after the size)
        unsigned char hdr[4];
        int hdr_have = 0;
        bool reading_body = false;
    };
    std::vector<conn> conns(o.connections);
    int ep = epoll_create1(0);
    const int64_t connect_start = now_ns();
    for (int i = 0; i < o.connections; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
        if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
            die(std::string("connect: ") + std::strerror(errno));
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        conns[i].fd = fd;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<uint32_t>(i);
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    const double connect_s = static_cast<double>(now_ns() - connect_start) / 1e9;

    histogram h;
    int64_t done = 0, errors = 0;
    auto send_req = [&](conn& c) {
        c.sent_at = now_ns();
        c.hdr_have = 0;
        c.reading_body = false;
        if (write(c.fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) ++errors;
    };
    const int64_t start = now_ns();
    const int64_t end = start + static_cast<int64_t>(o.duration * 1e9);
    const int64_t warm_end = start + static_cast<int64_t>(std::min(o.warmup, o.duration / 2) * 1e9);
    for (auto& c : conns)
        send_req(c);
    std::vector<epoll_event> evs(1024);
    std::vector<unsigned char> sink(65536);
    int64_t measured_done = 0;
    while (now_ns() < end) {
        int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
        for (int k = 0; k < n; ++k) {
            conn& c = conns[evs[k].data.u32];
            for (;;) {
                if (!c.reading_body) {
                    ssize_t r = read(c.fd, c.hdr + c.hdr_have, 4 - c.hdr_have);
                    if (r <= 0) {
                        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                            die("connection closed by the broker");
                        break;
                    }
                    c.hdr_have += static_cast<int>(r);
                    if (c.hdr_have < 4) continue;
                    uint32_t be;
                    std::memcpy(&be, c.hdr, 4);
                    c.want = ntohl(be);
                    c.reading_body = true;
                }
                while (c.want > 0) {
                    ssize_t r = read(c.fd, sink.data(), std::min<size_t>(sink.size(), c.want));
                    if (r <= 0) {
                        if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
                            die("connection closed by the broker");
                        break;
                    }
                    c.want -= static_cast<uint32_t>(r);
                }
                if (c.want > 0) break;
                int64_t now = now_ns();
                ++done;
                if (c.sent_at >= warm_end) {
                    h.record(now - c.sent_at);
                    ++measured_done;
                }
                send_req(c);
                break;
            }
        }
    }
    const double secs = static_cast<double>(now_ns() - warm_end) / 1e9;
    for (auto& c : conns)
        ::close(c.fd);
    ::close(ep);
    auto us = [](uint64_t ns) { return static_cast<double>(ns) / 1e3; };
    std::printf("{\"mode\":\"conns\",\"connections\":%d,\"connect_s\":%.3f,\"requests\":%" PRId64
                ",\"errors\":%" PRId64
                ",\"requests_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,"
                "\"max_us\":%.1f}\n",
                o.connections, connect_s, done, errors, static_cast<double>(measured_done) / secs,
                us(h.percentile(0.5)), us(h.percentile(0.99)), us(h.percentile(0.999)),
                us(h.max()));
    std::fflush(stdout);
    return done > 0 && errors == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    options o = parse(argc, argv);
    if (o.mode == "create") {
        create_topic(o);
        std::printf("{\"mode\":\"create\",\"topic\":\"%s\",\"partitions\":%d}\n", o.topic.c_str(),
                    o.partitions);
        return 0;
    }
    if (o.mode == "produce") return run_produce(o);
    if (o.mode == "consume") return run_consume(o);
    if (o.mode == "latency") return run_latency(o);
    if (o.mode == "conns") return run_conns(o);
    usage();
}
