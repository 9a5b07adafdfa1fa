"""Hostile bytes on the Kafka port: negative and huge sizes, truncated headers, random frames,
unknown APIs and versions, and many stalled half-sent frames. A well-behaved client keeps
working throughout and the broker's memory stays bounded."""

import os
import random
import socket
import struct
import threading
import time
import unittest

from rill_harness import BrokerTestCase


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


class HostileTest(BrokerTestCase):
    def connect(self):
        s = socket.create_connection(("127.0.0.1", self.broker.port), timeout=5)
        return s

    def send_and_expect_close(self, payload):
        s = self.connect()
        try:
            s.sendall(payload)
            s.settimeout(5)
            data = s.recv(65536)
            return data
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            return b""
        finally:
            s.close()

    def test_hostile_inputs_while_client_works(self):
        from confluent_kafka import Producer

        stop = threading.Event()
        errors = []
        delivered = [0]

        def good_client():
            p = Producer({"bootstrap.servers": self.broker.bootstrap, "acks": "all",
                          "linger.ms": 5})
            i = 0
            while not stop.is_set():
                p.produce("hostile-good", value=b"v%d" % i,
                          on_delivery=lambda e, m: errors.append(e) if e else delivered.__setitem__(0, delivered[0] + 1))
                i += 1
                p.poll(0)
                if i % 100 == 0:
                    p.flush(10)
            p.flush(10)

        t = threading.Thread(target=good_client)
        t.start()
        try:
            rng = random.Random(42)
            # Negative, huge and zero sizes.
            for size in [-1, -2**31, 2**31 - 1, 200 * 1024 * 1024, 0]:
                self.send_and_expect_close(struct.pack(">i", size) + b"\0" * 8)
            # Truncated headers.
            for n in range(0, 8):
                self.send_and_expect_close(struct.pack(">i", n) + b"\x00\x03\x00\x01\x00\x00\x00\x07"[:n])
            # Unknown API key, unsupported version, garbage bodies.
            self.send_and_expect_close(struct.pack(">ihhi", 8, 999, 0, 1))
            self.send_and_expect_close(struct.pack(">ihhi", 8, 3, 999, 1))
            for _ in range(300):
                body = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
                if rng.random() < 0.7:  # a valid-looking header for a real API, random body
                    key = rng.choice([0, 1, 2, 3, 18, 19, 20, 32, 37])
                    body = struct.pack(">hhi", key, rng.randint(0, 12), 7) + body
                self.send_and_expect_close(struct.pack(">i", len(body)) + body)
            # ApiVersions with a future version gets a v0-format answer, not a close.
            s = self.connect()
            s.sendall(struct.pack(">ihhih", 10, 18, 99, 5, -1))
            hdr = s.recv(4)
            self.assertEqual(len(hdr), 4)
            size = struct.unpack(">i", hdr)[0]
            resp = b""
            while len(resp) < size:
                resp += s.recv(size - len(resp))
            corr, err = struct.unpack(">ih", resp[:6])
            self.assertEqual((corr, err), (5, 35))
            s.close()
            # Many stalled half-sent frames claiming large sizes.
            stalled = []
            for _ in range(200):
                s = self.connect()
                s.sendall(struct.pack(">i", 50 * 1024 * 1024) + struct.pack(">hhi", 0, 3, 1) + b"x" * 1000)
                stalled.append(s)
            time.sleep(1.0)
            rss = rss_mb(self.broker.proc.pid)
            self.assertLess(rss, 600, f"broker RSS {rss:.0f} MB with 200 stalled frames")
            before = delivered[0]
            time.sleep(1.0)
            self.assertGreater(delivered[0], before, "good client made no progress")
            for s in stalled:
                s.close()
        finally:
            stop.set()
            t.join(30)
        self.assertEqual(errors, [])
        self.assertGreater(delivered[0], 0)
        self.assertIsNone(self.broker.proc.poll(), "broker died")


if __name__ == "__main__":
    unittest.main()
