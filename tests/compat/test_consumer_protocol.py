"""The consumer group protocol of KIP-848 (group.protocol=consumer) with librdkafka 2.15
(confluent-kafka through LD_LIBRARY_PATH, in worker subprocesses: kip848_worker.py): one member
joins and consumes everything; a second joins and partitions move to it only after the first
revoked them (no record consumed twice: the owner commits on revocation); a member leaves and
its partitions return; a new member resumes from the committed offsets; after a broker restart
a member keeps its membership (the group is replayed from __consumer_offsets).

Static members (group.instance.id): one that closes keeps its partitions until another process
with its instance id takes them over, and a live member's instance id is not released. Regex
subscriptions follow topic creation and deletion (an invalid regex: test_groups_kip848_wire.py).

Skipped when ../shared (librdkafka 2.15) is absent."""

import json
import os
import subprocess
import sys
import threading
import time
import unittest

from rill_harness import Broker

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "../../../shared"))
RDK215 = os.path.join(SHARED, "clients/librdkafka-2.15/lib")
TOPIC = "kip848"
PARTITIONS = 4


class Member:
    """One worker process and the events it printed."""

    def __init__(self, bootstrap, group, extra=None, topic=TOPIC):
        env = dict(os.environ)
        env["LD_LIBRARY_PATH"] = RDK215 + (":" + env["LD_LIBRARY_PATH"]
                                           if env.get("LD_LIBRARY_PATH") else "")
        args = [sys.executable, os.path.join(HERE, "kip848_worker.py"), bootstrap, group, topic]
        if extra:
            args.append(json.dumps(extra))
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, text=True)
        self.events = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.lock:
                self.events.append(ev)

    def snapshot(self):
        with self.lock:
            return list(self.events)

    def messages(self):
        return [(e["p"], e["o"]) for e in self.snapshot() if e["ev"] == "msg"]

    def owned(self):
        """The partitions it owns now (incremental assign/revoke/lost events)."""
        parts = set()
        for e in self.snapshot():
            if e["ev"] == "assign":
                parts |= {p for _, p in e["parts"]}
            elif e["ev"] in ("revoke", "lost"):
                parts -= {p for _, p in e["parts"]}
        return parts

    def owned_tps(self):
        """(topic, partition) pairs it owns now."""
        parts = set()
        for e in self.snapshot():
            if e["ev"] == "assign":
                parts |= {(t, p) for t, p in e["parts"]}
            elif e["ev"] in ("revoke", "lost"):
                parts -= {(t, p) for t, p in e["parts"]}
        return parts

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            try:
                self.send("stop")
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)

    def stderr(self):
        try:
            return self.proc.stderr.read() if self.proc.poll() is not None else ""
        except (OSError, ValueError):
            return ""


@unittest.skipUnless(os.path.isdir(RDK215),
                     f"librdkafka 2.15 not found at {RDK215} (../shared is absent)")
class ConsumerProtocolTest(unittest.TestCase):
    def setUp(self):
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic

        # Short heartbeats keep the reconciliation steps quick.
        self.broker = Broker(overrides={"group.consumer.heartbeat.interval.ms": "500"}).start()
        self.members = []
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(15)
        self.producer = Producer({"bootstrap.servers": self.broker.bootstrap, "linger.ms": 5})
        self.produced = set()  # (partition, offset)

    def tearDown(self):
        for m in self.members:
            m.stop(10)
        self.producer.flush(10)
        rc = self.broker.stop()
        log = self.broker.tail(80)
        self.broker.cleanup()
        self.assertEqual(rc, 0, f"rill exited with {rc}:\n{log}")

    def produce(self, n):
        def done(err, msg):
            self.assertIsNone(err)
            self.produced.add((msg.partition(), msg.offset()))

        for i in range(n):
            self.producer.produce(TOPIC, value=b"v%d" % i, partition=i % PARTITIONS,
                                  on_delivery=done)
        self.assertEqual(self.producer.flush(30), 0)

    def member(self, group, extra=None, topic=TOPIC):
        m = Member(self.broker.bootstrap, group, extra, topic)
        self.members.append(m)
        self.wait_for(lambda: any(e["ev"] == "lib" for e in m.snapshot()), "the worker to start")
        lib = [e for e in m.snapshot() if e["ev"] == "lib"][0]["version"]
        self.assertTrue(lib.startswith("2.15"), f"the worker loaded librdkafka {lib}, not 2.15")
        return m

    def wait_for(self, pred, what, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return
            time.sleep(0.1)
        self.fail(f"timed out waiting for {what}; broker log:\n{self.broker.tail(40)}")

    def consumed(self, *members):
        seen = {}
        for m in members:
            for rec in m.messages():
                seen[rec] = seen.get(rec, 0) + 1
        return seen

    def test_members_come_and_go(self):
        self.produce(200)
        a = self.member("g848")
        self.wait_for(lambda: set(a.messages()) >= self.produced, "a to consume everything")
        self.assertEqual(a.owned(), set(range(PARTITIONS)))

        # b joins: a revokes half (committing its position), b gets them afterwards.
        b = self.member("g848")
        self.wait_for(lambda: len(b.owned()) == PARTITIONS // 2 and
                      len(a.owned()) == PARTITIONS // 2, "the partitions to be split")
        self.assertFalse(a.owned() & b.owned())
        self.produce(200)
        self.wait_for(lambda: set(self.consumed(a, b)) >= self.produced, "a and b to consume")
        dups = {r: n for r, n in self.consumed(a, b).items() if n > 1}
        self.assertEqual(dups, {}, "records consumed twice across the move")
        self.assertTrue(set(b.messages()), "b consumed nothing")

        # b leaves: its partitions go back to a.
        b.stop()
        self.assertTrue(any(e["ev"] == "closed" for e in b.snapshot()), b.stderr())
        self.wait_for(lambda: a.owned() == set(range(PARTITIONS)), "a to get everything back")
        self.produce(100)
        self.wait_for(lambda: set(self.consumed(a, b)) >= self.produced, "a to consume")
        dups = {r: n for r, n in self.consumed(a, b).items() if n > 1}
        self.assertEqual(dups, {}, "records consumed twice after the leave")

        # Commit, leave, and a new member resumes where a stopped.
        a.send("commit")
        self.wait_for(lambda: any(e["ev"] == "committed" for e in a.snapshot()), "a's commit")
        a.stop()
        before = set(self.produced)
        self.produce(40)
        c = self.member("g848")
        fresh = self.produced - before
        self.wait_for(lambda: set(c.messages()) >= fresh, "c to consume the new records")
        time.sleep(1)
        self.assertEqual(set(c.messages()), fresh, "c did not resume from the committed offsets")

    def test_membership_survives_a_broker_restart(self):
        self.produce(40)
        a = self.member("g848r")
        self.wait_for(lambda: set(a.messages()) >= self.produced, "a to consume everything")
        self.wait_for(lambda: a.owned() == set(range(PARTITIONS)), "a to own every partition")
        self.assertEqual(self.broker.stop(), 0)
        self.broker.start()
        self.produce(40)
        self.wait_for(lambda: set(a.messages()) >= self.produced,
                      "a to consume after the restart", timeout=90)
        lost = [e for e in a.snapshot() if e["ev"] == "lost"]
        self.assertEqual(lost, [], "the member lost its partitions: the group was not replayed")
        self.assertEqual(a.owned(), set(range(PARTITIONS)))
        dups = {r: n for r, n in self.consumed(a).items() if n > 1}
        self.assertEqual(dups, {})

    def test_static_member_leaves_and_is_replaced(self):
        self.produce(100)
        a = self.member("g848s", {"group.instance.id": "inst-1"})
        b = self.member("g848s")
        self.wait_for(lambda: len(a.owned()) == PARTITIONS // 2 and
                      len(b.owned()) == PARTITIONS // 2, "a and b to split the partitions")
        self.wait_for(lambda: set(self.consumed(a, b)) >= self.produced, "a and b to consume")
        a_parts, b_parts = a.owned(), b.owned()

        # A static member closing sends epoch -2: it keeps its partitions for its session
        # timeout, so b gets none of them meanwhile.
        a.stop()
        self.assertTrue(any(e["ev"] == "closed" for e in a.snapshot()), a.stderr())
        time.sleep(4)  # 8 heartbeat intervals
        self.assertEqual(b.owned(), b_parts, "b received the partitions of a static member")
        before = set(self.produced)
        self.produce(100)

        # Another process with the same instance id takes a's place and partitions at once.
        c = self.member("g848s", {"group.instance.id": "inst-1"})
        self.wait_for(lambda: c.owned() == a_parts, "c to take over a's partitions", timeout=30)
        self.assertEqual(b.owned(), b_parts)
        fresh = self.produced - before
        self.wait_for(lambda: set(self.consumed(b, c)) >= fresh, "b and c to consume")
        dups = {r: n for r, n in self.consumed(a, b, c).items() if n > 1}
        self.assertEqual(dups, {}, "records consumed twice across the replacement")

    def test_a_held_instance_id_is_not_released(self):
        a = self.member("g848u", {"group.instance.id": "inst-1"})
        self.wait_for(lambda: a.owned() == set(range(PARTITIONS)), "a to own every partition")
        d = self.member("g848u", {"group.instance.id": "inst-1"})
        time.sleep(4)
        self.assertEqual(d.owned(), set(), "a second live member took a held instance id")
        self.assertEqual(a.owned(), set(range(PARTITIONS)))
        self.produce(20)
        self.wait_for(lambda: set(a.messages()) >= self.produced, "a to keep consuming")
        d.stop(10)

    def test_regex_subscription_follows_topic_creation_and_deletion(self):
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        admin.create_topics([NewTopic("rx-one", 2, 1), NewTopic("ry-other", 1, 1)])["rx-one"].result(15)
        m = self.member("g848x", topic="^rx-.*")
        self.wait_for(lambda: m.owned_tps() == {("rx-one", 0), ("rx-one", 1)},
                      "the member to get the matching topic only")
        admin.create_topics([NewTopic("rx-two", 3, 1)])["rx-two"].result(15)
        want = {("rx-one", 0), ("rx-one", 1), ("rx-two", 0), ("rx-two", 1), ("rx-two", 2)}
        self.wait_for(lambda: m.owned_tps() == want, "the new matching topic to be assigned")
        admin.delete_topics(["rx-one"])["rx-one"].result(15)
        self.wait_for(lambda: m.owned_tps() == {("rx-two", 0), ("rx-two", 1), ("rx-two", 2)},
                      "the deleted topic to leave the assignment")


if __name__ == "__main__":
    unittest.main()
