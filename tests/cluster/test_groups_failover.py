"""Consumer groups across a coordinator failover (issue 7): __consumer_offsets has replication
factor 3; when the broker leading the group's offsets partition (the coordinator, found with
FindCoordinator) is killed with SIGKILL, the group moves with partition leadership, the consumer
keeps consuming and committing, and no committed offset is lost."""

import time
import unittest

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from cluster_harness import ClusterTestCase, log, produce_sync, value_seq, wait_until

TOPIC = "grouped"
PARTITIONS = 3
GROUP = "failover-group"


class CoordinatorFailoverTest(ClusterTestCase):
    overrides = {"min.insync.replicas": 2}

    def produce(self, first, count):
        acked = {}
        for p in range(PARTITIONS):
            a, failed = produce_sync(self.cluster.bootstrap(), TOPIC,
                                     range(first + p * count, first + (p + 1) * count), partition=p)
            self.assertFalse(failed, f"produce to {TOPIC}-{p} failed: {list(failed.items())[:3]}")
            acked.update(a)
        return acked

    def consume_until(self, consumer, seen, want, timeout=120):
        """Polls (committing synchronously every ~200 records, retrying through coordinator
        errors) until every seq in `want` was seen."""
        deadline = time.monotonic() + timeout
        since_commit = 0
        while not want <= seen:
            self.assertLess(time.monotonic(), deadline,
                            f"consumed {len(seen & want)} of {len(want)} records")
            for m in consumer.consume(num_messages=500, timeout=0.5):
                if m.error():
                    log(f"consumer error (retried): {m.error()}")
                    continue
                seen.add(value_seq(m.value()))
                since_commit += 1
            if since_commit >= 200:
                self.commit(consumer)
                since_commit = 0
        self.commit(consumer)

    def commit(self, consumer, timeout=90):
        def ok():
            try:
                consumer.commit(asynchronous=False)  # raises while the coordinator moves
            except KafkaException as e:
                if e.args[0].code() != KafkaError._NO_OFFSET:  # nothing new to commit is fine
                    raise
            return True
        wait_until(ok, timeout, "a synchronous offset commit to succeed", interval=0.2)

    def committed(self, consumer):
        parts = consumer.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)],
                                   timeout=30)
        return {tp.partition: tp.offset for tp in parts}

    def end_offsets(self):
        return {p: self.cluster.watermarks(TOPIC, p)[1] for p in range(PARTITIONS)}

    def new_consumer(self):
        return Consumer({"bootstrap.servers": self.cluster.bootstrap(), "group.id": GROUP,
                         "enable.auto.commit": False, "auto.offset.reset": "earliest",
                         "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
                         "topic.metadata.refresh.interval.ms": 2000,
                         "reconnect.backoff.max.ms": 1000})

    def test_consume_and_commit_through_coordinator_failover(self):
        c = self.cluster
        c.create_topic(TOPIC, partitions=PARTITIONS, replication_factor=3)
        acked = self.produce(0, 1000)

        consumer = self.new_consumer()
        try:
            consumer.subscribe([TOPIC])
            seen = set()
            self.consume_until(consumer, seen, set(acked))
            before = self.committed(consumer)
            self.assertEqual(before, self.end_offsets(), "commits before the failover")

            coordinator = c.wait(lambda: c.find_coordinator(GROUP), 60, "FindCoordinator")
            c.kill(coordinator)

            def new_coordinator():
                n = c.find_coordinator(GROUP)
                return n if n not in (None, coordinator) else None
            new = c.timed(f"group coordinator failover after kill -9 of broker {coordinator}",
                          lambda: c.wait(new_coordinator, 90, "a new group coordinator"))
            log(f"coordinator moved from {coordinator} to {new}")
            for p in range(PARTITIONS):
                c.wait_for_leader(TOPIC, p, exclude={coordinator})

            # The offsets committed before the failover survived (the new coordinator loaded them).
            probe = self.new_consumer()
            try:
                self.assertEqual(self.committed(probe), before, "committed offsets lost")
            finally:
                probe.close()

            # The same consumer keeps consuming and committing new records.
            more = self.produce(100_000, 1000)
            c.timed("consumer caught up after the coordinator failover",
                    lambda: self.consume_until(consumer, seen, set(more)))
            self.assertEqual(self.committed(consumer), self.end_offsets())
        finally:
            consumer.close()

        # A new member of the group starts from the committed offsets: nothing left to read.
        c.start_broker(coordinator)
        again = self.new_consumer()
        try:
            self.assertEqual(self.committed(again), self.end_offsets())
        finally:
            again.close()


if __name__ == "__main__":
    unittest.main()
