"""The request memory budget (queued.max.request.bytes) under big, stalled, disconnecting and
hostile requests, on the real binary over raw sockets.

- BudgetWedgeTest: 16 connections announce 100 MB requests, stream 60 MB each and disconnect
  (issue #13, item 1: this left the broker answering nothing for over a minute). Afterwards a
  new connection is answered within a second and the budget is back to zero.
- BudgetContentionTest: while big requests hold or wait for the budget, small requests and new
  connections are served; a waiting connection that disconnects stops waiting at once.
- OverloadTest: slow, huge, half-open, silent and garbage connections against one broker while
  an idempotent producer and a consumer group keep working; afterwards every acknowledged record
  was consumed exactly once in order, the budget is back to zero and RSS is near its start.
  RILL_DEEP=1 runs the attack for longer (the lead's deep mode)."""

import os
import random
import socket
import struct
import threading
import time
import unittest

import net_util as nu
from rill_harness import BrokerTestCase

MiB = 1024 * 1024
DEEP = os.environ.get("RILL_DEEP") == "1"


def produce_header(correlation_id=1):
    """The start of a Produce v3 request body: api key, version, correlation id, null client id."""
    return struct.pack(">hhih", 0, 3, correlation_id, -1)


def stream(sock, total, deadline, chunk=MiB):
    """Sends up to `total` zero bytes until `deadline`; returns what was sent."""
    buf = memoryview(bytes(chunk))
    sent = 0
    sock.settimeout(0.2)
    while sent < total and time.monotonic() < deadline:
        try:
            sent += sock.send(buf[: min(chunk, total - sent)])
        except socket.timeout:
            continue
        except OSError:
            break
    return sent


class BudgetWedgeTest(BrokerTestCase):
    """Defaults: socket.request.max.bytes = 100 MiB, a 512 MiB budget."""

    def test_disconnected_big_requests_release_the_budget(self):
        admin = self.broker.admin_url
        rss_start = nu.rss_mb(self.broker.proc.pid)
        socks = [nu.connect(self.broker.port) for _ in range(16)]
        for s in socks:
            s.sendall(struct.pack(">i", 100 * MiB) + produce_header())
        deadline = time.monotonic() + 5.0
        sent = [0] * len(socks)

        def run(i):
            sent[i] = stream(socks[i], 60 * MiB, deadline)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(socks))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = nu.metrics(admin)
        for s in socks:
            s.close()
        # A new connection is answered at once, although it arrives right after the storm.
        latency = nu.api_versions_latency(self.broker.port, timeout=1.0)
        self.assertLess(latency, 1.0)
        # Five requests got their 100 MiB reserved and were read in full; the rest waited.
        self.assertGreaterEqual(sorted(sent)[-5], 60 * MiB, f"sent: {sent}")
        self.assertEqual(peak.get(nu.BUDGET_USED), 500 * MiB)
        self.assertEqual(peak.get(nu.BUDGET_WAITING), 11)
        used = nu.wait_metric(admin, nu.BUDGET_USED, lambda v: v == 0, timeout=2)
        self.assertEqual(used, 0, "budget not released after the clients left")
        self.assertEqual(nu.wait_metric(admin, nu.BUDGET_WAITING, lambda v: v == 0, timeout=2), 0)
        self.assertEqual(nu.wait_metric(admin, nu.CONNECTIONS, lambda v: v == 0, timeout=2), 0)
        rss_end = nu.rss_mb(self.broker.proc.pid)
        # The bodies (100 MiB each) are mmap'd allocations: freeing them unmaps them.
        self.assertLess(rss_end, rss_start + 64, f"RSS {rss_start:.0f} -> {rss_end:.0f} MB")


class BudgetContentionTest(BrokerTestCase):
    """A 64 MiB budget and 40 MiB requests: one fits at a time."""

    overrides = {"queued.max.request.bytes": str(64 * MiB),
                 "socket.request.max.bytes": str(40 * MiB)}

    def hold_big(self, streamed):
        """A connection that announces a 40 MiB request and streams `streamed` bytes of it."""
        s = nu.connect(self.broker.port)
        s.sendall(struct.pack(">i", 40 * MiB) + produce_header())
        stream(s, streamed, time.monotonic() + 3.0)
        return s

    def test_small_requests_served_while_big_ones_wait(self):
        admin = self.broker.admin_url
        # Big requests streamed as fast as the broker reads them, never completed: one gets
        # the budget, two wait (with reservations growing as bytes arrive, the three could fill
        # the budget with partial requests and stall each other and everything behind them).
        holders = []
        senders = []
        for _ in range(3):
            s = nu.connect(self.broker.port)
            s.sendall(struct.pack(">i", 40 * MiB) + produce_header())
            holders.append(s)
            t = threading.Thread(target=stream, args=(s, 39 * MiB, time.monotonic() + 4.0))
            t.start()
            senders.append(t)
        time.sleep(1.5)  # the streams fill what the broker lets them
        # Small requests on new and existing connections are served meanwhile.
        for _ in range(20):
            self.assertLess(nu.api_versions_latency(self.broker.port, timeout=2.0), 1.0)
        with nu.connect(self.broker.port, timeout=2.0) as s:
            for i in range(20):
                self.assertEqual(nu.api_versions_on(s, correlation_id=i + 1), 0)
        waiting = nu.wait_metric(admin, nu.BUDGET_WAITING, lambda v: v >= 2, timeout=5)
        self.assertEqual(waiting, 2)
        self.assertEqual(nu.metrics(admin)[nu.BUDGET_USED], 40 * MiB)
        from confluent_kafka import Producer
        p = Producer({"bootstrap.servers": self.broker.bootstrap, "acks": "all"})
        acked = []
        for i in range(50):
            p.produce("contention", value=b"v%d" % i,
                      on_delivery=lambda e, m: acked.append(e is None))
        self.assertEqual(p.flush(15), 0)
        self.assertEqual(acked, [True] * 50)
        for t in senders:
            t.join()
        for s in holders:
            s.close()
        self.assertEqual(nu.wait_metric(admin, nu.BUDGET_USED, lambda v: v == 0, timeout=3), 0)
        self.assertEqual(nu.metrics(admin)[nu.BUDGET_WAITING], 0)

    def test_waiting_connection_that_disconnects_stops_waiting(self):
        admin = self.broker.admin_url
        a = self.hold_big(MiB)
        self.assertEqual(nu.wait_metric(admin, nu.BUDGET_USED, lambda v: v == 40 * MiB, timeout=5),
                         40 * MiB)
        # The waiter has unread bytes in the broker's socket buffer when it closes: only an
        # event on the socket itself (a FIN behind pending data) tells the broker. (They fit in
        # the receive window: a FIN queued behind bytes the window cannot take never arrives,
        # see test_waiter_whose_fin_cannot_arrive_is_reclaimed.)
        c = self.hold_big(16 * 1024)
        self.assertEqual(nu.wait_metric(admin, nu.BUDGET_WAITING, lambda v: v == 1, timeout=5), 1)
        c.close()
        self.assertEqual(nu.wait_metric(admin, nu.BUDGET_WAITING, lambda v: v == 0, timeout=1), 0)
        # A reset (SO_LINGER 0) is noticed as well.
        d = self.hold_big(16 * 1024)
        self.assertEqual(nu.wait_metric(admin, nu.BUDGET_WAITING, lambda v: v == 1, timeout=5), 1)
        d.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        d.close()
        self.assertEqual(nu.wait_metric(admin, nu.BUDGET_WAITING, lambda v: v == 0, timeout=1), 0)
        self.assertEqual(nu.metrics(admin)[nu.BUDGET_USED], 40 * MiB)
        a.close()
        self.assertEqual(nu.wait_metric(admin, nu.BUDGET_USED, lambda v: v == 0, timeout=1), 0)
        self.assertEqual(nu.wait_metric(admin, nu.CONNECTIONS, lambda v: v == 0, timeout=2), 0)


class BudgetIdleTest(BrokerTestCase):
    """A waiting connection whose FIN cannot arrive is reclaimed by connections.max.idle.ms."""

    overrides = {"queued.max.request.bytes": str(64 * MiB),
                 "socket.request.max.bytes": str(40 * MiB),
                 "connections.max.idle.ms": "2000"}

    def test_waiter_whose_fin_cannot_arrive_is_reclaimed(self):
        admin = self.broker.admin_url
        holder = nu.connect(self.broker.port)
        holder.sendall(struct.pack(">i", 40 * MiB) + produce_header())
        stop = threading.Event()

        def dribble():  # a slow but live sender: never idle, keeps its reservation
            while not stop.is_set():
                holder.send(b"\0")
                stop.wait(0.2)

        t = threading.Thread(target=dribble)
        t.start()
        try:
            self.assertEqual(nu.wait_metric(admin, nu.BUDGET_USED, lambda v: v == 40 * MiB,
                                            timeout=5), 40 * MiB)
            # More than the broker's receive window: the client kernel keeps the rest (and
            # the FIN behind it) until the broker reads, so the broker cannot see it leave.
            w = nu.connect(self.broker.port)
            w.sendall(struct.pack(">i", 40 * MiB) + produce_header())
            stream(w, 8 * MiB, time.monotonic() + 1.0)
            self.assertEqual(nu.wait_metric(admin, nu.BUDGET_WAITING, lambda v: v == 1,
                                            timeout=5), 1)
            idle_before = nu.metrics(admin)["kafka_network_socketserver_expiredconnectionskilledcount"]
            w.close()
            # It holds no budget meanwhile, and the idle timeout (waiting is idle) ends it.
            self.assertEqual(nu.metrics(admin)[nu.BUDGET_USED], 40 * MiB)
            self.assertEqual(nu.wait_metric(admin, nu.BUDGET_WAITING, lambda v: v == 0,
                                            timeout=4), 0)
            self.assertEqual(
                nu.metrics(admin)["kafka_network_socketserver_expiredconnectionskilledcount"],
                idle_before + 1)
            # The slow holder was never idle: it still holds its reservation.
            self.assertEqual(nu.metrics(admin)[nu.BUDGET_USED], 40 * MiB)
        finally:
            stop.set()
            t.join()
            holder.close()
        self.assertEqual(nu.wait_metric(admin, nu.BUDGET_USED, lambda v: v == 0, timeout=2), 0)

class Attack:
    """Hostile connection patterns, each in its own thread until stop() is called."""

    def __init__(self, port, request_max, seconds):
        self.port = port
        self.request_max = request_max
        self.stop_flag = threading.Event()
        self.threads = []
        self.open = set()
        self.lock = threading.Lock()
        self.counts = {}
        self.seconds = seconds

    def _count(self, kind):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1

    def _connect(self):
        s = nu.connect(self.port, timeout=5.0)
        with self.lock:
            self.open.add(s)
        return s

    def _close(self, s):
        with self.lock:
            self.open.discard(s)
        try:
            s.close()
        except OSError:
            pass

    def _loop(self, kind, fn):
        def run():
            rng = random.Random(hash(kind) ^ id(threading.current_thread()))
            while not self.stop_flag.is_set():
                s = None
                try:
                    s = self._connect()
                    fn(s, rng)
                    self._count(kind)
                except OSError:
                    self._count(kind + "_refused")
                    time.sleep(0.05)
                finally:
                    if s is not None:
                        self._close(s)

        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)

    def sleep(self, secs):
        self.stop_flag.wait(secs)

    # ---- the patterns ----
    def slow_small(self, s, rng):
        """A valid ApiVersions sent one byte at a time, then its answer read."""
        for b in nu.api_versions_v0(7):
            if self.stop_flag.is_set():
                return
            s.send(bytes([b]))
            self.sleep(0.02)
        s.settimeout(10)
        nu.read_response(s)

    def slow_huge(self, s, rng):
        """A 12 MiB request announced, then dribbled a byte every 100 ms for the whole run: it
        holds its reservation all along (the broker cannot tell it from a slow link)."""
        s.sendall(struct.pack(">i", 12 * MiB) + produce_header())
        while not self.stop_flag.is_set():
            s.send(b"\0")
            self.sleep(0.1)

    def huge_disconnect(self, s, rng):
        """The wedge pattern: the largest request announced, half streamed, then gone."""
        s.sendall(struct.pack(">i", self.request_max) + produce_header())
        stream(s, self.request_max // 2, time.monotonic() + 3.0)

    def huge_garbage(self, s, rng):
        """An 8 MiB frame sent in full, with a nonsense header: read, refused, closed."""
        s.sendall(struct.pack(">i", 8 * MiB) + struct.pack(">hhi", 0, 99, 1))
        stream(s, 8 * MiB - 8, time.monotonic() + 5.0)
        nu.is_closed_by_peer(s, 5.0)

    def oversize(self, s, rng):
        """Larger than socket.request.max.bytes: closed at once."""
        s.sendall(struct.pack(">i", self.request_max + 1 + rng.randint(0, 1 << 20)))
        nu.is_closed_by_peer(s, 5.0)

    def half_open(self, s, rng):
        """Part of a frame, then the write side shut: the request can never complete."""
        s.sendall(struct.pack(">i", 1000) + produce_header() + b"x" * 10)
        s.shutdown(socket.SHUT_WR)
        nu.is_closed_by_peer(s, 5.0)

    def garbage(self, s, rng):
        """Random bytes."""
        s.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3000))))
        nu.is_closed_by_peer(s, 1.0)

    def silent(self, s, rng):
        """Connects and says nothing: closed by connections.max.idle.ms."""
        nu.is_closed_by_peer(s, 30.0)

    def start(self, scale):
        for _ in range(10 * scale):
            self._loop("slow_small", self.slow_small)
        for _ in range(2):
            self._loop("slow_huge", self.slow_huge)
        for _ in range(2 * scale):
            self._loop("huge_disconnect", self.huge_disconnect)
        self._loop("huge_garbage", self.huge_garbage)
        self._loop("oversize", self.oversize)
        for _ in range(2 * scale):
            self._loop("half_open", self.half_open)
        for _ in range(2 * scale):
            self._loop("garbage", self.garbage)
        for _ in range(20 * scale):
            self._loop("silent", self.silent)

    def stop(self):
        self.stop_flag.set()
        with self.lock:
            socks = list(self.open)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(15)


class OverloadTest(BrokerTestCase):
    REQUEST_MAX = 16 * MiB
    BUDGET = 64 * MiB
    overrides = {"queued.max.request.bytes": str(BUDGET),
                 "socket.request.max.bytes": str(REQUEST_MAX),
                 "connections.max.idle.ms": "4000", "num.shards": "2"}

    def test_good_clients_keep_working_under_attack(self):
        from confluent_kafka import Consumer, Producer, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic

        topic, partitions = "overload", 3
        admin_client = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        for f in admin_client.create_topics([NewTopic(topic, partitions, 1)]).values():
            f.result(30)
        admin = self.broker.admin_url
        attack_seconds = 120 if DEEP else 15

        acked = {p: [] for p in range(partitions)}   # partition -> [(offset, seq)]
        ack_times = []
        produce_errors = []
        consumed = {p: [] for p in range(partitions)}  # partition -> [(offset, seq)]
        consume_times = []
        assignments = []
        stop = threading.Event()

        def on_delivery(err, msg):
            if err is not None:
                produce_errors.append(str(err))
                return
            acked[msg.partition()].append((msg.offset(), int(msg.value()[:12])))
            ack_times.append(time.monotonic())

        def producer():
            p = Producer({"bootstrap.servers": self.broker.bootstrap,
                          "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                          "message.timeout.ms": 120000})
            seq = 0
            pad = b"." * 500
            while not stop.is_set():
                try:
                    p.produce(topic, partition=seq % partitions, value=b"%012d" % seq + pad,
                              on_delivery=on_delivery)
                    seq += 1
                except BufferError:
                    p.poll(0.05)
                p.poll(0)
                if seq % 200 == 0:
                    time.sleep(0.05)
            if p.flush(60) != 0:
                produce_errors.append("records still in flight after 60 s")

        def member(name):
            c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": "overload-g",
                          "client.id": name, "auto.offset.reset": "earliest",
                          "enable.auto.commit": True, "auto.commit.interval.ms": 500,
                          "session.timeout.ms": 10000, "heartbeat.interval.ms": 500})
            c.subscribe([topic], on_assign=lambda _c, ps: assignments.append(
                (name, sorted(x.partition for x in ps))))
            while not stop.is_set() or time.monotonic() < drain_until[0]:
                m = c.poll(0.1)
                if m is None or m.error():
                    continue
                consumed[m.partition()].append((m.offset(), int(m.value()[:12])))
                consume_times.append(time.monotonic())
            c.close()

        drain_until = [float("inf")]
        workers = [threading.Thread(target=producer)] + [
            threading.Thread(target=member, args=(f"m{i}",)) for i in range(2)]
        for w in workers:
            w.start()
        # Warm up: both members assigned and records flowing before the attack starts.
        deadline = time.monotonic() + 30
        while (len({a[0] for a in assignments}) < 2 or len(consume_times) < 100) and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertGreaterEqual(len(consume_times), 100, "good clients did not start")
        rss_start = nu.rss_mb(self.broker.proc.pid)
        attack = Attack(self.broker.port, self.REQUEST_MAX, attack_seconds)
        attack_start = time.monotonic()
        attack.start(scale=3 if DEEP else 1)
        peak_rss = rss_start
        peak_used = 0
        peak_waiting = 0
        while time.monotonic() - attack_start < attack_seconds:
            time.sleep(0.5)
            peak_rss = max(peak_rss, nu.rss_mb(self.broker.proc.pid))
            m = nu.metrics(admin)
            peak_used = max(peak_used, m.get(nu.BUDGET_USED, 0))
            peak_waiting = max(peak_waiting, m.get(nu.BUDGET_WAITING, 0))
            self.assertLessEqual(m.get(nu.BUDGET_USED, 0), self.BUDGET)
        attack_end = time.monotonic()
        attack.stop()
        # The good clients finish: the producer flushes, consumers read to the end.
        drain_until[0] = time.monotonic() + 20
        stop.set()
        workers[0].join(90)
        total_acked = sum(len(v) for v in acked.values())
        deadline = time.monotonic() + 20
        while sum(len(v) for v in consumed.values()) < total_acked and \
                time.monotonic() < deadline:
            time.sleep(0.1)
        drain_until[0] = 0
        for w in workers[1:]:
            w.join(30)

        print(f"\nattack {attack_seconds}s: {dict(sorted(attack.counts.items()))}; "
              f"acked {total_acked}, consumed {sum(len(v) for v in consumed.values())}; "
              f"budget peak {peak_used / MiB:.0f} MiB, waiting peak {peak_waiting:.0f}; "
              f"RSS start {rss_start:.0f} MB, peak {peak_rss:.0f} MB")
        self.assertEqual(produce_errors, [])
        # Nothing stopped: acknowledgements and consumption never paused for 5 s in the attack.
        for name, times in (("acks", ack_times), ("consumption", consume_times)):
            during = [attack_start] + [t for t in times if attack_start <= t <= attack_end] + \
                [attack_end]
            gap = max(b - a for a, b in zip(during, during[1:]))
            self.assertLess(gap, 5.0, f"{name} paused for {gap:.1f} s during the attack")
        # Every acknowledged record is in the log once, in order; the group read each once.
        for p in range(partitions):
            seqs = [s for _, s in acked[p]]
            self.assertEqual(seqs, sorted(seqs), f"partition {p}: acks out of order")
            self.assertEqual([o for o, _ in acked[p]], list(range(len(acked[p]))),
                             f"partition {p}: acked offsets have gaps or repeats")
            self.assertEqual(consumed[p], acked[p], f"partition {p}: consumed != acknowledged")
        self.assertGreater(attack.counts.get("huge_disconnect", 0), 0)
        self.assertGreater(attack.counts.get("silent", 0), 0, "idle connections not closed")
        # Afterwards: nothing held, nothing waiting, and the memory is back.
        self.assertEqual(nu.wait_metric(admin, nu.BUDGET_USED, lambda v: v == 0, timeout=5), 0)
        self.assertEqual(nu.metrics(admin)[nu.BUDGET_WAITING], 0)
        self.assertEqual(nu.wait_metric(admin, nu.CONNECTIONS, lambda v: v == 0, timeout=10), 0)
        # After a quiet second the freed request memory goes back to the OS (heap_trimmer.h).
        nu.wait_metric(admin, "rill_request_memory_trims_total", lambda v: v >= 1, timeout=10)
        time.sleep(0.2)
        rss_end = nu.rss_mb(self.broker.proc.pid)
        print(f"RSS end {rss_end:.0f} MB")
        # Freed bodies in the malloc bins go back to the OS; glibc keeps the top chunk of each
        # shard's arena below M_TRIM_THRESHOLD (256 MiB, apps/rill.cc): the request memory
        # those arenas reached, which the budget bounds (measured: +40..64 MiB). The slack is
        # for the good clients' state (group, producer ids, segment indexes).
        self.assertLess(rss_end, rss_start + self.BUDGET / MiB + 32,
                        f"RSS {rss_start:.0f} -> {rss_end:.0f} MB")
        self.assertLess(nu.api_versions_latency(self.broker.port, timeout=1.0), 1.0)


if __name__ == "__main__":
    unittest.main()
