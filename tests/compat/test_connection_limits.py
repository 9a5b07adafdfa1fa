"""Connection limits as Kafka defines them, on the real binary over raw sockets (issue #13,
item 7): max.connections.per.ip and its overrides (more connections from one address are closed
at once), max.connections (the listener stops accepting; new connections wait in the backlog,
and a dynamic change applies), connections.max.idle.ms (bytes count as activity, a request
being handled is never idle), and the start-up checks of these keys."""

import json
import struct
import subprocess
import tempfile
import time
import unittest
import urllib.request

import net_util as nu
from rill_harness import RILL_BIN, BrokerTestCase, free_port


def wait_until(pred, timeout=5.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


class PerIpLimitTest(BrokerTestCase):
    overrides = {"max.connections.per.ip": "3",
                 "max.connections.per.ip.overrides": "127.0.0.2:5, 127.0.0.3:0"}

    def setUp(self):
        # The harness's start-up probe must be gone before we count.
        wait_until(lambda: nu.metrics(self.broker.admin_url)[nu.CONNECTIONS] == 0)

    def open_served(self, n, ip):
        socks = []
        for i in range(n):
            s = nu.connect(self.broker.port, source_ip=ip, timeout=3)
            self.assertEqual(nu.api_versions_on(s, correlation_id=i + 1), 0, f"{ip} #{i + 1}")
            socks.append(s)
        return socks

    def assert_rejected(self, ip):
        s = nu.connect(self.broker.port, source_ip=ip, timeout=3)
        try:
            self.assertTrue(nu.is_closed_by_peer(s, 2.0), f"a connection over {ip}'s limit stayed open")
        finally:
            s.close()

    def test_default_and_override_limits(self):
        admin = self.broker.admin_url
        rejected = nu.metrics(admin)["rill_kafka_connections_rejected_per_ip_total"]
        default = self.open_served(3, "127.0.0.1")
        self.assert_rejected("127.0.0.1")
        others = self.open_served(3, "127.0.0.4")  # another address has its own count
        overridden = self.open_served(5, "127.0.0.2")
        self.assert_rejected("127.0.0.2")
        self.assert_rejected("127.0.0.3")  # an override of 0 refuses the address entirely
        self.assertEqual(nu.metrics(admin)["rill_kafka_connections_rejected_per_ip_total"],
                         rejected + 3)
        # A closed connection frees its slot.
        default.pop().close()

        def served_again():
            try:
                with nu.connect(self.broker.port, source_ip="127.0.0.1", timeout=1) as s:
                    return nu.api_versions_on(s) == 0
            except (ConnectionError, OSError):
                return False

        self.assertTrue(wait_until(served_again, timeout=3))
        for s in default + others + overridden:
            s.close()
        self.assertTrue(wait_until(lambda: nu.metrics(admin)[nu.CONNECTIONS] == 0))


class MaxConnectionsTest(BrokerTestCase):
    overrides = {"max.connections": "4"}

    def setUp(self):
        wait_until(lambda: nu.metrics(self.broker.admin_url)[nu.CONNECTIONS] == 0)

    def put_config(self, body):
        req = urllib.request.Request(self.broker.admin_url + "/v1/cluster_config",
                                     data=json.dumps(body).encode(), method="PUT",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertEqual(r.status, 200)

    def test_listener_waits_at_the_limit_and_follows_dynamic_changes(self):
        admin = self.broker.admin_url
        socks = [nu.connect(self.broker.port, timeout=3) for _ in range(4)]
        for i, s in enumerate(socks):
            self.assertEqual(nu.api_versions_on(s, i + 1), 0)
        # As Kafka: the fifth is not refused, it waits in the backlog unanswered.
        waiting = nu.connect(self.broker.port, timeout=1.0)
        waiting.sendall(nu.api_versions_v0(42))
        with self.assertRaises(TimeoutError):
            nu.read_response(waiting)
        self.assertGreaterEqual(nu.metrics(admin)["rill_kafka_acceptor_blocked_total"], 1)
        # One closes: the waiting one is accepted and its request answered.
        socks.pop().close()
        waiting.settimeout(2.0)
        corr, err = struct.unpack(">ih", nu.read_response(waiting)[:6])
        self.assertEqual((corr, err), (42, 0))
        socks.append(waiting)
        # At the limit again; raising max.connections at runtime lets the next one in.
        extra = nu.connect(self.broker.port, timeout=1.0)
        extra.sendall(nu.api_versions_v0(43))
        with self.assertRaises(TimeoutError):
            nu.read_response(extra)
        self.put_config({"upsert": {"max.connections": "6"}})
        try:
            extra.settimeout(3.0)
            corr, err = struct.unpack(">ih", nu.read_response(extra)[:6])
            self.assertEqual((corr, err), (43, 0))
            with nu.connect(self.broker.port, timeout=2.0) as sixth:
                self.assertEqual(nu.api_versions_on(sixth, 44), 0)
        finally:
            self.put_config({"remove": ["max.connections"]})
            extra.close()
            for s in socks:
                s.close()


# A Fetch v4 for partition 0 of `topic` at offset 0 that waits up to `max_wait_ms`.
def fetch_v4(topic, max_wait_ms, correlation_id=9):
    t = topic.encode()
    body = struct.pack(">hhih", 1, 4, correlation_id, -1)
    body += struct.pack(">iiiib", -1, max_wait_ms, 1, 1 << 20, 0)
    body += struct.pack(">ih", 1, len(t)) + t + struct.pack(">iiqi", 1, 0, 0, 1 << 20)
    return struct.pack(">i", len(body)) + body


class IdleTimeoutTest(BrokerTestCase):
    overrides = {"connections.max.idle.ms": "1500"}

    def test_idle_connection_is_closed(self):
        admin = self.broker.admin_url
        before = nu.metrics(admin)["kafka_network_socketserver_expiredconnectionskilledcount"]
        s = nu.connect(self.broker.port)
        self.assertEqual(nu.api_versions_on(s), 0)
        start = time.monotonic()
        self.assertTrue(nu.is_closed_by_peer(s, 4.0), "idle connection left open")
        self.assertGreater(time.monotonic() - start, 1.2)
        s.close()
        self.assertEqual(
            nu.metrics(admin)["kafka_network_socketserver_expiredconnectionskilledcount"],
            before + 1)

    def test_slowly_sent_request_is_not_idle(self):
        # Bytes arriving are activity: a request trickling in for longer than the idle
        # timeout is read and answered.
        s = nu.connect(self.broker.port, timeout=10)
        frame = nu.api_versions_v0(5)
        for b in frame:
            s.send(bytes([b]))
            time.sleep(0.3)  # 14 bytes: ~4 s in all
        corr, err = struct.unpack(">ih", nu.read_response(s)[:6])
        self.assertEqual((corr, err), (5, 0))
        s.close()

    def test_long_poll_is_not_idle(self):
        from confluent_kafka.admin import AdminClient, NewTopic
        admin_client = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        for f in admin_client.create_topics([NewTopic("idle-poll", 1, 1)]).values():
            f.result(30)
        s = nu.connect(self.broker.port, timeout=10)
        start = time.monotonic()
        s.sendall(fetch_v4("idle-poll", 3000))
        resp = nu.read_response(s)  # nothing to fetch: answered when max_wait_ms has passed
        waited = time.monotonic() - start
        self.assertEqual(struct.unpack(">i", resp[:4])[0], 9)
        self.assertGreater(waited, 2.5)
        # The connection is still open and usable after waiting longer than the idle timeout.
        self.assertEqual(nu.api_versions_on(s, 10), 0)
        s.close()


class StartupValidationTest(unittest.TestCase):
    def run_broker(self, *overrides):
        with tempfile.TemporaryDirectory() as d:
            args = [RILL_BIN, "--override", f"log.dirs={d}",
                    "--override", f"listeners=PLAINTEXT://127.0.0.1:{free_port()}",
                    "--override", "admin.listeners="]
            for kv in overrides:
                args += ["--override", kv]
            return subprocess.run(args, capture_output=True, timeout=20)

    def test_bad_values_stop_the_broker_with_a_message(self):
        cases = [
            (["max.connections.per.ip.overrides=127.0.0.1:abc"], "127.0.0.1:abc"),
            (["max.connections.per.ip.overrides=127.0.0.1"], "host:count"),
            (["max.connections.per.ip.overrides=127.0.0.1:-2"], "count"),
            (["max.connections.per.ip.overrides=no-such-host.invalid:3"], "no-such-host.invalid"),
            (["max.connections.per.ip=0"], "max.connections.per.ip.overrides"),
            (["max.connections.per.ip=-1"], "max.connections.per.ip"),
            (["max.connections=-1"], "max.connections"),
            (["connections.max.idle.ms=soon"], "connections.max.idle.ms"),
            (["queued.max.request.bytes=1048576"], "socket.request.max.bytes"),
        ]
        for overrides, expected in cases:
            with self.subTest(overrides=overrides):
                p = self.run_broker(*overrides)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(expected, p.stderr.decode())

    def test_per_ip_zero_with_overrides_starts(self):
        with tempfile.TemporaryDirectory() as d:
            port = free_port()
            proc = subprocess.Popen(
                [RILL_BIN, "--override", f"log.dirs={d}",
                 "--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
                 "--override", "admin.listeners=",
                 "--override", "max.connections.per.ip=0",
                 "--override", "max.connections.per.ip.overrides=localhost:2"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                def up():
                    try:
                        return nu.api_versions_latency(port, timeout=0.5) < 0.5
                    except OSError:
                        return False

                # localhost (a name) resolves to 127.0.0.1: two connections from it are allowed,
                # every other address none.
                self.assertTrue(wait_until(up, timeout=10))
                s = nu.connect(port, source_ip="127.0.0.5")
                self.assertTrue(nu.is_closed_by_peer(s, 2.0))
                s.close()
            finally:
                proc.terminate()
                proc.wait(20)


if __name__ == "__main__":
    unittest.main()
