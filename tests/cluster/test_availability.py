"""Two of three brokers down (issue 7): with min.insync.replicas=2, acks=all writes are refused
(never acknowledged) while acks=1 writes still succeed; once the brokers are back, acks=all works
again and nothing acknowledged is lost."""

import unittest

from confluent_kafka import KafkaError

from cluster_harness import ClusterTestCase, check_acked_present, produce_sync, read_partition

REFUSED = {KafkaError.NOT_ENOUGH_REPLICAS, KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND}


class TwoBrokersDownTest(ClusterTestCase):
    overrides = {"min.insync.replicas": 2}

    def test_acks_all_refused_acks_1_served(self):
        c = self.cluster
        topic = "available"
        c.create_topic(topic, assignment=[[1, 2, 3]])
        c.wait_isr(topic, 0, {1, 2, 3})
        acked, failed = produce_sync(c.bootstrap(), topic, range(0, 100))
        self.assertFalse(failed)

        leader = c.wait_for_leader(topic, 0)
        followers = sorted({1, 2, 3} - {leader})
        for f in followers:
            c.kill(f)
        c.timed("ISR shrinks to the leader after two followers are killed",
                lambda: c.wait_isr(topic, 0, {leader}))
        self.assertEqual(c.wait_for_leader(topic, 0), leader)

        # acks=all, no retries: the broker's answer itself must be a refusal.
        _ok, refused = produce_sync(c.bootstrap(), topic, range(1000, 1010),
                                    conf={"enable.idempotence": False, "retries": 0,
                                          "message.timeout.ms": 15000})
        self.assertFalse(_ok, f"acks=all acknowledged with one in-sync replica: {_ok}")
        codes = {e.code() for e in refused.values()}
        self.assertTrue(codes <= REFUSED, f"acks=all failed with {refused}, expected "
                                          "NOT_ENOUGH_REPLICAS(_AFTER_APPEND)")
        # An idempotent acks=all producer retrying until its timeout never gets an ack either.
        _ok2, timed_out = produce_sync(c.bootstrap(), topic, range(2000, 2010),
                                       conf={"message.timeout.ms": 8000})
        self.assertFalse(_ok2, f"acks=all acknowledged with one in-sync replica: {_ok2}")
        self.assertEqual(len(timed_out), 10)

        # acks=1 only needs the leader.
        acked1, failed1 = produce_sync(c.bootstrap(), topic, range(3000, 3100),
                                       conf={"enable.idempotence": False, "acks": "1"})
        self.assertFalse(failed1, f"acks=1 failed with two brokers down: {failed1}")
        acked.update(acked1)

        for f in followers:
            c.start_broker(f)
        c.timed("ISR complete again after restarting the followers",
                lambda: c.wait_isr(topic, 0, {1, 2, 3}))
        acked2, failed2 = produce_sync(c.bootstrap(), topic, range(4000, 4100))
        self.assertFalse(failed2, f"acks=all failed with the ISR complete again: {failed2}")
        acked.update(acked2)

        hw = c.wait(lambda: c.watermarks(topic, 0)[1] >= max(acked.values()) + 1 and
                        c.watermarks(topic, 0)[1], 60, "the HW to cover every ack")
        records = read_partition(c.bootstrap(), topic, 0, hw)
        check_acked_present(self, acked, records)
        # A refusal before the append (NOT_ENOUGH_REPLICAS) means the record was never written.
        seqs = {int(v[:10]) for _o, v in records}
        never_written = {s for s, e in refused.items()
                         if e.code() == KafkaError.NOT_ENOUGH_REPLICAS}
        self.assertFalse(seqs & never_written,
                         "records refused with NOT_ENOUGH_REPLICAS are in the log")


if __name__ == "__main__":
    unittest.main()
