"""Group configs (KIP-848) on the GROUP config resource (type 32): IncrementalAlterConfigs sets
and deletes group.consumer.session.timeout.ms and group.consumer.heartbeat.interval.ms within
the broker's group.consumer.min/max.* bounds (INVALID_CONFIG otherwise, and for unknown keys);
DescribeConfigs lists both keys, DYNAMIC_GROUP_CONFIG when set, else DEFAULT_CONFIG with the
broker's value; the values survive a restart; ConsumerGroupHeartbeat hands out the group's
heartbeat interval; and a librdkafka 2.15 member (group.protocol=consumer) follows it.

The installed confluent-kafka (1.7) has no GROUP config resource and no
incremental_alter_configs, so the admin requests are built by hand (flexible DescribeConfigs v4
and IncrementalAlterConfigs v1). The librdkafka part is skipped when ../shared is absent."""

import os
import shutil
import struct
import tempfile
import time
import unittest
import uuid

import kip848_wire as wire
from groups_util import create_topic
from rill_harness import Broker

HERE = os.path.dirname(os.path.abspath(__file__))
RDK215 = os.path.normpath(os.path.join(HERE, "../../../shared/clients/librdkafka-2.15/lib"))

GROUP_RESOURCE = 32
INVALID_CONFIG = 40
SESSION = "group.consumer.session.timeout.ms"
INTERVAL = "group.consumer.heartbeat.interval.ms"
DYNAMIC_GROUP_CONFIG = 8
DEFAULT_CONFIG = 5
SET, DELETE, APPEND = 0, 1, 2

# Bounds wide enough for quick tests, narrow enough to test refusals.
OVERRIDES = {
    "group.consumer.min.session.timeout.ms": "3000",
    "group.consumer.max.session.timeout.ms": "60000",
    "group.consumer.min.heartbeat.interval.ms": "500",
    "group.consumer.max.heartbeat.interval.ms": "15000",
    SESSION: "45000",
    INTERVAL: "12000",
}


def carray(items):
    return wire.uvarint(len(items) + 1) + b"".join(items)


def describe(port, group, keys=None):
    """DescribeConfigs v4 of one GROUP resource: (error, message, {name: (value, source)})."""
    res = struct.pack(">b", GROUP_RESOURCE) + wire.cstr(group)
    res += wire.uvarint(0) if keys is None else carray([wire.cstr(k) for k in keys])
    res += wire.uvarint(0)
    body = carray([res]) + struct.pack(">??", False, False) + wire.uvarint(0)
    r = wire._request(port, 32, 4, body)
    r.take(">i")
    assert r.uvarint() == 2
    err = r.take(">h")
    msg = r.cstr()
    r.take(">b")
    r.cstr()
    configs = {}
    for _ in range(r.uvarint() - 1):
        name = r.cstr()
        value = r.cstr()
        r.take(">?")  # read only
        source = r.take(">b")
        r.take(">?")  # sensitive
        for _ in range(r.uvarint() - 1):
            r.cstr(), r.cstr(), r.take(">b"), r.uvarint()
        r.take(">b")  # type
        r.cstr()  # documentation
        r.uvarint()
        configs[name] = (value, source)
    return err, msg, configs


def alter(port, group, ops, validate_only=False):
    """IncrementalAlterConfigs v1 on one GROUP resource, ops [(name, op, value)]:
    (error, message)."""
    cfgs = [wire.cstr(n) + struct.pack(">b", op) + wire.cstr(v) + wire.uvarint(0)
            for n, op, v in ops]
    res = struct.pack(">b", GROUP_RESOURCE) + wire.cstr(group) + carray(cfgs) + wire.uvarint(0)
    body = carray([res]) + struct.pack(">?", validate_only) + wire.uvarint(0)
    r = wire._request(port, 44, 1, body)
    r.take(">i")
    assert r.uvarint() == 2
    return r.take(">h"), r.cstr()


def heartbeat_interval(port, group, topic):
    """Joins a new member (ConsumerGroupHeartbeat v0) and returns the interval it is given."""
    body = wire.cstr(group) + wire.cstr(str(uuid.uuid4())) + struct.pack(">i", 0)
    body += wire.cstr(None) + wire.cstr(None) + struct.pack(">i", 30000)
    body += carray([wire.cstr(topic)]) + wire.cstr(None) + wire.uvarint(1) + wire.uvarint(0)
    deadline = time.time() + 20
    while True:
        r = wire._request(port, 68, 0, body)
        r.take(">i")
        err = r.take(">h")
        msg = r.cstr()
        r.cstr()
        r.take(">i")
        interval = r.take(">i")
        if err not in (14, 15, 16) or time.time() > deadline:
            assert err == 0, (err, msg)
            return interval
        time.sleep(0.2)


class GroupConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="rill-gcfg-")
        self.broker = Broker(data_dir=self.dir, overrides=OVERRIDES).start()

    def tearDown(self):
        self.broker.stop()
        self.broker.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)

    def test_defaults_then_set_then_delete(self):
        port = self.broker.port
        err, msg, c = describe(port, "g-defaults")
        self.assertEqual(err, 0, msg)
        self.assertEqual(c, {SESSION: ("45000", DEFAULT_CONFIG),
                             INTERVAL: ("12000", DEFAULT_CONFIG)})
        self.assertEqual(alter(port, "g-defaults", [(INTERVAL, SET, "700")]), (0, None))
        err, _, c = describe(port, "g-defaults")
        self.assertEqual(c[INTERVAL], ("700", DYNAMIC_GROUP_CONFIG))
        self.assertEqual(c[SESSION], ("45000", DEFAULT_CONFIG))
        self.assertEqual(describe(port, "g-defaults", [SESSION])[2],
                         {SESSION: ("45000", DEFAULT_CONFIG)})
        # Another group is not affected.
        self.assertEqual(describe(port, "g-other")[2][INTERVAL], ("12000", DEFAULT_CONFIG))
        # validate_only changes nothing.
        self.assertEqual(alter(port, "g-defaults", [(SESSION, SET, "5000")], True), (0, None))
        self.assertEqual(describe(port, "g-defaults")[2][SESSION], ("45000", DEFAULT_CONFIG))
        self.assertEqual(alter(port, "g-defaults", [(INTERVAL, DELETE, None)]), (0, None))
        self.assertEqual(describe(port, "g-defaults")[2][INTERVAL], ("12000", DEFAULT_CONFIG))

    def test_invalid_values_are_refused(self):
        port = self.broker.port
        cases = [
            [(SESSION, SET, "2999")],        # below group.consumer.min.session.timeout.ms
            [(SESSION, SET, "60001")],       # above the max
            [(INTERVAL, SET, "499")],
            [(INTERVAL, SET, "15001")],
            [(INTERVAL, SET, "ten")],
            [("group.consumer.max.size", SET, "3")],  # not a group config
            [(INTERVAL, APPEND, "1000")],
            # Each value in bounds, but the interval must stay below the session timeout.
            [(SESSION, SET, "4000"), (INTERVAL, SET, "5000")],
        ]
        for ops in cases:
            err, msg = alter(port, "g-bad", ops)
            self.assertEqual(err, INVALID_CONFIG, (ops, msg))
            self.assertTrue(msg, ops)
        err, msg = alter(port, "g-bad", [(SESSION, SET, "2999")])
        self.assertIn("group.consumer.min.session.timeout.ms", msg)
        _, _, c = describe(port, "g-bad")
        self.assertEqual(c, {SESSION: ("45000", DEFAULT_CONFIG),
                             INTERVAL: ("12000", DEFAULT_CONFIG)})

    def test_values_survive_a_restart_and_reach_heartbeats(self):
        port = self.broker.port
        topic = "gcfg-" + uuid.uuid4().hex[:6]
        create_topic(self.broker.bootstrap, topic, 1)
        self.assertEqual(alter(port, "g-keep", [(SESSION, SET, "5000"), (INTERVAL, SET, "800")]),
                         (0, None))
        self.assertEqual(heartbeat_interval(port, "g-keep", topic), 800)
        self.assertEqual(heartbeat_interval(port, "g-plain", topic), 12000)
        self.broker.stop()
        self.broker.start()
        port = self.broker.port
        _, _, c = describe(port, "g-keep")
        self.assertEqual(c, {SESSION: ("5000", DYNAMIC_GROUP_CONFIG),
                             INTERVAL: ("800", DYNAMIC_GROUP_CONFIG)})
        self.assertEqual(heartbeat_interval(port, "g-keep", topic), 800)


@unittest.skipUnless(os.path.isdir(RDK215),
                     f"librdkafka 2.15 not found at {RDK215} (../shared is absent)")
class GroupConfigMemberTest(unittest.TestCase):
    """The broker's interval (12 s) would leave a second member waiting for the first one's
    next heartbeat before partitions move; the group's 600 ms makes it quick. A killed member
    is dropped after the group's 3 s session timeout, not the broker's 45 s."""

    def setUp(self):
        from test_consumer_protocol import Member
        self.Member = Member
        self.broker = Broker(overrides=OVERRIDES).start()
        self.members = []
        self.topic = "gcfg-members"
        create_topic(self.broker.bootstrap, self.topic, 4)

    def tearDown(self):
        for m in self.members:
            m.stop(10)
        self.broker.stop()
        self.broker.cleanup()

    def wait_for(self, pred, what, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pred():
                return time.time()
            time.sleep(0.1)
        self.fail(f"timed out waiting for {what}; broker log:\n{self.broker.tail(30)}")

    def member(self, group):
        m = self.Member(self.broker.bootstrap, group, topic=self.topic)
        self.members.append(m)
        self.wait_for(lambda: any(e["ev"] == "lib" for e in m.snapshot()), "a worker", 30)
        return m

    def test_members_follow_the_group_config(self):
        group = "g-rdk"
        self.assertEqual(alter(self.broker.port, group,
                               [(INTERVAL, SET, "600"), (SESSION, SET, "3000")]), (0, None))
        a = self.member(group)
        self.wait_for(lambda: len(a.owned()) == 4, "a to own every partition", 30)
        time.sleep(2)  # a settles: from now on it only heartbeats on its interval
        b = self.member(group)
        joined = time.time()
        self.wait_for(lambda: len(a.owned()) == 2 and len(b.owned()) == 2,
                      "partitions to move within a few heartbeats of 600 ms", 8)
        self.assertLess(time.time() - joined, 8)
        b.proc.kill()
        b.proc.wait()
        for f in (b.proc.stdin, b.proc.stdout, b.proc.stderr):
            f.close()
        self.members.remove(b)
        killed = time.time()
        self.wait_for(lambda: len(a.owned()) == 4,
                      "a to take back b's partitions after the 3 s session timeout", 20)
        self.assertLess(time.time() - killed, 15)


if __name__ == "__main__":
    unittest.main()
