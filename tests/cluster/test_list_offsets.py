"""ListOffsets by timestamp never answers above the high watermark (issue 14, item 8).

A leader holds records its follower has not fetched yet (the follower is stopped with SIGSTOP
and replica.lag.time.max.ms keeps it in the ISR, so the high watermark stays behind). Lookups
by timestamp and by max timestamp (-3) must not name those records: a consumer seeking there
would wait for offsets it cannot fetch, and the records could still be truncated away. Kafka's
Partition.fetchOffsetForTimestamp answers -1 then. Once the follower catches up the same
lookups find the records."""

import time
import unittest

from cluster_harness import ClusterTestCase, produce_sync

MAX_TIMESTAMP = -3


class ListOffsetsHighWatermarkTest(ClusterTestCase):
    brokers = 2
    overrides = {"min.insync.replicas": 1, "replica.lag.time.max.ms": 300000}

    def test_lookups_stay_below_the_high_watermark(self):
        c = self.cluster
        topic = "ts-above-hw"
        c.create_topic(topic, assignment=[[1, 2]])
        c.wait_isr(topic, 0, {1, 2})
        leader = c.wait_for_leader(topic, 0)
        follower = 2 if leader == 1 else 1

        acked, failed = produce_sync(c.bootstrap(), topic, range(0, 100))
        self.assertFalse(failed)
        c.wait(lambda: c.watermarks(topic, 0)[1] == 100, 60, "the first records below the HW")
        time.sleep(0.01)
        t_after_first = int(time.time() * 1000) + 1
        time.sleep(0.01)

        c.pause(follower)
        try:
            acked_b, failed = produce_sync(c.bootstrap(), topic, range(100, 150),
                                           conf={"acks": "1", "enable.idempotence": False})
            self.assertFalse(failed)
            self.assertEqual(min(acked_b.values()), 100)
            with c.connection(leader) as conn:
                _low, hw = c.watermarks(topic, 0)
                self.assertEqual(hw, 100, "the stopped follower holds the high watermark back")
                err, offset, ts = conn.list_offsets(topic, 0, t_after_first)
                self.assertEqual(err, 0)
                self.assertEqual((offset, ts), (-1, -1),
                                 "a timestamp lookup named an offset above the high watermark")
                err, offset, ts = conn.list_offsets(topic, 0, MAX_TIMESTAMP)
                self.assertEqual(err, 0)
                self.assertLess(offset, hw, "max timestamp named an offset above the HW")
                # read_committed: the last stable offset bounds it in the same way.
                err, offset, _ = conn.list_offsets(topic, 0, t_after_first, isolation_level=1)
                self.assertEqual((err, offset), (0, -1))
        finally:
            c.resume(follower)

        c.wait(lambda: c.watermarks(topic, 0)[1] == 150, 60, "the follower caught up")
        with c.connection(leader) as conn:
            err, offset, ts = conn.list_offsets(topic, 0, t_after_first)
            self.assertEqual((err, offset), (0, 100))
            self.assertGreaterEqual(ts, t_after_first)
            err, offset, ts = conn.list_offsets(topic, 0, MAX_TIMESTAMP)
            self.assertEqual(err, 0)
            self.assertGreaterEqual(offset, 100)
            self.assertGreaterEqual(ts, t_after_first)


if __name__ == "__main__":
    unittest.main()
