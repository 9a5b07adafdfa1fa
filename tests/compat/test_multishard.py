"""Stress with several shards: parallel produce / consume / metadata / topic churn from kcat
(every codec), confluent-kafka and kafka-python against one broker with num.shards=4.

Partitions spread over the shards, so requests fan out across threads (appends, long-poll
fetch wake-ups, fetch sessions, acks=all flush callbacks, auto-created and deleted topics).
Afterwards the broker must still be up, every acknowledged record of the checked topics must
be readable, SIGTERM must stop it cleanly, and its log must hold no sanitizer report.

RILL_STRESS_SECONDS sets the load phase (default 40 s; CI keeps the whole test near 60 s).
"""

import os
import random
import subprocess
import threading
import time
import unittest
import uuid

from rill_harness import Broker

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
SECONDS = float(os.environ.get("RILL_STRESS_SECONDS", "40"))
SANITIZER_MARKERS = ("AddressSanitizer", "ThreadSanitizer", "LeakSanitizer",
                     "runtime error:", "corrupted", "double free", "malloc(): ", "free(): ")


class MultiShardStressTest(unittest.TestCase):
    def setUp(self):
        self.broker = Broker(overrides={"num.shards": "4", "num.partitions": "6"}).start()
        self.deadline = time.time() + SECONDS
        self.errors = []
        self.lock = threading.Lock()
        self.acked = {}  # topic -> acknowledged record count (checked topics only)

    def tearDown(self):
        self.broker.cleanup()

    # -- helpers ----------------------------------------------------------------------------

    def alive(self):
        return time.time() < self.deadline and self.broker.proc.poll() is None

    def note(self, what):
        with self.lock:
            if len(self.errors) < 50:
                self.errors.append(what)

    def kcat(self, *args, input=None, timeout=30):
        try:
            return subprocess.run(["kcat", "-b", self.broker.bootstrap, *args], input=input,
                                  capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.note(f"kcat {args} timed out")
            return None

    def loop(self, fn):
        def run():
            i = 0
            try:
                while self.alive():
                    fn(i)
                    i += 1
            except Exception as e:  # noqa: BLE001 - reported by the test
                self.note(f"{fn.__name__}: {e!r}")
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    # -- load -------------------------------------------------------------------------------

    def kcat_producer(self, codec):
        topic = f"ms-{codec}"

        def kcat_produce(i):
            n = random.randint(50, 3000)
            lines = "".join(f"k{j % 31}:{codec}-{i}-{j}-{'x' * (j % 70)}\n" for j in range(n))
            p = self.kcat("-P", "-t", topic, "-z", codec, "-K:",
                          "-X", f"compression.codec={codec}", "-X", "acks=all",
                          input=lines.encode())
            if p is not None and p.returncode == 0:
                with self.lock:
                    self.acked[topic] = self.acked.get(topic, 0) + n
            elif p is not None:
                self.note(f"kcat -P {topic}: {p.stderr.decode(errors='replace')[-300:]}")
            if i % 3 == 0:  # auto-create a fresh topic by producing to it
                self.kcat("-P", "-t", f"ms-auto-{codec}-{uuid.uuid4().hex[:6]}", "-z", codec,
                          input=b"a\nb\nc\n")
        return kcat_produce

    def kcat_consumer(self, codec):
        def kcat_consume(i):
            self.kcat("-C", "-t", f"ms-{codec}", "-e", "-q", "-o",
                      random.choice(["beginning", "-500", "end"]), "-X", "fetch.wait.max.ms=50")
        return kcat_consume

    def kcat_metadata(self, i):
        if i % 2:
            self.kcat("-L")
        else:
            self.kcat("-L", "-t", f"ms-meta-{uuid.uuid4().hex[:6]}")  # auto-creates

    def confluent_producer(self, i):
        from confluent_kafka import Producer
        codec = CODECS[i % len(CODECS)]
        topic = "ms-ck"
        p = Producer({"bootstrap.servers": self.broker.bootstrap, "acks": "all",
                      "compression.type": codec, "linger.ms": 2, "enable.idempotence": i % 2 == 0})
        ok = [0]

        def cb(err, _msg):
            if err is None:
                ok[0] += 1
            else:
                self.note(f"confluent delivery: {err}")
        for j in range(2000):
            p.produce(topic, key=str(j % 17), value=f"{codec}-{i}-{j}", on_delivery=cb)
            if j % 500 == 0:
                p.poll(0)
        p.flush(30)
        with self.lock:
            self.acked[topic] = self.acked.get(topic, 0) + ok[0]

    def confluent_consumer(self, i):
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": "ms-unused",
                      "enable.auto.commit": False, "fetch.wait.max.ms": 100,
                      "topic.metadata.refresh.interval.ms": 1000})
        topic = random.choice(["ms-ck"] + [f"ms-{x}" for x in CODECS])
        c.assign([TopicPartition(topic, p, 0) for p in range(6)])
        end = time.time() + 3
        while time.time() < end and self.alive():
            msg = c.poll(0.2)
            if msg is not None and msg.error() and msg.error().code() != -191:  # _PARTITION_EOF
                if "UNKNOWN_TOPIC" not in str(msg.error()):
                    self.note(f"confluent consume: {msg.error()}")
        c.close()

    def kafka_python_consumer(self, i):
        # kafka-python 2.0.2 uses incremental fetch sessions (Fetch v7+); it has no zstd here.
        from kafka import KafkaConsumer, TopicPartition
        c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, consumer_timeout_ms=1500,
                          enable_auto_commit=False, fetch_max_wait_ms=100)
        topic = random.choice([f"ms-{x}" for x in CODECS if x != "zstd"])
        c.assign([TopicPartition(topic, p) for p in range(6)])
        c.seek_to_beginning()
        for n, _ in enumerate(c):
            if n > 5000 or not self.alive():
                break
        c.close()

    def topic_churn(self, i):
        # Create, use and delete topics: partitions appear and disappear on every shard.
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        topic = f"ms-churn-{uuid.uuid4().hex[:6]}"
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(10)
        admin.create_partitions([NewPartitions(topic, 8)])[topic].result(10)
        p = Producer({"bootstrap.servers": self.broker.bootstrap, "acks": "1"})
        for j in range(300):
            p.produce(topic, value=b"churn%d" % j, partition=j % 8)
        p.flush(10)
        self.kcat("-C", "-t", topic, "-e", "-q", "-o", "beginning")
        admin.delete_topics([topic])[topic].result(10)

    # -- the test ---------------------------------------------------------------------------

    def test_parallel_load(self):
        self.kcat("-L", "-t", "ms-ck")  # create the checked topics first
        for codec in CODECS:
            self.kcat("-L", "-t", f"ms-{codec}")
        threads = [self.loop(self.kcat_metadata), self.loop(self.confluent_producer),
                   self.loop(self.confluent_consumer), self.loop(self.kafka_python_consumer),
                   self.loop(self.topic_churn)]
        for codec in CODECS:
            threads.append(self.loop(self.kcat_producer(codec)))
            threads.append(self.loop(self.kcat_consumer(codec)))
        for t in threads:
            t.join(timeout=SECONDS + 60)
        self.assertIsNone(self.broker.proc.poll(), "broker died:\n" + self.broker.tail())
        self.assertEqual(self.errors, [], "client errors; broker log:\n" + self.broker.tail())

        # Every acknowledged record of the checked topics is there.
        for topic, n in sorted(self.acked.items()):
            p = self.kcat("-C", "-t", topic, "-e", "-q", "-o", "beginning", "-f", "x\n",
                          timeout=120)
            self.assertIsNotNone(p)
            self.assertGreaterEqual(p.stdout.count(b"\n"), n, topic)

        rc = self.broker.stop()
        with open(self.broker.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        found = [m for m in SANITIZER_MARKERS if m in log]
        self.assertEqual(found, [], "sanitizer/allocator report in the broker log:\n" + log[-6000:])
        self.assertEqual(rc, 0, self.broker.tail())


if __name__ == "__main__":
    unittest.main()
