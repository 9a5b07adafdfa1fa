"""Partition reassignment of a live topic (issue 7): a replication-factor-2 topic on brokers {1, 2}
moves to {2, 3} through AlterPartitionReassignments (sent raw to the controller) while an
idempotent acks=all producer and a consumer run. The move completes (ListPartitionReassignments
empty, /brokers/topics and every broker's Metadata show the new replicas, broker 1 drops its
copy), no acknowledged record is lost, and the new replicas are byte-identical up to the HW."""

import os
import threading
import unittest

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from cluster_harness import (ClusterTestCase, TrackedProducer, check_acked_present, log,
                             read_partition, value_seq, wait_acked)

TOPIC = "moving"
BEFORE = {0: [1, 2], 1: [2, 1]}
AFTER = {0: [2, 3], 1: [3, 2]}
NOT_CONTROLLER = 41


class LiveConsumer(threading.Thread):
    """Reads both partitions from the beginning (no committed offsets) until stopped, recording
    {partition: {offset: seq}}; an offset read twice with different records is a conflict."""

    def __init__(self, bootstrap):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reassign-reader",
                           "enable.auto.commit": False, "auto.offset.reset": "earliest",
                           "topic.metadata.refresh.interval.ms": 2000})
        self.seen = {p: {} for p in BEFORE}
        self.conflicts = []
        self.errors = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    def run(self):
        self.c.assign([TopicPartition(TOPIC, p, OFFSET_BEGINNING) for p in BEFORE])
        while not self.stopping.is_set():
            for m in self.c.consume(num_messages=1000, timeout=0.2):
                if m.error():
                    self.errors.append(m.error())
                    continue
                with self.lock:
                    seq = self.seen[m.partition()].setdefault(m.offset(), value_seq(m.value()))
                    if seq != value_seq(m.value()):
                        self.conflicts.append((m.partition(), m.offset(), seq, m.value()[:10]))
        self.c.close()

    def position(self, p):
        with self.lock:
            return max(self.seen[p], default=-1) + 1


class ReassignmentTest(ClusterTestCase):
    overrides = {"min.insync.replicas": 2}

    def alter(self, moves):
        """Sends AlterPartitionReassignments to the controller (retrying on NOT_CONTROLLER)."""
        c = self.cluster

        def send():
            with c.connection(c.wait_controller()) as conn:
                err, msg, parts = conn.alter_partition_reassignments(moves)
            if err == NOT_CONTROLLER:
                return None
            self.assertEqual(err, 0, f"AlterPartitionReassignments: {err} {msg}")
            for tp, (perr, pmsg) in parts.items():
                self.assertEqual(perr, 0, f"AlterPartitionReassignments {tp}: {perr} {pmsg}")
            self.assertEqual(set(parts), set(moves))
            return True
        c.wait(send, 60, "the controller to accept the reassignment")

    def ongoing(self):
        c = self.cluster
        with c.connection(c.wait_controller()) as conn:
            err, msg, ongoing = conn.list_partition_reassignments({TOPIC: sorted(BEFORE)})
        self.assertEqual(err, 0, f"ListPartitionReassignments: {err} {msg}")
        return ongoing

    def moved(self):
        c = self.cluster
        if self.ongoing() or c.assignment(TOPIC) != AFTER:
            return False
        for p, replicas in AFTER.items():
            st = c.partition_state(TOPIC, p)
            if sorted(st["isr"]) != sorted(replicas) or st["leader"] not in replicas:
                return False
        for i in c.live_ids():
            parts = c.metadata(i, [TOPIC])["topics"][TOPIC]["partitions"]
            if any(sorted(parts[p]["replicas"]) != sorted(r) for p, r in AFTER.items()):
                return False
        return True

    def test_move_replicas_under_load(self):
        c = self.cluster
        c.create_topic(TOPIC, assignment=[BEFORE[0], BEFORE[1]])
        for p, replicas in BEFORE.items():
            c.wait_isr(TOPIC, p, set(replicas))
        producers = {p: TrackedProducer(c.bootstrap(), TOPIC, partition=p, rate=2000)
                     for p in BEFORE}
        consumer = LiveConsumer(c.bootstrap())
        for t in [*producers.values(), consumer]:
            t.start()
            self.addCleanup(t.stop if t is not consumer else consumer.stopping.set)
        for p in producers.values():
            wait_acked(p, 3000)
        self.assertEqual(self.ongoing(), {})

        self.alter({(TOPIC, p): r for p, r in AFTER.items()})
        c.timed("reassignment {1,2} -> {2,3} of two live partitions",
                lambda: c.wait(self.moved, 120, f"replicas of {TOPIC} to become {AFTER}",
                                   interval=0.5))
        # The removed replica is deleted from broker 1's disk.
        c.wait(lambda: not any(os.path.exists(c.broker(1).partition_dir(TOPIC, p))
                                   for p in BEFORE), 60, "broker 1 to delete its old replicas")

        for p in producers.values():
            wait_acked(p, p.acked_count + 3000)
            p.stop()
        results = {p: prod.finish() for p, prod in producers.items()}
        for p, prod in producers.items():
            self.assertFalse(prod.fatal_errors(), f"producer {p}: fatal error")
            self.assertFalse(results[p][1], f"partition {p}: {len(results[p][1])} records failed")

        for p, (acked, _failed) in results.items():
            _low, hw = c.watermarks(TOPIC, p)
            self.assertGreaterEqual(hw, max(acked.values()) + 1)
            c.wait(lambda: consumer.position(p) >= hw, 120,
                       f"the live consumer to reach offset {hw} of partition {p}")
            records = read_partition(c.bootstrap(), TOPIC, p, hw)
            check_acked_present(self, acked, records)
            with consumer.lock:
                live = {o: seq for o, seq in consumer.seen[p].items() if o < hw}
                self.assertFalse(consumer.conflicts)
            self.assertEqual(live, {o: value_seq(v) for o, v in records},
                             f"the consumer running during the move read partition {p} differently")
            a, b = (c.log_batches(i, TOPIC, p, hw) for i in AFTER[p])
            self.assertEqual(a[-1][1], hw - 1)
            self.assertEqual(a, b, f"replicas {AFTER[p]} of partition {p} differ below the HW")
            log(f"partition {p}: {len(acked)} records acknowledged, all present after the move")
        consumer.stopping.set()
        consumer.join(30)


if __name__ == "__main__":
    unittest.main()
