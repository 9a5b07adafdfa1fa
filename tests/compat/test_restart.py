"""Restarts under load: SIGTERM and kill -9 while an idempotent acks=all producer runs. After
the restart every acknowledged record is present exactly once and in order, and topic configs
are unchanged."""

import signal
import threading
import time
import unittest

from rill_harness import Broker

PARTITIONS = 3


class RestartTest(unittest.TestCase):
    def run_scenario(self, sig):
        from confluent_kafka import Consumer, Producer, TopicPartition
        from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

        broker = Broker().start()
        try:
            topic = "restart"
            admin = AdminClient({"bootstrap.servers": broker.bootstrap})
            admin.create_topics([NewTopic(topic, PARTITIONS, 1,
                                          config={"retention.ms": "86400000",
                                                  "segment.bytes": "1048576"})])[topic].result(10)

            acked = {p: [] for p in range(PARTITIONS)}
            failed = []
            lock = threading.Lock()

            def on_delivery(err, msg):
                with lock:
                    if err:
                        failed.append(err)
                    else:
                        acked[msg.partition()].append(int(msg.value()))

            producer = Producer({"bootstrap.servers": broker.bootstrap,
                                 "enable.idempotence": True, "acks": "all",
                                 "linger.ms": 2, "message.timeout.ms": 60000,
                                 "reconnect.backoff.max.ms": 200})
            stop = threading.Event()

            def produce():
                i = 0
                while not stop.is_set():
                    try:
                        producer.produce(topic, value=str(i).encode(), partition=i % PARTITIONS,
                                         on_delivery=on_delivery)
                        i += 1
                    except BufferError:
                        producer.poll(0.05)
                    producer.poll(0)
                    if i % 500 == 0:
                        time.sleep(0.01)
                producer.flush(60)

            t = threading.Thread(target=produce)
            t.start()
            time.sleep(1.5)
            rc = broker.stop(sig)
            if sig == signal.SIGTERM:
                self.assertEqual(rc, 0, broker.tail())
            time.sleep(0.5)
            broker.start()
            time.sleep(1.5)
            stop.set()
            t.join(90)
            self.assertFalse(t.is_alive())
            self.assertEqual(failed, [])
            total = sum(len(v) for v in acked.values())
            self.assertGreater(total, 1000)

            consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused",
                                 "enable.auto.commit": False})
            for p in range(PARTITIONS):
                consumer.assign([TopicPartition(topic, p, 0)])
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                seen = []
                while len(seen) < high:
                    msg = consumer.poll(5)
                    self.assertIsNotNone(msg, f"partition {p}: {len(seen)} of {high}")
                    self.assertIsNone(msg.error())
                    seen.append(int(msg.value()))
                # Exactly once, in order: the log is the acknowledged sequence (plus records
                # whose acknowledgement was lost in the restart, which still appear once).
                self.assertEqual(len(seen), len(set(seen)), f"duplicates in partition {p}")
                self.assertEqual(seen, sorted(seen), f"partition {p} out of order")
                missing = set(acked[p]) - set(seen)
                self.assertEqual(missing, set(), f"acknowledged records lost in partition {p}")
            consumer.close()

            res = ConfigResource("topic", topic)
            configs = admin.describe_configs([res])[res].result(10)
            self.assertEqual(configs["retention.ms"].value, "86400000")
            self.assertEqual(configs["segment.bytes"].value, "1048576")
        finally:
            broker.cleanup()

    def test_sigterm(self):
        self.run_scenario(signal.SIGTERM)

    def test_kill9(self):
        self.run_scenario(signal.SIGKILL)


if __name__ == "__main__":
    unittest.main()
