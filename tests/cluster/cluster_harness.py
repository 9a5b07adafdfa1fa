"""Harness for the cluster tests (issue 7): a real ZooKeeper server and N rill brokers in cluster
mode on loopback, each with its own data directory that survives kill -9 and restarts.

    cluster = Cluster("replication", brokers=3, overrides={"min.insync.replicas": 2}).start()
    cluster.kill(1); cluster.start_broker(1); cluster.wait_for_leader("t", 0, exclude={1})
    cluster.stop()

Observations come from two sides: ZooKeeper (the znodes the controller writes, read with the
small client in zkclient.py) and the Kafka protocol (Metadata asked of one chosen broker, with
kafka_wire.py). Everything that waits uses wait_until with a generous timeout; nothing sleeps a
fixed time.

Environment: RILL_BIN (the broker binary; ctest sets it), RILL_CLUSTER_KEEP=1 keeps the temporary
directory (ZooKeeper and broker data and logs) after the run for inspection."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))

import rill_harness  # noqa: E402  (tests/compat: the single-broker process wrapper)
from kafka_wire import KafkaConnection  # noqa: E402
from zkclient import ZkClient  # noqa: E402

free_port = rill_harness.free_port

ZK_CLASSPATH = os.environ.get(
    "RILL_ZK_CLASSPATH",
    # Debian's zookeeper.jar lists its dependencies in its manifest; slf4j-simple logs to stderr.
    "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar")

# Timeouts (seconds). Generous: CI runs three brokers, ZooKeeper and the clients on 2 cores.
START_TIMEOUT = 60
ELECTION_TIMEOUT = 60
ISR_TIMEOUT = 90
SESSION_TIMEOUT_MS = 6000

# Overrides every broker of every cluster test gets (tests add/replace their own).
BASE_OVERRIDES = {
    "num.shards": 2,
    "default.replication.factor": 3,
    "min.insync.replicas": 2,
    "offsets.topic.replication.factor": 3,
    "offsets.topic.num.partitions": 6,
    "transaction.state.log.replication.factor": 3,
    "transaction.state.log.min.isr": 2,
    "replica.lag.time.max.ms": 5000,
    "zookeeper.session.timeout.ms": SESSION_TIMEOUT_MS,
    "controlled.shutdown.enable": "true",
    # Tests decide where leaders are; a rebalance moving them back would race with the test.
    "auto.leader.rebalance.enable": "false",
    "unclean.leader.election.enable": "false",
    "auto.create.topics.enable": "false",
}


class Abort(Exception):
    """Raised inside a wait_until predicate to stop waiting at once (e.g. a process crashed)."""


def wait_until(pred, timeout, what, interval=0.1):
    """Polls pred() until it returns something truthy and returns that. Exceptions raised by pred
    count as "not yet" (a broker or ZooKeeper may be down at that moment; the last one is
    reported on timeout), except Abort, which ends the wait."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = pred()
            if v:
                return v
            last = v
        except Abort:
            raise
        except Exception as e:  # noqa: BLE001 - reported below
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def log(msg):
    """Progress lines on stderr (ctest --output-on-failure / -V shows them)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def tail_file(path, n):
    try:
        with open(path, "rb") as f:
            return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
    except OSError:
        return "(no log)"


# ---- ZooKeeper ----------------------------------------------------------------------------------

class ZooKeeper:
    """A standalone ZooKeeper server (Debian's zookeeper package) on a free loopback port. stop()
    and start() again keep the port and the data directory (snapshots and transaction log)."""

    def __init__(self, root):
        self.dir = os.path.join(root, "zookeeper")
        self.data_dir = os.path.join(self.dir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "zookeeper.log")
        self.cfg_path = os.path.join(self.dir, "zoo.cfg")
        with open(self.cfg_path, "w") as f:
            f.write("\n".join([
                "tickTime=500",  # session expiry is checked per tick
                f"dataDir={self.data_dir}",
                f"clientPort={self.port}",
                "clientPortAddress=127.0.0.1",
                "maxClientCnxns=0",
                "admin.enableServer=false",
                "4lw.commands.whitelist=*",
                "minSessionTimeout=1000",
                "maxSessionTimeout=60000",
                "forceSync=no",  # tests do not need ZooKeeper's own fsync; keeps CI disks calm
                ""]))
        self.proc = None
        self.logf = None

    @property
    def connect(self):
        return f"127.0.0.1:{self.port}"

    def four_letter(self, word, timeout=2.0):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(word.encode())
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out.decode(errors="replace")
                out += chunk

    def start(self, timeout=START_TIMEOUT):
        self.logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["java", "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", ZK_CLASSPATH,
             "org.apache.zookeeper.server.ZooKeeperServerMain", self.cfg_path],
            stdout=self.logf, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise Abort(f"ZooKeeper exited with {self.proc.returncode}:\n{self.tail()}")
            if self.four_letter("ruok") != "imok":
                return False
            # ruok answers before the server serves sessions: open (and close) one.
            with self.client():
                return True
        try:
            wait_until(ready, timeout, "ZooKeeper to answer ruok", interval=0.2)
        except (AssertionError, Abort):
            self.stop(signal.SIGKILL)
            raise
        return self

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.logf.close()

    def kill9(self):
        self.stop(signal.SIGKILL)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self):
        return ZkClient("127.0.0.1", self.port)

    def tail(self, n=30):
        """The last n log lines, without stack frames and the noise of short client sessions."""
        lines = [ln for ln in tail_file(self.log_path, 20 * n).splitlines()
                 if not ln.startswith("\tat ") and not any(
                     noise in ln for noise in ("EndOfStreamException", "Unexpected exception",
                                               "Close of session 0x0", "not running",
                                               "Processing ruok"))]
        return "\n".join(lines[-n:])


# ---- brokers ------------------------------------------------------------------------------------

def all_threads_stopped(pid):
    """True when every thread of `pid` is in the stopped state ('T' in /proc/<pid>/task/*/stat)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        states = []
        for t in tasks:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                # pid (comm) state ...: comm may hold spaces or parentheses; the state follows
                # the last ')'.
                states.append(f.read().rsplit(")", 1)[1].split()[0])
    except FileNotFoundError:  # a thread exited meanwhile: look again
        return False
    return bool(states) and all(s == "T" for s in states)


class ClusterBroker(rill_harness.Broker):
    """rill_harness.Broker with a fixed id, a data directory that outlives the process, and
    SIGSTOP/SIGCONT (a paused broker misses its ZooKeeper heartbeats: session expiry)."""

    def __init__(self, broker_id, data_dir, overrides):
        os.makedirs(data_dir, exist_ok=True)
        super().__init__(data_dir=data_dir, overrides=overrides)
        self.id = broker_id
        self.paused = False
        self.log_dir = os.path.join(data_dir, "data")  # rill_harness passes log.dirs=<dir>/data

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def pause(self, timeout=30):
        """SIGSTOP, then waits until every thread of the process is stopped. kill() returns
        once the signal is queued: the thread that takes it starts the group stop only when it
        next runs, and on a loaded machine the others keep running (fetching, appending,
        answering) meanwhile; a test that acts right after kill() would race a broker that is
        not paused yet."""
        self.proc.send_signal(signal.SIGSTOP)
        self.paused = True
        deadline = time.time() + timeout
        while not all_threads_stopped(self.proc.pid):
            if self.proc.poll() is not None:
                raise Abort(f"broker {self.id} exited while being paused: {self.tail()}")
            if time.time() > deadline:
                raise Abort(f"broker {self.id} not stopped {timeout} s after SIGSTOP")
            time.sleep(0.001)

    def resume(self):
        if self.proc and self.paused:
            self.proc.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.paused and sig != signal.SIGKILL:
            self.resume()
        self.paused = False
        return super().stop(sig, timeout)

    def partition_dir(self, topic, partition):
        return os.path.join(self.log_dir, f"{topic}-{partition}")


class Cluster:
    """ZooKeeper plus brokers 1..n (ids are 1-based, like config/cluster/broker<i>.properties)."""

    def __init__(self, name, brokers=3, overrides=None, broker_overrides=None):
        self.name = name
        self.root = tempfile.mkdtemp(prefix=f"rill-cluster-{name}-")
        self.zk = ZooKeeper(self.root)
        self.chroot = f"/rill-{name}"
        self.overrides = dict(BASE_OVERRIDES)
        self.overrides.update(overrides or {})
        self.brokers = {}
        for i in range(1, brokers + 1):
            o = dict(self.overrides)
            o.update({"broker.id": i, "zookeeper.connect": self.zk.connect + self.chroot})
            o.update((broker_overrides or {}).get(i, {}))
            self.brokers[i] = ClusterBroker(i, os.path.join(self.root, f"broker{i}"), o)
        self.failed = False
        self.stale_session = {}  # broker id -> ZooKeeper session of its registration when killed
        self.timings = []  # (what, seconds): failover times for the report

    # -- lifecycle

    def start(self):
        log(f"cluster {self.name}: ZooKeeper on {self.zk.connect}, data in {self.root}")
        self.zk.start()
        with self.zk.client() as z:
            z.ensure_path(self.chroot)  # brokers may expect the chroot to exist, as Kafka does
        for b in self.brokers.values():
            b.start(timeout=START_TIMEOUT)
        self.wait_registered(set(self.brokers))
        self.wait_controller()
        log(f"cluster {self.name}: brokers {sorted(self.brokers)} registered, "
            f"controller {self.controller_id()}")
        return self

    def stop(self):
        """SIGTERM every broker (controlled shutdown; each must exit 0), then ZooKeeper. Returns
        {id: exit code} of the brokers that were running."""
        rcs = {}
        for i, b in self.brokers.items():
            if b.proc:
                try:
                    rcs[i] = b.stop(signal.SIGTERM, timeout=60)
                except RuntimeError as e:
                    rcs[i] = str(e)
        self.zk.stop()
        return rcs

    def destroy(self):
        for b in self.brokers.values():
            if b.proc:
                b.stop(signal.SIGKILL)
        self.zk.stop(signal.SIGKILL)
        if os.environ.get("RILL_CLUSTER_KEEP") or self.failed:
            log(f"cluster {self.name}: data and logs kept in {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)

    def broker(self, i):
        return self.brokers[i]

    def live_ids(self):
        return {i for i, b in self.brokers.items() if b.running and not b.paused}

    def kill(self, i):
        """kill -9 broker i."""
        log(f"kill -9 broker {i}")
        try:
            self.stale_session[i] = self.registration_session(i)
        except OSError:  # ZooKeeper down
            self.stale_session[i] = None
        self.brokers[i].kill9()

    def terminate(self, i):
        """SIGTERM broker i (controlled shutdown); returns its exit code."""
        log(f"SIGTERM broker {i}")
        return self.brokers[i].stop(signal.SIGTERM, timeout=90)

    def start_broker(self, i, wait_registered=True):
        """Starts broker i again on its data directory and waits until it registered with a new
        session (after kill -9 its old /brokers/ids/<i> may linger until the session expires)."""
        log(f"start broker {i}")
        self.brokers[i].start(timeout=START_TIMEOUT)
        if wait_registered:
            stale = self.stale_session.pop(i, None)
            self.wait(lambda: self.registration_session(i) not in (None, stale), START_TIMEOUT,
                      f"broker {i} to register with a new session")

    def pause(self, i):
        log(f"SIGSTOP broker {i}")
        self.brokers[i].pause()

    def resume(self, i):
        log(f"SIGCONT broker {i}")
        self.brokers[i].resume()

    def check_crashes(self):
        """Raises Abort when a broker the test did not stop has exited (a crash)."""
        for i, b in self.brokers.items():
            if b.proc is not None and b.proc.poll() is not None:
                raise Abort(f"broker {i} exited unexpectedly with code {b.proc.returncode}:\n"
                            f"{b.tail(30)}")

    def wait(self, pred, timeout, what, interval=0.1):
        """wait_until that stops at once when a broker crashes."""
        def checked():
            self.check_crashes()
            return pred()
        return wait_until(checked, timeout, what, interval)

    def bootstrap(self, ids=None):
        ids = sorted(ids if ids is not None else self.live_ids())
        return ",".join(self.brokers[i].bootstrap for i in ids)

    # -- ZooKeeper view

    def zk_get(self, path):
        """(data, stat) of chroot-relative `path`, or None."""
        with self.zk.client() as z:
            return z.get(self.chroot + path)

    def zk_json(self, path):
        got = self.zk_get(path)
        return None if got is None or not got[0] else json.loads(got[0])

    def zk_children(self, path):
        with self.zk.client() as z:
            return z.children(self.chroot + path)

    def registration_session(self, i):
        """The session id owning /brokers/ids/<i>, or None when it is not registered."""
        got = self.zk_get(f"/brokers/ids/{i}")
        return None if got is None else got[1]["ephemeral_owner"]

    def registered_ids(self):
        return {int(c) for c in (self.zk_children("/brokers/ids") or [])}

    def controller_id(self):
        c = self.zk_json("/controller")
        return None if c is None else c["brokerid"]

    def controller_epoch(self):
        got = self.zk_get("/controller_epoch")
        return None if got is None else int(got[0])

    def partition_state(self, topic, partition):
        return self.zk_json(f"/brokers/topics/{topic}/partitions/{partition}/state")

    def assignment(self, topic):
        """{partition: [replicas]} from /brokers/topics/<topic>."""
        t = self.zk_json(f"/brokers/topics/{topic}")
        return None if t is None else {int(p): r for p, r in t["partitions"].items()}

    # -- Kafka protocol view

    def metadata(self, i, topics=None):
        """Metadata v5 answered by broker i."""
        with KafkaConnection("127.0.0.1", self.brokers[i].port) as c:
            return c.metadata(topics)

    def connection(self, i):
        return KafkaConnection("127.0.0.1", self.brokers[i].port)

    def find_coordinator(self, group):
        """The coordinator broker id, asked of every live broker until one answers without error."""
        for i in sorted(self.live_ids()):
            try:
                with self.connection(i) as c:
                    err, node, _host, _port = c.find_coordinator(group)
                if err == 0:
                    return node
            except OSError:
                continue
        return None

    # -- waits

    def wait_registered(self, ids, exact=True, timeout=START_TIMEOUT):
        ids = set(ids)

        def ok():
            reg = self.registered_ids()
            return reg == ids if exact else ids <= reg
        self.wait(ok, timeout, f"/brokers/ids to {'be' if exact else 'contain'} {sorted(ids)}")

    def wait_deregistered(self, i, timeout=ELECTION_TIMEOUT):
        self.wait(lambda: i not in self.registered_ids(), timeout,
                   f"/brokers/ids/{i} to go away (session expiry)")

    def wait_controller(self, exclude=(), timeout=ELECTION_TIMEOUT):
        """Waits for a live controller not in `exclude`; returns its id."""
        def ok():
            c = self.controller_id()
            return c if c is not None and c not in exclude and c in self.live_ids() else None
        return self.wait(ok, timeout, f"a controller not in {sorted(exclude)}")

    def wait_for_leader(self, topic, partition, exclude=(), timeout=ELECTION_TIMEOUT):
        """Waits until the state znode names a live leader not in `exclude` and every live broker's
        Metadata agrees; returns the leader id."""
        def ok():
            st = self.partition_state(topic, partition)
            if st is None:
                return None
            leader = st["leader"]
            live = self.live_ids()
            if leader in exclude or leader not in live:
                return None
            for i in live:
                md = self.metadata(i, [topic])["topics"].get(topic)
                if not md or md["partitions"].get(partition, {}).get("leader") != leader:
                    return None
            return leader
        return self.wait(ok, timeout, f"a leader of {topic}-{partition} outside "
                                      f"{sorted(exclude)}, agreed by every broker")

    def wait_isr(self, topic, partition, isr, timeout=ISR_TIMEOUT):
        """Waits until the ISR (state znode and the leader's Metadata) is exactly `isr`."""
        want = sorted(isr)

        def ok():
            st = self.partition_state(topic, partition)
            if st is None or sorted(st["isr"]) != want:
                return None
            md = self.metadata(st["leader"], [topic])["topics"][topic]["partitions"][partition]
            return sorted(md["isr"]) == want and st
        return self.wait(ok, timeout, f"ISR of {topic}-{partition} to be {want}")

    def wait_topic(self, topic, partitions, timeout=ELECTION_TIMEOUT):
        """Waits until every live broker serves Metadata for all partitions with a leader."""
        def ok():
            for i in self.live_ids():
                md = self.metadata(i, [topic])["topics"].get(topic)
                if not md or md["error"] != 0 or len(md["partitions"]) != partitions:
                    return False
                if any(p["leader"] < 0 for p in md["partitions"].values()):
                    return False
            return True
        self.wait(ok, timeout, f"topic {topic} ({partitions} partitions) led on every broker")

    def timed(self, what, fn):
        """Runs fn(), records and logs how long it took (failover times for the issue's note)."""
        t0 = time.monotonic()
        v = fn()
        dt = time.monotonic() - t0
        self.timings.append((what, dt))
        log(f"TIMING {what}: {dt:.2f}s")
        return v

    # -- clients

    def admin(self):
        from confluent_kafka.admin import AdminClient
        return AdminClient({"bootstrap.servers": self.bootstrap()})

    def create_topic(self, topic, partitions=1, replication_factor=3, assignment=None, config=None):
        """CreateTopics through confluent_kafka (explicit `assignment` [[replicas of p0], ...]
        overrides partitions/replication factor); waits until every live broker leads/serves it."""
        from confluent_kafka.admin import NewTopic
        if assignment:
            nt = NewTopic(topic, len(assignment), replica_assignment=assignment,
                          config={k: str(v) for k, v in (config or {}).items()})
            partitions = len(assignment)
        else:
            nt = NewTopic(topic, partitions, replication_factor,
                          config={k: str(v) for k, v in (config or {}).items()})
        admin = self.admin()  # must outlive the future: a destroyed handle fails it
        fut = admin.create_topics([nt], operation_timeout=30, request_timeout=60)[topic]
        fut.result(timeout=90)
        self.wait_topic(topic, partitions)

    def watermarks(self, topic, partition):
        """(low, high) from the partition leader (ListOffsets)."""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.bootstrap(), "group.id": "rill-cluster-watermarks",
                      "enable.auto.commit": False})
        try:
            return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=30,
                                           cached=False)
        finally:
            c.close()

    # -- on-disk logs

    def log_batches(self, i, topic, partition, below):
        """The record batches of broker i's replica whose offsets are all below `below`, as a list
        of (base_offset, last_offset, raw bytes), read from the .log segment files."""
        return read_batches(self.brokers[i].partition_dir(topic, partition), below)

    # -- diagnostics

    def dump_logs(self, n=60):
        out = [f"===== cluster {self.name} (data in {self.root}) ====="]
        for i, b in self.brokers.items():
            state = "paused" if b.paused else ("running" if b.running else "stopped")
            out.append(f"----- broker {i} ({state}) {b.log_path}: last {n} lines -----")
            out.append(b.tail(n))
        out.append(f"----- zookeeper {self.zk.log_path}: last 20 lines -----")
        out.append(self.zk.tail(20))
        try:
            out.append(f"----- /brokers/ids {sorted(self.registered_ids())}, "
                       f"/controller {self.zk_json('/controller')}")
        except Exception as e:  # noqa: BLE001
            out.append(f"----- ZooKeeper not readable: {e!r}")
        print("\n".join(out), file=sys.stderr, flush=True)


def read_batches(partition_dir, below):
    """Parses the batch framing (baseOffset int64, batchLength int32, then batchLength bytes) of
    every <20 digits>.log segment in offset order; returns the batches ending below `below`."""
    segs = sorted(f for f in os.listdir(partition_dir) if f.endswith(".log") and f[:-4].isdigit())
    out = []
    for seg in segs:
        with open(os.path.join(partition_dir, seg), "rb") as f:
            data = f.read()
        pos = 0
        while pos + 12 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            if length < 49 or pos + 12 + length > len(data):
                break  # preallocated zeros or a torn tail: not below any high watermark
            # lastOffsetDelta sits after partitionLeaderEpoch(4) magic(1) crc(4) attributes(2).
            (last_delta,) = struct.unpack_from(">i", data, pos + 12 + 11)
            last = base + last_delta
            if last >= below:
                return out
            out.append((base, last, data[pos:pos + 12 + length]))
            pos += 12 + length
    return out


# ---- clients that record what happened ------------------------------------------------------

def make_value(seq, size=100):
    """Record value: the sequence number (10 digits) padded to `size` bytes."""
    head = b"%010d:" % seq
    return head + b"x" * max(0, size - len(head))


def value_seq(value):
    return int(value[:10])


class TrackedProducer(threading.Thread):
    """Produces records with sequence numbers 0, 1, 2, ... to one partition and records every
    delivery report: acked {seq: offset} and failed {seq: error}.

    total=None produces until stop() is called. `limit` (settable while running) holds production
    at that sequence number: the test releases it step by step so that events (kills, restarts)
    happen while records are in flight. rate (records/s) paces production."""

    def __init__(self, bootstrap, topic, partition=0, total=None, conf=None, rate=None, size=100):
        super().__init__(daemon=True)
        from confluent_kafka import Producer
        self.topic, self.partition, self.total, self.rate, self.size = (
            topic, partition, total, rate, size)
        c = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
             "linger.ms": 5, "message.timeout.ms": 180000, "retry.backoff.ms": 100,
             "reconnect.backoff.max.ms": 1000, "queue.buffering.max.messages": 200000,
             # A paused (SIGSTOP) or killed leader must not hold requests for the default 30 s.
             "request.timeout.ms": 10000, "socket.timeout.ms": 10000,
             "error_cb": self._on_error}
        c.update(conf or {})
        self.producer = Producer(c)
        self.lock = threading.Lock()
        self.acked = {}
        self.failed = {}
        self.errors = []  # error_cb: (fatal, KafkaError)
        self.produced = 0
        self.limit = total if total is not None else float("inf")
        self._stopping = threading.Event()
        self.exc = None

    def _on_error(self, err):
        with self.lock:
            self.errors.append((err.fatal(), err))

    def _on_delivery(self, err, msg):
        seq = value_seq(msg.value())
        with self.lock:
            if err is None:
                self.acked[seq] = msg.offset()
            else:
                self.failed[seq] = err

    @property
    def acked_count(self):
        with self.lock:
            return len(self.acked)

    @property
    def done_count(self):
        with self.lock:
            return len(self.acked) + len(self.failed)

    def fatal_errors(self):
        with self.lock:
            return [e for fatal, e in self.errors if fatal]

    def stop(self):
        self._stopping.set()

    def run(self):
        try:
            t0 = time.monotonic()
            while not self._stopping.is_set() and (self.total is None
                                                   or self.produced < self.total):
                if self.produced >= self.limit or (
                        self.rate and self.produced > self.rate * (time.monotonic() - t0)):
                    self.producer.poll(0.02)
                    continue
                try:
                    self.producer.produce(self.topic, make_value(self.produced, self.size),
                                          partition=self.partition, on_delivery=self._on_delivery)
                    self.produced += 1
                except BufferError:
                    self.producer.poll(0.05)
                    continue
                if self.produced % 200 == 0:
                    self.producer.poll(0)
            deadline = time.monotonic() + 240
            while len(self.producer) > 0 and time.monotonic() < deadline:
                self.producer.poll(0.1)
        except Exception as e:  # noqa: BLE001 - re-raised by finish()
            self.exc = e

    def finish(self, timeout=300):
        """Waits for the thread (all delivery reports in) and returns (acked, failed)."""
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"producer still running after {timeout}s: {len(self.producer)} "
                                 f"records undelivered, {self.done_count} reports")
        if self.exc:
            raise self.exc
        return dict(self.acked), dict(self.failed)


def produce_sync(bootstrap, topic, seqs, partition=0, conf=None, timeout=120):
    """Produces make_value(seq) for each seq to one partition and waits for every delivery
    report. Returns (acked {seq: offset}, failed {seq: KafkaError})."""
    from confluent_kafka import Producer
    c = {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
         "linger.ms": 5, "message.timeout.ms": 60000, "retry.backoff.ms": 100,
         "reconnect.backoff.max.ms": 1000, "request.timeout.ms": 10000}
    c.update(conf or {})
    p = Producer(c)
    acked, failed = {}, {}

    def report(err, msg):
        seq = value_seq(msg.value())
        if err is None:
            acked[seq] = msg.offset()
        else:
            failed[seq] = err
    for seq in seqs:
        while True:
            try:
                p.produce(topic, make_value(seq), partition=partition, on_delivery=report)
                break
            except BufferError:
                p.poll(0.05)
    deadline = time.monotonic() + timeout
    while len(p) > 0 and time.monotonic() < deadline:
        p.poll(0.1)
    if len(p) > 0:
        raise AssertionError(f"{len(p)} records still undelivered after {timeout}s")
    return acked, failed


def wait_acked(producer, count, timeout=ISR_TIMEOUT):
    wait_until(lambda: producer.acked_count >= count or producer.fatal_errors(), timeout,
               f"{count} acknowledged records (have {producer.acked_count})", interval=0.02)
    if producer.fatal_errors():
        raise AssertionError(f"producer fatal error: {producer.fatal_errors()}")


def read_partition(bootstrap, topic, partition, end_offset, timeout=120):
    """Reads [log start, end_offset) of one partition with a fresh consumer; returns
    [(offset, value)]."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"rill-verify-{time.time_ns()}",
                  "enable.auto.commit": False, "enable.partition.eof": False,
                  "fetch.max.bytes": 8 << 20, "topic.metadata.refresh.interval.ms": 2000})
    out = []
    try:
        c.assign([TopicPartition(topic, partition, OFFSET_BEGINNING)])
        deadline = time.monotonic() + timeout
        next_offset = 0
        while next_offset < end_offset:
            if time.monotonic() > deadline:
                raise AssertionError(f"read {len(out)} records of {topic}-{partition}, stuck at "
                                     f"offset {next_offset} < {end_offset}")
            for m in c.consume(num_messages=10000, timeout=1.0):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError(f"consume error: {m.error()}")
                if m.offset() < end_offset:
                    out.append((m.offset(), m.value()))
                next_offset = m.offset() + 1
        return out
    finally:
        c.close()


def check_acked_present(test, acked, records):
    """Every acknowledged record sits at its acknowledged offset, no record appears twice, and
    sequence numbers increase along the log (producer order)."""
    by_offset = dict(records)
    seqs = [value_seq(v) for _o, v in records]
    offsets_of = {}
    for o, v in records:
        offsets_of.setdefault(value_seq(v), []).append(o)
    dups = {s: offs for s, offs in offsets_of.items() if len(offs) > 1}
    test.assertFalse(dups, f"{len(dups)} records appear more than once in the log: first "
                           f"{sorted(dups.items())[:5]} (seq: offsets)")
    test.assertEqual(seqs, sorted(seqs), "records are not in the order they were produced")
    missing = [s for s, o in acked.items() if o not in by_offset or value_seq(by_offset[o]) != s]
    test.assertFalse(missing, f"{len(missing)} acknowledged records lost or moved, first "
                               f"{sorted(missing)[:10]} (acked offsets "
                               f"{[acked[s] for s in sorted(missing)[:10]]})")


class ClusterTestCase(unittest.TestCase):
    """One cluster per test class (started in setUpClass, torn down in tearDownClass). Broker and
    ZooKeeper log tails are printed when a test fails."""

    brokers = 3
    overrides = {}
    broker_overrides = {}

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster(cls.__name__.lower(), cls.brokers, cls.overrides,
                              cls.broker_overrides)
        try:
            cls.cluster.start()
        except BaseException:
            cls.cluster.failed = True
            cls.cluster.dump_logs()
            cls.cluster.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        c = cls.cluster
        try:
            for what, dt in c.timings:
                log(f"TIMING {c.name}: {what}: {dt:.2f}s")
            rcs = c.stop()
            bad = {i: rc for i, rc in rcs.items() if rc != 0}
            if bad:
                c.failed = True
                c.dump_logs()
                raise AssertionError(f"brokers did not exit 0 on SIGTERM: {bad}")
        finally:
            c.destroy()

    def run(self, result=None):
        if result is None:
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        out = super().run(result)
        if len(result.failures) + len(result.errors) > before:
            self.cluster.failed = True
            self.cluster.dump_logs()
        return out

    def tearDown(self):
        # A test that paused or killed brokers leaves them running again for the next test.
        for i, b in self.cluster.brokers.items():
            if b.paused:
                self.cluster.resume(i)
        for i, b in self.cluster.brokers.items():
            if not b.running:
                try:
                    self.cluster.start_broker(i)
                except Exception as e:  # noqa: BLE001
                    log(f"could not restart broker {i} after the test: {e}")
        if not self.cluster.zk.running:
            self.cluster.zk.start()
