"""Shards keep serving while partitions are created (issue 14, item 4).

A CreateTopics of many partitions creates their logs (about 7 fsyncs each). That work runs off
the shards: while the CreateTopics is still unanswered, ApiVersions on other connections (spread
over both shards, including the one holding the CreateTopics connection) is answered. The
CreateTopics answer comes once the logs exist: a produce to its last partition right after the
answer succeeds."""

import select
import unittest

import net_util
import produce_wire
from rill_harness import BrokerTestCase

PARTITIONS = 500


def parse_create_topics_v4(resp):
    """[(name, error_code)] of a CreateTopics v4 response (correlation id included)."""
    r = produce_wire._Reader(resp)
    r.take(">i")  # correlation id
    r.take(">i")  # throttle
    out = []
    for _ in range(r.take(">i")):
        name = r.string()
        err = r.take(">h")
        r.string()  # error message
        out.append((name, err))
    return out


class ShardStallTest(BrokerTestCase):
    overrides = {"num.shards": 2}

    @classmethod
    def tearDownClass(cls):
        # Closing 500 logs on SIGTERM takes one fsync round after another (log_manager::close):
        # allow for a loaded machine.
        rc = cls.broker.stop(timeout=180)
        tail = cls.broker.tail()
        cls.broker.cleanup()
        if rc != 0:
            raise AssertionError(f"rill exited with {rc} on SIGTERM:\n{tail}")

    def test_api_versions_answered_during_a_big_create_topics(self):
        port = self.broker.port
        # Connections first, so that some share a shard with the CreateTopics connection.
        others = [net_util.connect(port, timeout=60) for _ in range(4)]
        try:
            for i, s in enumerate(others):
                self.assertEqual(net_util.api_versions_on(s, correlation_id=100 + i), 0)
            with net_util.connect(port, timeout=300) as creator:
                creator.sendall(net_util.create_topics_v4("stall-test", PARTITIONS, 240000))
                answered = 0
                for round_ in range(3):
                    for i, s in enumerate(others):
                        corr = 1000 + round_ * 10 + i
                        self.assertEqual(net_util.api_versions_on(s, correlation_id=corr), 0)
                        answered += 1
                # Every ApiVersions was answered while the CreateTopics was still running.
                pending, _, _ = select.select([creator], [], [], 0)
                self.assertFalse(pending, "CreateTopics answered before the ApiVersions on the "
                                          "other connections: the shards were stalled")
                self.assertEqual(answered, 12)
                result = parse_create_topics_v4(net_util.read_response(creator))
            self.assertEqual(result, [("stall-test", 0)], self.broker.tail())
        finally:
            for s in others:
                s.close()
        # Answered once the logs exist: the last partition takes a produce at once.
        resp = produce_wire.produce(port, {"stall-test": [
            (PARTITIONS - 1, produce_wire.batch([produce_wire.record(0)]))]})
        self.assertEqual(resp[("stall-test", PARTITIONS - 1)]["error_code"], 0, resp)


if __name__ == "__main__":
    unittest.main()
