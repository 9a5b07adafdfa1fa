"""Committed offsets and group administration with real clients: offsets survive broker
SIGTERM and kill -9 and consumer crashes (at-least-once and at-most-once), kcat -G balanced
consumers, kafka-python's group consumer and admin API, confluent-kafka's list_groups."""

import os
import subprocess
import sys
import time
import unittest
import uuid

from groups_util import create_topic, produce, wait_for
from rill_harness import Broker, BrokerTestCase

# A consumer process for the delivery-semantics tests. Prints each record it processes as
# "P <value>", commits synchronously (before or after processing), and dies with os._exit
# (no close, no final commit) after processing `crash_after` records.
WORKER = r"""
import os, sys
from confluent_kafka import Consumer, TopicPartition
bootstrap, group, topic, mode, crash_after = sys.argv[1:6]
crash_after = int(crash_after)
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
c.subscribe([topic])
processed = 0
idle = 0
while True:
    m = c.poll(0.5)
    if m is None:
        idle += 1
        if idle > 20:
            break
        continue
    if m.error():
        continue
    idle = 0
    tp = [TopicPartition(m.topic(), m.partition(), m.offset() + 1)]
    if mode == "at-most-once":
        c.commit(offsets=tp, asynchronous=False)
        if processed == crash_after:
            os._exit(3)  # committed, never processed
    print("P", m.value().decode(), flush=True)
    processed += 1
    if mode == "at-least-once":
        if processed == crash_after:
            os._exit(3)  # processed, not committed
        if processed % 10 == 0:
            c.commit(offsets=tp, asynchronous=False)
c.close()
"""


def run_worker(bootstrap, group, topic, mode, crash_after):
    p = subprocess.run([sys.executable, "-c", WORKER, bootstrap, group, topic, mode,
                        str(crash_after)], capture_output=True, timeout=120)
    values = [line.split()[1] for line in p.stdout.decode().splitlines() if line.startswith("P ")]
    return p.returncode, values


class OffsetsSurviveRestartTest(unittest.TestCase):
    def test_commits_survive_sigterm_and_kill9(self):
        from confluent_kafka import Consumer, TopicPartition
        broker = Broker().start()
        try:
            bs = broker.bootstrap
            topic = "durable-" + uuid.uuid4().hex[:6]
            group = "g-" + topic
            create_topic(bs, topic, 3)
            produce(bs, topic, 0, 90)

            def consumer():
                return Consumer({"bootstrap.servers": bs, "group.id": group,
                                 "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                 "session.timeout.ms": 6000})

            c = consumer()
            c.subscribe([topic])
            seen = []
            while len(seen) < 45:
                m = c.poll(1.0)
                if m is not None and not m.error():
                    seen.append((m.partition(), m.offset(), m.value().decode()))
            c.commit(asynchronous=False)
            committed = {tp.partition: tp.offset
                         for tp in c.committed([TopicPartition(topic, p) for p in range(3)], 10)}
            c.close()

            # SIGTERM restart: the committed offsets come back.
            self.assertEqual(broker.stop(), 0)
            broker.start()
            c = consumer()
            again = {tp.partition: tp.offset
                     for tp in c.committed([TopicPartition(topic, p) for p in range(3)], 10)}
            self.assertEqual(again, committed)
            c.subscribe([topic])
            rest = []
            deadline = time.time() + 30
            while len(seen) + len(rest) < 90 and time.time() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    rest.append((m.partition(), m.offset(), m.value().decode()))
            # Resumed exactly after the last commit: nothing twice, nothing missing.
            values = [v for _, _, v in seen] + [v for _, _, v in rest]
            self.assertEqual(sorted(values, key=int), [str(i) for i in range(90)])
            for p in range(3):
                first = min((o for pp, o, _ in rest if pp == p), default=None)
                if first is not None:
                    # -1001: nothing committed there yet, so it starts at the beginning.
                    self.assertEqual(first, max(committed[p], 0))
            c.commit(asynchronous=False)
            c.close()

            # kill -9: acknowledged commits are not lost.
            broker.kill9()
            broker.start()
            c = consumer()
            after = c.committed([TopicPartition(topic, p) for p in range(3)], 10)
            self.assertEqual(sum(tp.offset for tp in after), 90)
            c.close()
        finally:
            broker.cleanup()


class DeliverySemanticsTest(BrokerTestCase):
    def test_at_least_once_replays_only_the_uncommitted_tail(self):
        bs = self.broker.bootstrap
        topic = "alo-" + uuid.uuid4().hex[:6]
        create_topic(bs, topic, 1)
        produce(bs, topic, 0, 60)
        rc, first = run_worker(bs, "g-" + topic, topic, "at-least-once", 25)
        self.assertEqual(rc, 3)
        self.assertEqual(first, [str(i) for i in range(25)])
        rc, second = run_worker(bs, "g-" + topic, topic, "at-least-once", 10 ** 6)
        self.assertEqual(rc, 0)
        # Committed after 20 processed: 20..24 come again, nothing before them.
        self.assertEqual(second, [str(i) for i in range(20, 60)])

    def test_at_most_once_never_repeats(self):
        bs = self.broker.bootstrap
        topic = "amo-" + uuid.uuid4().hex[:6]
        create_topic(bs, topic, 1)
        produce(bs, topic, 0, 60)
        rc, first = run_worker(bs, "g-" + topic, topic, "at-most-once", 25)
        self.assertEqual(rc, 3)
        rc, second = run_worker(bs, "g-" + topic, topic, "at-most-once", 10 ** 6)
        self.assertEqual(rc, 0)
        both = first + second
        self.assertEqual(len(both), len(set(both)), "a record was processed twice")
        # Record 25 was committed but never processed: lost, as at-most-once allows.
        self.assertEqual(sorted(both, key=int), [str(i) for i in range(60) if i != 25])


class GroupToolsTest(BrokerTestCase):
    def test_kcat_balanced_consumers(self):
        bs = self.broker.bootstrap
        topic = "kcatg-" + uuid.uuid4().hex[:6]
        group = "g-" + topic
        create_topic(bs, topic, 4)
        outs, procs = [], []
        try:
            for i in range(2):
                path = os.path.join(self.broker.data_dir, "kcat-%d.out" % i)
                outs.append(path)
                procs.append(subprocess.Popen(
                    ["kcat", "-b", bs, "-G", group, "-X", "auto.offset.reset=earliest",
                     "-X", "heartbeat.interval.ms=300", "-f", "%p %s\n", "-u", topic],
                    stdout=open(path, "wb"), stderr=subprocess.DEVNULL))
            from kafka import KafkaAdminClient
            admin = KafkaAdminClient(bootstrap_servers=bs)

            def two_members_stable():
                d = admin.describe_consumer_groups([group])[0]
                return d.state == "Stable" and len(d.members) == 2
            self.assertTrue(wait_for(two_members_stable, 40, 0.3), self.broker.tail())
            expected = produce(bs, topic, 0, 400)

            def lines():
                got = []
                for path in outs:
                    with open(path) as f:
                        got.append([l.split() for l in f.read().splitlines() if l.strip()])
                return got
            self.assertTrue(wait_for(
                lambda: {v for out in lines() for _, v in out} >= expected, 30))
            parts = [{p for p, _ in out} for out in lines()]
            self.assertTrue(parts[0] and parts[1], "one kcat consumed nothing: %s" % parts)
            self.assertFalse(parts[0] & parts[1], "a partition went to both members")
            admin.close()
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=30)

    def test_kafka_python_group_consumer_and_admin(self):
        from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
        bs = self.broker.bootstrap
        topic = "kpg-" + uuid.uuid4().hex[:6]
        group = "g-" + topic
        create_topic(bs, topic, 3)
        expected = produce(bs, topic, 0, 150)
        consumer = KafkaConsumer(topic, bootstrap_servers=bs, group_id=group,
                                 auto_offset_reset="earliest", enable_auto_commit=False,
                                 consumer_timeout_ms=8000)
        got = set()
        for m in consumer:
            got.add(m.value.decode())
            if got >= expected:
                break
        self.assertEqual(got, expected)
        consumer.commit()

        admin = KafkaAdminClient(bootstrap_servers=bs)
        self.assertIn((group, "consumer"), admin.list_consumer_groups())
        desc = admin.describe_consumer_groups([group])[0]
        self.assertEqual(desc.state, "Stable")
        self.assertEqual(len(desc.members), 1)
        self.assertEqual(desc.protocol_type, "consumer")
        offsets = admin.list_consumer_group_offsets(group)
        self.assertEqual(sum(o.offset for o in offsets.values()), 150)
        self.assertEqual(set(offsets), {TopicPartition(topic, p) for p in range(3)})

        # A group with a live member cannot be deleted; an empty one can.
        from kafka.errors import NoError, NonEmptyGroupError
        self.assertEqual(admin.delete_consumer_groups([group]), [(group, NonEmptyGroupError)])
        consumer.close()
        self.assertTrue(wait_for(
            lambda: admin.describe_consumer_groups([group])[0].state == "Empty", 20))
        self.assertEqual(admin.delete_consumer_groups([group]), [(group, NoError)])
        self.assertNotIn(group, [g for g, _ in admin.list_consumer_groups()])
        self.assertEqual(admin.list_consumer_group_offsets(group), {})
        admin.close()

    def test_confluent_list_groups(self):
        from confluent_kafka import Consumer
        from confluent_kafka.admin import AdminClient
        bs = self.broker.bootstrap
        topic = "ckg-" + uuid.uuid4().hex[:6]
        group = "g-" + topic
        create_topic(bs, topic, 2)
        c = Consumer({"bootstrap.servers": bs, "group.id": group,
                      "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        self.assertTrue(wait_for(lambda: (c.poll(0.2), bool(c.assignment()))[1], 30))
        admin = AdminClient({"bootstrap.servers": bs})
        groups = {g.id: g for g in admin.list_groups(timeout=10)}
        self.assertIn(group, groups)
        info = groups[group]
        self.assertEqual(info.state, "Stable")
        self.assertEqual(info.protocol_type, "consumer")
        self.assertEqual(len(info.members), 1)
        c.close()


if __name__ == "__main__":
    unittest.main()
