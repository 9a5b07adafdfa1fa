"""The group coordinator's blocking work stays off the shards (issue 14): the first creation of
__consumer_offsets is a metadata store write on the metadata thread (a group request that
arrives before it answers COORDINATOR_NOT_AVAILABLE, as Kafka does, and clients retry), and a
restarted broker loads a large offsets partition with file reads on a work pool while the
shards keep answering; every committed offset comes back."""

import struct
import threading
import time
import unittest
import uuid

import net_util
from groups_util import create_topic, wait_for
from rill_harness import Broker

COORDINATOR_NOT_AVAILABLE = 15


def join_group_v0(group, correlation_id=3):
    """A JoinGroup v0 frame for a new member with one (empty) "range" protocol."""
    g = group.encode()
    body = struct.pack(">hhih", 11, 0, correlation_id, -1)
    body += struct.pack(">h", len(g)) + g + struct.pack(">i", 10000)
    body += struct.pack(">h", 0)  # member id ""
    body += struct.pack(">h", 8) + b"consumer"
    body += struct.pack(">i", 1) + struct.pack(">h", 5) + b"range" + struct.pack(">i", 0)
    return struct.pack(">i", len(body)) + body


def find_coordinator_v0(group, correlation_id=4):
    g = group.encode()
    body = struct.pack(">hhih", 10, 0, correlation_id, -1) + struct.pack(">h", len(g)) + g
    return struct.pack(">i", len(body)) + body


def offsets_topic_exists(port):
    from kafka import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=f"127.0.0.1:{port}", client_id="probe")
    try:
        return "__consumer_offsets" in admin.list_topics()
    finally:
        admin.close()


class OffsetsTopicCreationTest(unittest.TestCase):
    def setUp(self):
        self.broker = Broker().start()

    def tearDown(self):
        rc = self.broker.stop()
        tail = self.broker.tail()
        self.broker.cleanup()
        self.assertEqual(rc, 0, tail)

    def test_a_group_request_before_the_topic_exists_is_retried(self):
        port = self.broker.port
        with net_util.connect(port) as s:
            # No FindCoordinator yet: the JoinGroup starts the creation and does not wait.
            s.sendall(join_group_v0("early"))
            resp = net_util.read_response(s)
            corr, err = struct.unpack(">ih", resp[:6])
            self.assertEqual(corr, 3)
            self.assertEqual(err, COORDINATOR_NOT_AVAILABLE)
            self.assertTrue(wait_for(lambda: offsets_topic_exists(port), timeout=20),
                            self.broker.tail())
            # Meanwhile and afterwards the shard answers other requests.
            self.assertEqual(net_util.api_versions_on(s, correlation_id=9), 0)
            s.sendall(find_coordinator_v0("early"))
            resp = net_util.read_response(s)
            corr, err = struct.unpack(">ih", resp[:6])
            self.assertEqual((corr, err), (4, 0))
        # A real consumer group on the broker works as usual.
        from confluent_kafka import Consumer, Producer
        topic = "created-" + uuid.uuid4().hex[:6]
        create_topic(self.broker.bootstrap, topic, 2)
        p = Producer({"bootstrap.servers": self.broker.bootstrap})
        for i in range(10):
            p.produce(topic, str(i).encode(), partition=i % 2)
        self.assertEqual(p.flush(20), 0)
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": "early",
                      "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        seen = set()
        deadline = time.time() + 60
        while len(seen) < 10 and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and not m.error():
                seen.add(m.value())
        c.close()
        self.assertEqual(len(seen), 10, self.broker.tail())


class LargeOffsetsPartitionLoadTest(unittest.TestCase):
    """About 24 MB of commits on one offsets partition, loaded after a restart."""

    PARTITIONS = 60
    ROUNDS = 100
    METADATA = 4000  # offset.metadata.max.bytes is 4096

    def setUp(self):
        # One offsets partition: every commit lands in the one partition that is loaded.
        self.broker = Broker(overrides={"offsets.topic.num.partitions": 1, "num.shards": 2})
        self.broker.start()

    def tearDown(self):
        self.broker.cleanup()

    def test_restart_loads_every_commit_while_the_shards_answer(self):
        from kafka import KafkaConsumer, TopicPartition
        from kafka.structs import OffsetAndMetadata
        topic = "load-" + uuid.uuid4().hex[:6]
        create_topic(self.broker.bootstrap, topic, self.PARTITIONS)
        tps = [TopicPartition(topic, p) for p in range(self.PARTITIONS)]
        c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, group_id="big",
                          enable_auto_commit=False, api_version=(2, 5))
        for r in range(self.ROUNDS):
            meta = (str(r) * self.METADATA)[:self.METADATA]
            c.commit({tp: OffsetAndMetadata(r * 1000 + tp.partition, meta) for tp in tps})
        c.close()
        self.assertEqual(self.broker.stop(), 0, self.broker.tail())

        self.broker.start()
        latencies = []
        stop = threading.Event()

        def probe():
            # ApiVersions on fresh connections (both shards) while the partition loads.
            while not stop.is_set():
                latencies.append(net_util.api_versions_latency(self.broker.port, timeout=10))

        t = threading.Thread(target=probe)
        t.start()
        try:
            c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, group_id="big",
                              enable_auto_commit=False, api_version=(2, 5))
            last = self.ROUNDS - 1
            got = {tp.partition: c.committed(tp) for tp in tps}
            c.close()
        finally:
            stop.set()
            t.join()
        self.assertEqual(got, {p: last * 1000 + p for p in range(self.PARTITIONS)},
                         self.broker.tail())
        self.assertTrue(latencies)
        self.assertLess(max(latencies), 2.0, f"ApiVersions took {max(latencies):.3f}s")
        with open(self.broker.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        self.assertIn(f"and {self.PARTITIONS} committed offset(s)", log)
        self.assertEqual(self.broker.stop(), 0, self.broker.tail())


if __name__ == "__main__":
    unittest.main()
