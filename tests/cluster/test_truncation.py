"""Divergent tail truncated on rejoin (issue 7).

The scenario builds an old leader holding records nobody else has, and a new leader, elected
without them, that writes different records at the same offsets:

  1. A (acks=all) is replicated to brokers L, F1, F2 (L leads).
  2. F1 and F2 are killed; the ISR shrinks to {L}; B is written with acks=1 to L alone.
  3. L is killed; F1 and F2 restart. The ISR is {L} and L is gone, so only an unclean election
     (unclean.leader.election.enable=true on this topic) brings the partition back: F1 or F2 leads
     with a new leader epoch and its log ends after A.
  4. C is written to the new leader: C takes the offsets B had on L.
  5. L restarts as a follower. Its high watermark covered B (its ISR was itself), so truncating to
     the high watermark would keep B; it must truncate to the end of A using leader epochs
     (OffsetForLeaderEpoch) and then fetch C.

Afterwards the three replicas are byte-identical up to the high watermark and B is gone."""

import unittest

from cluster_harness import (ClusterTestCase, check_acked_present, log, produce_sync,
                             read_partition, value_seq)

A = range(0, 1000)
B = range(1000, 1500)
C = range(2000, 2300)
D = range(3000, 3200)


class DivergentTailTest(ClusterTestCase):
    overrides = {"min.insync.replicas": 1, "unclean.leader.election.enable": "true"}

    def test_old_leader_truncates_unreplicated_tail(self):
        c = self.cluster
        topic = "diverging"
        c.create_topic(topic, assignment=[[1, 2, 3]],
                       config={"unclean.leader.election.enable": "true",
                               "min.insync.replicas": 1})
        c.wait_isr(topic, 0, {1, 2, 3})
        old = c.wait_for_leader(topic, 0)
        followers = sorted({1, 2, 3} - {old})

        acked_a, failed = produce_sync(c.bootstrap(), topic, A)
        self.assertFalse(failed)
        c.wait(lambda: c.watermarks(topic, 0)[1] == len(A), 60, "A below the HW")

        for f in followers:
            c.kill(f)
        c.wait_isr(topic, 0, {old})
        acked_b, failed = produce_sync(c.bootstrap(), topic, B,
                                       conf={"acks": "1", "enable.idempotence": False})
        self.assertFalse(failed, f"acks=1 to the lone leader failed: {list(failed.items())[:3]}")
        self.assertEqual(sorted(acked_b.values()), list(range(len(A), len(A) + len(B))))
        old_epoch = c.partition_state(topic, 0)["leader_epoch"]

        c.kill(old)
        for f in followers:
            c.start_broker(f)
        new = c.timed("unclean election after the lone ISR member died",
                      lambda: c.wait_for_leader(topic, 0, exclude={old}))
        self.assertIn(new, followers)
        self.assertGreater(c.partition_state(topic, 0)["leader_epoch"], old_epoch)
        # The new leader never had B: its high watermark settles at the end of A.
        c.wait(lambda: c.watermarks(topic, 0)[1] == len(A), 60, "the new leader's HW at end of A")

        acked_c, failed = produce_sync(c.bootstrap(), topic, C)
        self.assertFalse(failed, f"produce to the new leader failed: {list(failed.items())[:3]}")
        self.assertEqual(min(acked_c.values()), len(A), "C should take the offsets B had")

        c.start_broker(old)
        c.timed(f"old leader {old} truncated and back in the ISR",
                lambda: c.wait_isr(topic, 0, {1, 2, 3}))
        acked_d, failed = produce_sync(c.bootstrap(), topic, D)
        self.assertFalse(failed)
        c.wait_isr(topic, 0, {1, 2, 3})

        _low, hw = c.watermarks(topic, 0)
        self.assertEqual(hw, len(A) + len(C) + len(D))
        records = read_partition(c.bootstrap(), topic, 0, hw)
        acked = {**acked_a, **acked_c, **acked_d}
        check_acked_present(self, acked, records)
        self.assertFalse({value_seq(v) for _o, v in records} & set(B),
                         "records of the divergent tail are readable")

        logs = {i: c.log_batches(i, topic, 0, hw) for i in (1, 2, 3)}
        for i in (1, 2, 3):
            self.assertEqual(logs[i][-1][1], hw - 1, f"broker {i}'s log is short of the HW")
            self.assertEqual(logs[i], logs[new], f"broker {i}'s log differs from the leader's")
        # Beyond the HW too: nothing of B may remain on the old leader.
        tail = c.log_batches(old, topic, 0, 1 << 62)
        self.assertFalse(any(b"%010d:" % s in raw for _b, _l, raw in tail for s in B),
                         f"broker {old} still holds records of B")
        log(f"old leader {old} truncated its {len(B)}-record divergent tail; new leader {new}")


if __name__ == "__main__":
    unittest.main()
