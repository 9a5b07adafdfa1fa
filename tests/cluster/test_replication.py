"""Replication under kill -9 (issue 7): replication factor 3, min.insync.replicas=2, an idempotent
acks=all producer sends 200k records while the partition leader is killed with SIGKILL twice and
restarted. Every acknowledged record must be present exactly once, in order, and the three
replicas' logs must be byte-identical up to the high watermark."""

import json
import unittest
import urllib.request

from cluster_harness import (ClusterTestCase, TrackedProducer, check_acked_present, log,
                             produce_sync, read_partition, wait_acked)

TOTAL = 200_000
# (kill the leader once this many records are acknowledged, then let production run up to here)
KILLS = [(40_000, 130_000), (110_000, TOTAL)]


class ReplicationTest(ClusterTestCase):
    overrides = {"min.insync.replicas": 2,
                 # Small segments: replication has to cross segment rolls too.
                 "log.segment.bytes": 1 << 20}

    def test_acked_records_survive_leader_kills(self):
        c = self.cluster
        topic = "replicated"
        c.create_topic(topic, assignment=[[1, 2, 3]])
        c.wait_isr(topic, 0, {1, 2, 3})

        # Paced (so the kills land while records are in flight) and gated by `limit` (so the
        # second kill happens before production ends, however fast the cluster is).
        p = TrackedProducer(c.bootstrap(), topic, total=TOTAL, rate=10_000,
                            conf={"batch.num.messages": 2000})
        p.limit = KILLS[0][0] + 20_000
        p.start()
        self.addCleanup(p.stop)
        killed = []
        for kill_at, release_to in KILLS:
            wait_acked(p, kill_at)
            leader = c.partition_state(topic, 0)["leader"]
            in_flight = p.produced - p.done_count
            c.kill(leader)
            killed.append(leader)
            log(f"killed leader {leader} with {in_flight} records in flight")
            c.timed(f"leader failover after kill -9 of broker {leader}",
                    lambda: c.wait_for_leader(topic, 0, exclude={leader}))
            # Production goes on through the new leader before the old one comes back.
            before = p.acked_count
            p.limit = release_to
            wait_acked(p, before + 5_000)
            c.start_broker(leader)
            c.timed(f"restarted broker {leader} back in the ISR",
                    lambda: c.wait_isr(topic, 0, {1, 2, 3}))

        acked, failed = p.finish()
        self.assertFalse(p.fatal_errors(), "idempotent producer hit a fatal error")
        self.assertFalse(failed, f"{len(failed)} records not acknowledged, e.g. "
                                 f"{sorted(failed.items())[:3]}")
        self.assertEqual(len(acked), TOTAL)
        log(f"{len(acked)} records acknowledged; leaders killed: {killed}")

        # Everything is replicated again: the ISR is complete, so the HW is every replica's end.
        c.wait_isr(topic, 0, {1, 2, 3})
        _low, hw = c.watermarks(topic, 0)
        self.assertGreaterEqual(hw, max(acked.values()) + 1)
        records = read_partition(c.bootstrap(), topic, 0, hw)
        self.assertEqual([o for o, _v in records], list(range(hw)), "offsets have gaps")
        check_acked_present(self, acked, records)

        logs = {i: c.log_batches(i, topic, 0, hw) for i in (1, 2, 3)}
        for i, batches in logs.items():
            self.assertTrue(batches, f"broker {i} has no batches below the HW {hw}")
            self.assertEqual(batches[0][0], 0, f"broker {i}'s log does not start at offset 0")
            self.assertEqual(batches[-1][1], hw - 1,
                             f"broker {i}'s log below the HW ends at {batches[-1][1]}, "
                             f"not {hw - 1}")
        for i in (2, 3):
            self.assertEqual(len(logs[i]), len(logs[1]),
                             f"brokers 1 and {i} hold different numbers of batches below the HW")
            for a, b in zip(logs[1], logs[i]):
                self.assertEqual(a, b, f"brokers 1 and {i} differ at the batch at offset {a[0]}")

    def test_deleted_records_stay_deleted_after_failover(self):
        c = self.cluster
        topic = "trimmed"
        c.create_topic(topic, assignment=[[1, 2, 3]])
        c.wait_isr(topic, 0, {1, 2, 3})
        acked, failed = produce_sync(c.bootstrap(), topic, range(0, 100))
        self.assertFalse(failed)
        leader = c.wait_for_leader(topic, 0)
        with c.connection(leader) as conn:
            err, low = conn.delete_records(topic, 0, 40)
        self.assertEqual((err, low), (0, 40))
        # The followers take the leader's new log start from their next fetch (each broker's
        # admin endpoint reports its own replica).
        def log_start(b):
            url = f"{c.brokers[b].admin_url}/v1/partitions/kafka/{topic}/0"
            with urllib.request.urlopen(url, timeout=5) as r:
                return json.load(r)["log_start_offset"]
        c.wait(lambda: all(log_start(b) == 40 for b in (1, 2, 3)) or None, 30,
               "every replica to drop the deleted records")
        c.kill(leader)
        c.wait_for_leader(topic, 0, exclude={leader})
        self.assertEqual(c.watermarks(topic, 0), (40, 100))
        c.start_broker(leader)

    def test_every_broker_answers_metadata_consistently(self):
        c = self.cluster
        topic = "consistent"
        c.create_topic(topic, partitions=3, replication_factor=3)
        for p in range(3):
            c.wait_isr(topic, p, {1, 2, 3})
        views = {i: c.metadata(i, [topic]) for i in (1, 2, 3)}
        for i, md in views.items():
            self.assertEqual(sorted(md["brokers"]), [1, 2, 3], f"broker {i} lists {md['brokers']}")
            self.assertEqual(md["controller_id"], c.controller_id(), f"broker {i}'s controller")
            self.assertEqual(md["cluster_id"], views[1]["cluster_id"])
            parts = md["topics"][topic]["partitions"]
            for p in range(3):
                st = c.partition_state(topic, p)
                self.assertEqual(parts[p]["leader"], st["leader"], f"broker {i}, partition {p}")
                self.assertEqual(sorted(parts[p]["replicas"]), [1, 2, 3])
                self.assertEqual(sorted(parts[p]["isr"]), [1, 2, 3])
        # Rack-unaware round robin over three brokers: every broker leads one partition.
        self.assertEqual(sorted(c.partition_state(topic, p)["leader"] for p in range(3)), [1, 2, 3])


if __name__ == "__main__":
    unittest.main()
