"""Consumer-group rebalancing with librdkafka's high-level consumer (confluent-kafka 1.7 on
librdkafka 2.0.2): 1 -> 3 -> 1 members with each assignor, static membership, and a killed
member whose partitions move after its session timeout."""

import os
import signal
import subprocess
import sys
import time
import unittest
import uuid

from groups_util import Member, Tracker, create_topic, produce, wait_for
from rill_harness import BrokerTestCase

PARTITIONS = 6


class RebalanceTest(BrokerTestCase):
    def check_scale(self, strategy):
        topic = "rb-%s-%s" % (strategy, uuid.uuid4().hex[:6])
        group = "g-" + topic
        create_topic(self.broker.bootstrap, topic, PARTITIONS)
        t = Tracker()
        bs = self.broker.bootstrap
        all_partitions = list(range(PARTITIONS))

        c1 = Member(t, "c1", bs, group, topic, strategy)
        c1.start()
        expected = produce(bs, topic, 0, 300)
        self.assertTrue(wait_for(lambda: expected <= t.values, 30),
                        "c1 did not consume everything:\n" + self.broker.tail())
        self.assertEqual(t.owned_by("c1"), all_partitions)

        c2 = Member(t, "c2", bs, group, topic, strategy)
        c3 = Member(t, "c3", bs, group, topic, strategy)
        c2.start()
        c3.start()
        balanced = lambda: all(len(t.owned_by(n)) == 2 for n in ("c1", "c2", "c3"))
        self.assertTrue(wait_for(balanced, 40),
                        "no 2/2/2 split: %s\n%s" % (t.owner, self.broker.tail()))
        expected |= produce(bs, topic, 300, 300)
        self.assertTrue(wait_for(lambda: expected <= t.values, 30),
                        "3 members did not consume everything")
        for name in ("c2", "c3"):
            self.assertGreater(t.by_member.get(name, 0), 0, name + " consumed nothing")

        c2.stop()
        c3.stop()
        self.assertTrue(wait_for(lambda: t.owned_by("c1") == all_partitions, 40),
                        "c1 did not take everything back: %s" % t.owner)
        expected |= produce(bs, topic, 600, 300)
        self.assertTrue(wait_for(lambda: expected <= t.values, 30))
        c1.stop()

        for m in (c1, c2, c3):
            self.assertIsNone(m.error)
            self.assertGreater(t.count(m.name, "assign"), 0)
            self.assertGreater(t.count(m.name, "revoke"), 0)
        self.assertEqual(t.violations, [], "a partition was owned by two live members")

    def test_range(self):
        self.check_scale("range")

    def test_roundrobin(self):
        self.check_scale("roundrobin")

    def test_cooperative_sticky(self):
        self.check_scale("cooperative-sticky")

    def test_static_member_restart_keeps_partitions(self):
        topic = "static-" + uuid.uuid4().hex[:6]
        group = "g-" + topic
        create_topic(self.broker.bootstrap, topic, PARTITIONS)
        t = Tracker()
        bs = self.broker.bootstrap
        a = Member(t, "a", bs, group, topic, instance_id="inst-a", session_ms=15000)
        b = Member(t, "b", bs, group, topic, instance_id="inst-b", session_ms=15000)
        a.start()
        b.start()
        self.assertTrue(wait_for(lambda: len(t.owned_by("a")) == 3 and len(t.owned_by("b")) == 3,
                                 40), "no 3/3 split: %s" % t.owner)
        before = t.owned_by("a")
        b_assigns, b_revokes = t.count("b", "assign"), t.count("b", "revoke")
        time.sleep(1)
        # librdkafka static members send no LeaveGroup on close: the broker keeps the member.
        a.stop()
        a2 = Member(t, "a2", bs, group, topic, instance_id="inst-a", session_ms=15000)
        a2.start()
        self.assertTrue(wait_for(lambda: t.owned_by("a2") == before, 20),
                        "restarted static member got %s, had %s" % (t.owned_by("a2"), before))
        time.sleep(2)
        self.assertEqual((t.count("b", "assign"), t.count("b", "revoke")), (b_assigns, b_revokes),
                         "the other member saw a rebalance")
        expected = produce(bs, topic, 0, 200)
        self.assertTrue(wait_for(lambda: expected <= t.values, 30))
        a2.stop()
        b.stop()
        self.assertEqual(t.violations, [])

    def test_killed_member_partitions_move_after_session_timeout(self):
        topic = "kill-" + uuid.uuid4().hex[:6]
        group = "g-" + topic
        create_topic(self.broker.bootstrap, topic, PARTITIONS)
        t = Tracker()
        bs = self.broker.bootstrap
        c1 = Member(t, "c1", bs, group, topic, session_ms=6000)
        c1.start()
        self.assertTrue(wait_for(lambda: len(t.owned_by("c1")) == PARTITIONS, 30))
        script = (
            "import sys\n"
            "from confluent_kafka import Consumer\n"
            "c = Consumer({'bootstrap.servers': sys.argv[1], 'group.id': sys.argv[2],\n"
            "              'session.timeout.ms': 6000, 'heartbeat.interval.ms': 300,\n"
            "              'auto.offset.reset': 'earliest'})\n"
            "c.subscribe([sys.argv[3]], on_assign=lambda c, p: print('assigned', len(p),"
            " flush=True))\n"
            "while True:\n"
            "    c.poll(0.1)\n")
        child = subprocess.Popen([sys.executable, "-c", script, bs, group, topic],
                                 stdout=subprocess.PIPE)
        try:
            self.assertTrue(wait_for(lambda: len(t.owned_by("c1")) == PARTITIONS // 2, 40),
                            "the second member never got partitions: %s" % t.owner)
            killed = time.time()
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            self.assertTrue(wait_for(lambda: len(t.owned_by("c1")) == PARTITIONS, 40),
                            "partitions did not move: %s\n%s" % (t.owner, self.broker.tail()))
            moved = time.time() - killed
            print("partitions moved %.1f s after kill -9 (session.timeout.ms=6000)" % moved,
                  file=sys.stderr)
            # Not before the session timeout (6 s), and not much after it.
            self.assertGreater(moved, 4.0)
            self.assertLess(moved, 30.0)
        finally:
            if child.poll() is None:
                child.kill()
            child.wait()
        c1.stop()
        self.assertEqual(t.violations, [])


if __name__ == "__main__":
    unittest.main()
