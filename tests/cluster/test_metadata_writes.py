"""Metadata writes never hold a shard (issue 14, item 4): a CreateTopics whose ZooKeeper writes
cannot complete (ZooKeeper paused with SIGSTOP) must not stop the broker from answering other
requests on the same shard (num.shards=1, so every connection shares it). Before the writes ran
on the metadata thread (broker::store_write), ApiVersions on a second connection waited until
the ZooKeeper client gave up on the paused server (3.4 s measured)."""

import signal
import struct
import threading
import time
import unittest

from cluster_harness import ClusterTestCase, log
from kafka_wire import KafkaConnection, i16, i32, string


def create_topics_v2(name, timeout_ms):
    # topics [name, num_partitions, replication_factor, assignments [], configs []],
    # timeout_ms, validate_only
    topic = string(name) + i32(1) + i16(1) + i32(0) + i32(0)
    return i32(1) + topic + i32(timeout_ms) + struct.pack(">b", 0)


class MetadataWritesOffShardTest(ClusterTestCase):
    brokers = 1
    overrides = {"num.shards": 1}

    def test_a_stalled_zookeeper_write_does_not_stall_the_shard(self):
        c = self.cluster
        port = c.brokers[1].port
        with KafkaConnection("127.0.0.1", port) as probe:
            probe.request(18, 0, b"", False)  # connected and answering before the pause
            created = {}

            def create():
                try:
                    with KafkaConnection("127.0.0.1", port, timeout=60) as conn:
                        r = conn.request(19, 2, create_topics_v2("stall-probe", 30000), False)
                        r.i32()  # throttle
                        r.i32()  # topics
                        r.string()
                        created["error"] = r.i16()
                except OSError as e:
                    created["exception"] = e

            c.zk.proc.send_signal(signal.SIGSTOP)
            log("ZooKeeper paused")
            try:
                t = threading.Thread(target=create)
                t.start()
                time.sleep(0.5)  # the CreateTopics is now waiting for ZooKeeper
                worst = 0.0
                for _ in range(10):
                    start = time.monotonic()
                    probe.request(18, 0, b"", False)
                    worst = max(worst, time.monotonic() - start)
                    time.sleep(0.2)
                log(f"ApiVersions while CreateTopics waits for ZooKeeper: "
                    f"worst {worst * 1000:.0f} ms")
                self.assertLess(worst, 1.0, "the shard was held by the metadata write")
            finally:
                c.zk.proc.send_signal(signal.SIGCONT)
                log("ZooKeeper resumed")
            t.join(timeout=60)
            self.assertFalse(t.is_alive(), "CreateTopics never answered")
            self.assertNotIn("exception", created)
            # Answered: created, or an error once ZooKeeper came back.
            self.assertIn("error", created)
            probe.request(18, 0, b"", False)


if __name__ == "__main__":
    unittest.main()
