"""A log dir that fails at run time (issue 14, item 3; Kafka's log-dir failure handling): two
log.dirs on loop-mounted ext4 images (errors=remount-ro); one of them fails while the broker has
its files open, in two ways: forced read-only with ext4's trigger_fs_error (EROFS; a plain
`mount -o remount,ro` answers EBUSY then), or shut down with EXT4_IOC_SHUTDOWN (EIO on every
operation, reads too, as on a disk that died; device-mapper's dm-error is not available in every
kernel, this is). Partitions on it answer KAFKA_STORAGE_ERROR (producers get an error, not a
hang), partitions on the other dir keep producing and consuming, the broker stays up, and
DescribeLogDirs, /v1/cluster/health_overview and /metrics report the failed dir. Needs root,
loop devices and mkfs.ext4 (CI: a Debian 12 VM as root); skips with a message otherwise."""

import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
import unittest
import urllib.request

from loop_fs import force_read_only, mount_ext4, run, shut_down
from net_util import connect, read_response
from rill_harness import Broker

KAFKA_STORAGE_ERROR = 56


def call(port, api_key, version, body):
    """Sends one request (header v1) and returns the response body after the correlation id."""
    client = b"rill-test"
    req = struct.pack(">hhih", api_key, version, 7, len(client)) + client + body
    with connect(port, timeout=10) as s:
        s.sendall(struct.pack(">i", len(req)) + req)
        return read_response(s)[4:]


def kstr(s):
    return struct.pack(">h", len(s)) + s.encode()


def list_offsets_error(port, topic, partition):
    """ListOffsets v1 (latest) for one partition: its error code."""
    body = struct.pack(">i", -1) + struct.pack(">i", 1) + kstr(topic) + struct.pack(
        ">iiq", 1, partition, -1)
    data = call(port, 2, 1, body)
    pos = 4 + 2 + len(topic) + 4  # topics count, name, partitions count
    return struct.unpack_from(">ih", data, pos)[1]


def fetch_error(port, topic, partition):
    """Fetch v4 (no wait) from offset 0 of one partition: its error code."""
    body = struct.pack(">iiiib", -1, 0, 1, 1 << 20, 0) + struct.pack(">i", 1) + kstr(topic) + \
        struct.pack(">iiqi", 1, partition, 0, 1 << 20)
    data = call(port, 1, 4, body)
    pos = 4 + 4 + 2 + len(topic) + 4  # throttle, topics count, name, partitions count
    return struct.unpack_from(">ih", data, pos)[1]


def describe_log_dirs(port):
    """DescribeLogDirs v1 for every partition: {log_dir: (error_code, {(topic, p): size})}."""
    data = b"\0\0\0\0" + call(port, 35, 1, struct.pack(">i", -1))  # topics: null (all)
    pos = 8  # correlation id, throttle time

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from(fmt, data, pos)
        pos += struct.calcsize(fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take(">h")
        s = data[pos:pos + n].decode()
        pos += n
        return s
    out = {}
    for _ in range(take(">i")):
        err = take(">h")
        d = string()
        parts = {}
        for _ in range(take(">i")):
            t = string()
            for _ in range(take(">i")):
                p = take(">i")
                sz = take(">q")
                take(">q")
                take(">b")
                parts[(t, p)] = sz
        out[d] = (err, parts)
    return out


class LogDirFailureTest(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (mount)")
        self.root = tempfile.mkdtemp(prefix="rill-logdirs-")
        self.mounts = []
        self.addCleanup(self._cleanup)
        self.a, self.trigger_a = mount_ext4(self.root, "a")
        self.mounts.append(self.a)
        self.b, _ = mount_ext4(self.root, "b")
        self.mounts.append(self.b)

    def _cleanup(self):
        for m in self.mounts:
            run(["umount", "-l", m])
        shutil.rmtree(self.root, ignore_errors=True)

    def producer(self, timeout_ms=8000):
        from confluent_kafka import Producer
        return Producer({"bootstrap.servers": self.broker.bootstrap, "acks": "all",
                         "enable.idempotence": False, "retries": 0, "linger.ms": 2,
                         "message.timeout.ms": timeout_ms, "request.timeout.ms": timeout_ms})

    def produce(self, p, partition, n, timeout_ms=8000):
        """Produces n records to `partition` with producer `p`; returns (acked offsets, error
        codes)."""
        acked, failed = [], []

        def done(err, msg):
            (failed.append(err.code()) if err else acked.append(msg.offset()))
        for i in range(n):
            p.produce("ld", value=f"v{i}".encode(), partition=partition, on_delivery=done)
        left = p.flush(timeout_ms / 1000 + 10)
        self.assertEqual(left, 0, "the producer hung")
        return acked, failed

    def consume(self, partition, expected, timeout=30):
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": "ld",
                      "enable.auto.commit": False})
        try:
            c.assign([TopicPartition("ld", partition, 0)])
            got = 0
            deadline = time.time() + timeout
            while got < expected and time.time() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    got += 1
            return got
        finally:
            c.close()

    def http(self, path):
        with urllib.request.urlopen(self.broker.admin_url + path, timeout=10) as r:
            return r.read().decode()

    def test_one_failed_log_dir_takes_only_its_partitions_offline(self):
        """EROFS: ext4 turns dir a's file system read-only with the broker's files open."""
        if not os.path.exists(self.trigger_a):
            self.skipTest(f"{self.trigger_a} missing: the kernel cannot force ext4 read-only")
        self.check_one_failed_log_dir(lambda: force_read_only(self.trigger_a))

    def test_eio_on_one_log_dir_takes_only_its_partitions_offline(self):
        """EIO: dir a's file system is shut down (every operation on it fails with EIO)."""
        self.check_one_failed_log_dir(self.shut_down_a)

    def shut_down_a(self):
        try:
            shut_down(self.a)
        except OSError as e:
            self.skipTest(f"EXT4_IOC_SHUTDOWN refused: {e}")

    def check_one_failed_log_dir(self, fail_dir_a):
        from confluent_kafka.admin import AdminClient, NewTopic

        dirs = [os.path.join(self.a, "data"), os.path.join(self.b, "data")]
        self.broker = Broker(overrides={"log.dirs": ",".join(dirs)}).start()
        self.addCleanup(self.broker.cleanup)
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        admin.create_topics([NewTopic("ld", 4, 1)])["ld"].result(10)
        on_a = [p for p in range(4) if os.path.isdir(os.path.join(dirs[0], f"ld-{p}"))]
        on_b = [p for p in range(4) if os.path.isdir(os.path.join(dirs[1], f"ld-{p}"))]
        self.assertTrue(on_a and on_b, f"partitions not spread over both dirs: {on_a} {on_b}")
        # A producer that knows the leaders from before the failure (a new one would see
        # leader -1 for the offline partitions and time out, as with Kafka).
        prod = self.producer()
        for p in range(4):
            acked, failed = self.produce(prod, p, 20)
            self.assertEqual((len(acked), failed), (20, []))

        # The disk under dir a fails with the broker's files open.
        fail_dir_a()

        for p in on_a:
            acked, failed = self.produce(prod, p, 5)
            self.assertEqual(acked, [], f"partition {p} on the failed dir acknowledged writes")
            self.assertIn(KAFKA_STORAGE_ERROR, failed)
            self.assertEqual(fetch_error(self.broker.port, "ld", p), KAFKA_STORAGE_ERROR)
            self.assertEqual(list_offsets_error(self.broker.port, "ld", p), KAFKA_STORAGE_ERROR)
        for p in on_b:
            acked, failed = self.produce(self.producer(), p, 20)
            self.assertEqual((len(acked), failed), (20, []), f"partition {p} on the good dir")
            self.assertEqual(self.consume(p, 40), 40)
            self.assertEqual(fetch_error(self.broker.port, "ld", p), 0)
            self.assertEqual(list_offsets_error(self.broker.port, "ld", p), 0)
        self.assertIsNone(self.broker.proc.poll(), "the broker died")

        # kcat: an error and a non-zero exit, not a hang.
        if shutil.which("kcat"):
            r = subprocess.run(["kcat", "-P", "-b", self.broker.bootstrap, "-t", "ld", "-p",
                                str(on_a[0]), "-X", "message.timeout.ms=5000"],
                               input="x\n", capture_output=True, text=True, timeout=60)
            self.assertNotEqual(r.returncode, 0, r.stderr)
            self.assertIn("Delivery failed", r.stderr)

        # One error line for the failed dir.
        with open(self.broker.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        lines = [l for l in log.splitlines() if f"log dir {dirs[0]} failed" in l]
        self.assertEqual(len(lines), 1, log[-3000:])

        # DescribeLogDirs: the failed dir answers KAFKA_STORAGE_ERROR with its partitions.
        res = describe_log_dirs(self.broker.port)
        err_a, parts_a = res[dirs[0]]
        err_b, parts_b = res[dirs[1]]
        self.assertEqual(err_a, KAFKA_STORAGE_ERROR)
        self.assertEqual(sorted(p for (t, p) in parts_a if t == "ld"), on_a)
        self.assertEqual(err_b, 0)
        self.assertEqual(sorted(p for (t, p) in parts_b if t == "ld"), on_b)

        # Health and metrics.
        h = json.loads(self.http("/v1/cluster/health_overview"))
        self.assertFalse(h["is_healthy"])
        self.assertIn("offline_log_dirs", h["unhealthy_reasons"])
        self.assertIn("offline_partitions", h["unhealthy_reasons"])
        self.assertEqual([d["path"] for d in h["offline_log_dirs"]], [dirs[0]])
        self.assertEqual(sorted(h["offline_partitions"]),
                         sorted(f"kafka/ld/{p}" for p in on_a))
        m = self.http("/metrics")
        self.assertIn("kafka_log_logmanager_offlinelogdirectorycount 1", m)
        self.assertIn(f"kafka_server_replicamanager_offlinereplicacount {len(on_a)}", m)

        # Metadata (v5+): the offline partitions have no leader and list this broker offline.
        md = admin.list_topics("ld", timeout=10).topics["ld"]
        for p in on_a:
            self.assertEqual(md.partitions[p].leader, -1)
        for p in on_b:
            self.assertEqual(md.partitions[p].leader, self.broker_id())

    def broker_id(self):
        return int(self.broker.overrides.get("broker.id", 0))


if __name__ == "__main__":
    unittest.main()
