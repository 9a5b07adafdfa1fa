"""Followers recover and reads stay below the high watermark (issue 14, items 1 and 8).

MidBatchDeleteRecordsTest: replication factor 2 with min.insync.replicas=2. The follower is
killed, the leader alone takes large acks=1 batches, and DeleteRecords puts the log start inside
one of them. The restarted follower is below the leader's log start: it restarts its log there,
and the leader answers its fetch with the whole batch holding that offset (base offset below it).
The follower must restart at the batch's base offset (as Kafka does), rejoin the ISR, and acks=all
must work again.

VisibleOffsetsTest: with the follower stopped (SIGSTOP; it stays in the ISR, so the high watermark
stays behind the leader's log end), ListOffsets by timestamp and by max timestamp (-3) must not
answer with offsets at or above the high watermark; once the follower is back they do."""

import time
import unittest

from cluster_harness import ClusterTestCase, log, make_value, produce_sync

TWO_BROKERS = {"default.replication.factor": 2, "min.insync.replicas": 2,
               "offsets.topic.replication.factor": 2,
               "transaction.state.log.replication.factor": 2}


def produce_acks1(bootstrap, topic, seqs, timestamp=None):
    """acks=1 produce of make_value(seq) in as few batches as possible (one long linger); returns
    the number of failed deliveries."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "1", "enable.idempotence": False,
                  "linger.ms": 300, "batch.num.messages": 100000, "message.timeout.ms": 60000})
    failed = []
    for seq in seqs:
        kw = {"timestamp": timestamp} if timestamp is not None else {}
        p.produce(topic, make_value(seq), partition=0,
                  on_delivery=lambda err, _m: err is not None and failed.append(err), **kw)
    left = p.flush(60)
    if left:
        raise AssertionError(f"{left} records undelivered")
    return failed


class MidBatchDeleteRecordsTest(ClusterTestCase):
    brokers = 2
    overrides = dict(TWO_BROKERS)

    def test_follower_restarts_at_the_batch_base_and_rejoins(self):
        c = self.cluster
        topic = "midbatch"
        c.create_topic(topic, assignment=[[1, 2]])
        c.wait_isr(topic, 0, {1, 2})
        self.assertEqual(c.wait_for_leader(topic, 0), 1)
        acked, failed = produce_sync(c.bootstrap(), topic, range(0, 100))
        self.assertFalse(failed)

        c.kill(2)
        c.wait_isr(topic, 0, {1})
        self.assertFalse(produce_acks1(c.bootstrap(), topic, range(100, 600)))
        _low, hw = c.watermarks(topic, 0)
        self.assertEqual(hw, 600)
        # An offset strictly inside a batch of several records that the follower lacks (it
        # has [0, 100)).
        batches = [(b, last) for b, last, _raw in c.log_batches(1, topic, 0, hw)
                   if b >= 100 and last - b >= 2]
        self.assertTrue(batches, "no multi-record batch written while the follower was down")
        base, last = batches[0]
        mid = base + (last - base) // 2 + 1
        with c.connection(1) as conn:
            self.assertEqual(conn.delete_records(topic, 0, mid), (0, mid))
        log(f"log start now {mid}, inside the batch [{base}, {last}]")

        c.start_broker(2)
        c.timed("follower behind a mid-batch log start back in the ISR",
                lambda: c.wait_isr(topic, 0, {1, 2}))
        acked, failed = produce_sync(c.bootstrap(), topic, range(600, 700))
        self.assertFalse(failed, f"acks=all after the follower's return: {list(failed.items())[:3]}")
        self.assertEqual(sorted(acked.values()), list(range(600, 700)))
        self.assertEqual(c.watermarks(topic, 0), (mid, 700))
        # The follower holds the leader's batches from the one holding the log start on.
        c.wait(lambda: c.log_batches(2, topic, 0, 700)[-1:] == c.log_batches(1, topic, 0, 700)[-1:],
               60, "the follower to hold the last batch")
        leader = [b for b in c.log_batches(1, topic, 0, 700) if b[0] >= base]
        self.assertEqual(c.log_batches(2, topic, 0, 700), leader)


class VisibleOffsetsTest(ClusterTestCase):
    brokers = 2
    # The stopped follower must stay in the ISR for the whole test: it is what holds the high
    # watermark back.
    overrides = dict(TWO_BROKERS, **{"replica.lag.time.max.ms": 600000, "min.insync.replicas": 1,
                                    "zookeeper.session.timeout.ms": 30000})

    def test_lookups_by_timestamp_stay_below_the_high_watermark(self):
        c = self.cluster
        topic = "visible"
        c.create_topic(topic, assignment=[[1, 2]])
        c.wait_isr(topic, 0, {1, 2})
        self.assertEqual(c.wait_for_leader(topic, 0), 1)
        acked, failed = produce_sync(c.bootstrap(), topic, range(0, 10))
        self.assertFalse(failed)
        with c.connection(1) as conn:
            err, _off, committed_ts = conn.list_offsets(topic, 0, -3)
        self.assertEqual(err, 0)
        later = committed_ts + 1000

        c.pause(2)
        self.assertFalse(produce_acks1(c.bootstrap(), topic, range(10, 20), timestamp=later))
        with c.connection(1) as conn:
            self.assertEqual(conn.list_offsets(topic, 0, -1), (0, 10, -1))  # the HW
            by_ts = conn.list_offsets(topic, 0, later)
            by_max = conn.list_offsets(topic, 0, -3)
            at_committed = conn.list_offsets(topic, 0, committed_ts)
            self.assertEqual(conn.list_offsets(topic, 0, -1), (0, 10, -1), "the HW moved")
        self.assertEqual(by_ts, (0, -1, -1), "lookup by timestamp answered above the HW")
        self.assertEqual(by_max, (0, -1, -1), "max timestamp answered above the HW")
        self.assertEqual(at_committed[0], 0)
        self.assertTrue(0 <= at_committed[1] < 10, f"committed lookup: {at_committed}")

        c.resume(2)
        c.wait(lambda: c.watermarks(topic, 0)[1] == 20, 60, "the HW to reach 20")
        with c.connection(1) as conn:
            self.assertEqual(conn.list_offsets(topic, 0, later), (0, 10, later))
            err, off, ts = conn.list_offsets(topic, 0, -3)
        self.assertEqual((err, ts), (0, later))
        self.assertTrue(10 <= off < 20, f"max timestamp offset {off}")


if __name__ == "__main__":
    unittest.main()
