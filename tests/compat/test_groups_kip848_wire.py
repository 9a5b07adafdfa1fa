"""KIP-848 rules no client breaks on purpose, on the wire: an invalid subscription regex gets
INVALID_REGULAR_EXPRESSION (RE2, as Kafka's RE2/J), and a member of a consumer-protocol group
committing with OffsetCommit below v9 gets UNSUPPORTED_VERSION (Kafka's rule) while v9 works."""

import unittest
import uuid

import kip848_wire as wire
from groups_util import create_topic
from rill_harness import BrokerTestCase

INVALID_REGULAR_EXPRESSION = 128
UNSUPPORTED_VERSION = 35


class Kip848WireTest(BrokerTestCase):
    def test_an_invalid_regex_is_refused(self):
        # RE2 has no back-references.
        err, msg, _ = wire.heartbeat(self.broker.port, "bad-regex", str(uuid.uuid4()), 0,
                                     regex=r"(rx)\1")
        self.assertEqual(err, INVALID_REGULAR_EXPRESSION, msg)
        self.assertIn("not a valid regular expression", msg or "")
        err, msg, epoch = wire.heartbeat(self.broker.port, "bad-regex", str(uuid.uuid4()), 0,
                                         regex="rx-.*")
        self.assertEqual(err, 0, msg)
        self.assertGreater(epoch, 0)

    def test_offset_commit_below_v9_from_a_member_is_unsupported(self):
        topic = "commits-" + uuid.uuid4().hex[:6]
        create_topic(self.broker.bootstrap, topic, 1)
        member = str(uuid.uuid4())
        err, msg, epoch = wire.heartbeat(self.broker.port, "old-commit", member, 0,
                                         names=[topic])
        self.assertEqual(err, 0, msg)
        port = self.broker.port
        self.assertEqual(wire.offset_commit(port, 8, "old-commit", member, epoch, topic, 0, 5),
                         UNSUPPORTED_VERSION)
        self.assertEqual(wire.offset_commit(port, 9, "old-commit", member, epoch, topic, 0, 5), 0)
        # An empty consumer group still takes simple commits (epoch -1) at any version.
        err, msg, _ = wire.heartbeat(port, "old-commit", member, -1)
        self.assertEqual(err, 0, msg)
        self.assertEqual(wire.offset_commit(port, 8, "old-commit", "", -1, topic, 0, 6), 0)


if __name__ == "__main__":
    unittest.main()
