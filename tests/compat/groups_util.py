"""Helpers for the consumer-group compat tests: librdkafka (confluent-kafka) group members run
in threads, with an ownership tracker that notices a partition owned by two live members."""

import threading
import time


class Tracker:
    """Who owns which partition, as the members' rebalance callbacks report it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.owner = {}          # partition -> member name
        self.violations = []     # (partition, new owner, current owner)
        self.events = []         # (time, member, "assign"/"revoke", [partitions])
        self.values = set()      # record values consumed
        self.by_member = {}      # member -> count consumed

    def assign(self, name, partitions):
        with self.lock:
            for p in partitions:
                cur = self.owner.get(p)
                if cur is not None and cur != name:
                    self.violations.append((p, name, cur))
                self.owner[p] = name
            self.events.append((time.time(), name, "assign", sorted(partitions)))

    def revoke(self, name, partitions):
        with self.lock:
            for p in partitions:
                if self.owner.get(p) == name:
                    del self.owner[p]
            self.events.append((time.time(), name, "revoke", sorted(partitions)))

    def consumed(self, name, value):
        with self.lock:
            self.values.add(value)
            self.by_member[name] = self.by_member.get(name, 0) + 1

    def owned_by(self, name):
        with self.lock:
            return sorted(p for p, n in self.owner.items() if n == name)

    def count(self, name, kind):
        with self.lock:
            return sum(1 for e in self.events if e[1] == name and e[2] == kind)


class Member(threading.Thread):
    """A confluent-kafka (librdkafka) subscriber polling in its own thread."""

    def __init__(self, tracker, name, bootstrap, group, topic, strategy="range",
                 instance_id=None, session_ms=6000, extra=None):
        super().__init__(daemon=True)
        from confluent_kafka import Consumer
        self.tracker = tracker
        self.name = name
        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 200,
            "session.timeout.ms": session_ms,
            "heartbeat.interval.ms": 300,
            "max.poll.interval.ms": max(20000, session_ms),
            "partition.assignment.strategy": strategy,
            "topic.metadata.refresh.interval.ms": 2000,
        }
        if instance_id:
            conf["group.instance.id"] = instance_id
        conf.update(extra or {})
        self.consumer = Consumer(conf)
        self.topic = topic
        self.stop_flag = threading.Event()
        self.error = None

    def _on_assign(self, consumer, parts):
        self.tracker.assign(self.name, [p.partition for p in parts])

    def _on_revoke(self, consumer, parts):
        self.tracker.revoke(self.name, [p.partition for p in parts])

    def run(self):
        try:
            self.consumer.subscribe([self.topic], on_assign=self._on_assign,
                                    on_revoke=self._on_revoke, on_lost=self._on_revoke)
            while not self.stop_flag.is_set():
                msg = self.consumer.poll(0.1)
                if msg is None:
                    continue
                if msg.error():
                    continue
                self.tracker.consumed(self.name, msg.value().decode())
            self.consumer.close()
        except Exception as e:  # reported by the test
            self.error = e

    def stop(self):
        self.stop_flag.set()
        self.join(timeout=30)


def wait_for(pred, timeout=30, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def produce(bootstrap, topic, start, count):
    """Keyed records with values str(i) for i in [start, start+count)."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + count):
        p.produce(topic, key=b"key-%d" % (i % 37), value=str(i).encode())
    assert p.flush(30) == 0
    return {str(i) for i in range(start, start + count)}


def create_topic(bootstrap, topic, partitions):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    fs = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
    for f in fs.values():
        f.result(30)
