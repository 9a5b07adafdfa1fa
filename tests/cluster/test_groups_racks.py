"""Rack-aware assignment of KIP-848 consumer groups (issue 15): brokers with broker.rack r1..r3
hold one replica each of a topic's partitions; librdkafka 2.15 members with client.rack r1..r3
(group.protocol=consumer) each get the partitions whose replica is in their rack, so every
member can fetch in its own rack. Skipped when ../shared (librdkafka 2.15) is absent."""

import os
import sys
import time
import unittest

from cluster_harness import ClusterTestCase, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))
from test_consumer_protocol import RDK215, Member  # noqa: E402

TOPIC = "racked"


@unittest.skipUnless(os.path.isdir(RDK215),
                     f"librdkafka 2.15 not found at {RDK215} (../shared is absent)")
class RackAwareAssignmentTest(ClusterTestCase):
    overrides = {"group.consumer.heartbeat.interval.ms": 500, "min.insync.replicas": 1}
    broker_overrides = {i: {"broker.rack": f"r{i}"} for i in (1, 2, 3)}

    def test_members_get_the_partitions_of_their_rack(self):
        # Partition p has its one replica on broker (p % 3) + 1, rack r<(p % 3) + 1>.
        self.cluster.create_topic(TOPIC, assignment=[[p % 3 + 1] for p in range(6)])
        bootstrap = self.cluster.bootstrap()
        members = {}
        try:
            for rack in ("r3", "r1", "r2"):
                members[rack] = Member(bootstrap, "racks", {"client.rack": rack}, TOPIC)
            want = {f"r{i}": {p for p in range(6) if p % 3 + 1 == i} for i in (1, 2, 3)}
            wait_until(lambda: {r: m.owned() for r, m in members.items()} == want, 90,
                       "every member to own the partitions of its rack")
            # It stays that way (no churn once reconciled).
            time.sleep(2)
            self.assertEqual({r: m.owned() for r, m in members.items()}, want)
        finally:
            for m in members.values():
                m.stop(15)


if __name__ == "__main__":
    unittest.main()
