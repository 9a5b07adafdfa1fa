"""kafka-python 2.0.2 (version guessing, legacy formats) and confluent-kafka 1.7 (librdkafka)
against the real broker: admin, produce, consume."""

import unittest
import uuid

from rill_harness import BrokerTestCase


class KafkaPythonTest(BrokerTestCase):
    def test_admin_produce_consume(self):
        from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
        from kafka.admin import NewTopic

        admin = KafkaAdminClient(bootstrap_servers=self.broker.bootstrap, request_timeout_ms=10000)
        topic = "kp-" + uuid.uuid4().hex[:8]
        admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
        self.assertIn(topic, admin.list_topics())

        producer = KafkaProducer(bootstrap_servers=self.broker.bootstrap, acks="all")
        futures = [producer.send(topic, key=b"k%d" % (i % 7), value=b"v%d" % i) for i in range(300)]
        producer.flush()
        metas = [f.get(timeout=10) for f in futures]
        self.assertTrue(all(m.offset >= 0 for m in metas))
        producer.close()

        consumer = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, consumer_timeout_ms=5000,
                                 auto_offset_reset="earliest", enable_auto_commit=False)
        parts = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        got = sorted(int(m.value[1:]) for m in consumer)
        self.assertEqual(got, list(range(300)))
        ends = consumer.end_offsets(parts)
        self.assertEqual(sum(ends.values()), 300)
        consumer.close()

        admin.delete_topics([topic])
        self.assertNotIn(topic, admin.list_topics())
        admin.close()


    def test_legacy_message_formats(self):
        # Pinned broker versions make kafka-python use Produce v0 (magic 0) and v2 (magic 1)
        # message sets, compressed and not; the broker converts them to magic-2 batches.
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition

        for api_version, codec in [((0, 9), None), ((0, 9), "gzip"), ((0, 10, 1), None),
                                   ((0, 10, 1), "gzip"), ((0, 10, 1), "snappy"),
                                   ((0, 10, 1), "lz4")]:
            with self.subTest(api_version=api_version, codec=codec):
                topic = "legacy-%s-%s" % ("".join(map(str, api_version)), codec)
                producer = KafkaProducer(bootstrap_servers=self.broker.bootstrap,
                                         api_version=api_version, compression_type=codec,
                                         linger_ms=20)
                futures = [producer.send(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0)
                           for i in range(200)]
                producer.flush()
                offsets = [f.get(timeout=10).offset for f in futures]
                self.assertEqual(sorted(offsets), list(range(200)))
                producer.close()
                consumer = KafkaConsumer(bootstrap_servers=self.broker.bootstrap,
                                         consumer_timeout_ms=3000, enable_auto_commit=False)
                consumer.assign([TopicPartition(topic, 0)])
                consumer.seek_to_beginning()
                got = [(m.offset, m.key, m.value) for m in consumer]
                self.assertEqual(got, [(i, b"k%d" % i, b"v%d" % i) for i in range(200)])
                consumer.close()


class ConfluentKafkaTest(BrokerTestCase):
    def test_admin_produce_consume(self):
        from confluent_kafka import Consumer, Producer, TopicPartition
        from confluent_kafka.admin import (AdminClient, ConfigResource, NewPartitions, NewTopic)

        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        topic = "ck-" + uuid.uuid4().hex[:8]
        fs = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1,
                                           config={"retention.ms": "3600000"})])
        fs[topic].result(10)
        fs = admin.create_partitions([NewPartitions(topic, 4)])
        fs[topic].result(10)
        md = admin.list_topics(timeout=10)
        self.assertEqual(len(md.topics[topic].partitions), 4)

        res = ConfigResource("topic", topic)
        configs = admin.describe_configs([res])[res].result(10)
        self.assertEqual(configs["retention.ms"].value, "3600000")
        self.assertEqual(configs["cleanup.policy"].value, "delete")
        res.set_config("retention.ms", "7200000")
        admin.alter_configs([res])[res].result(10)
        configs = admin.describe_configs([ConfigResource("topic", topic)])
        self.assertEqual(list(configs.values())[0].result(10)["retention.ms"].value, "7200000")

        delivered = []
        p = Producer({"bootstrap.servers": self.broker.bootstrap, "enable.idempotence": True,
                      "acks": "all", "compression.type": "lz4"})
        for i in range(1000):
            p.produce(topic, key=str(i % 13), value=f"value-{i}",
                      headers=[("h", b"x%d" % i)],
                      on_delivery=lambda err, msg: delivered.append(err))
        p.flush(20)
        self.assertEqual(len(delivered), 1000)
        self.assertTrue(all(e is None for e in delivered), delivered[:3])

        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": "unused",
                      "enable.auto.commit": False})
        c.assign([TopicPartition(topic, p, 0) for p in range(4)])
        seen = {}
        while len(seen) < 1000:
            msg = c.poll(5)
            self.assertIsNotNone(msg, f"only {len(seen)} records consumed")
            self.assertIsNone(msg.error())
            seen[msg.value().decode()] = msg.headers()
        self.assertEqual(seen["value-7"], [("h", b"x7")])
        c.close()

        fs = admin.delete_topics([topic])
        fs[topic].result(10)

    def test_log_append_time_topic(self):
        import time
        from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        topic = "lat-" + uuid.uuid4().hex[:8]
        admin.create_topics([NewTopic(topic, 1, 1, config={
            "message.timestamp.type": "LogAppendTime"})])[topic].result(10)
        p = Producer({"bootstrap.servers": self.broker.bootstrap})
        before = int(time.time() * 1000)
        p.produce(topic, value=b"x", timestamp=1000)  # an old create time, overwritten
        p.flush(10)
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": "unused"})
        c.assign([TopicPartition(topic, 0, 0)])
        msg = c.poll(10)
        self.assertIsNotNone(msg)
        kind, ts = msg.timestamp()
        self.assertEqual(kind, TIMESTAMP_LOG_APPEND_TIME)
        self.assertGreaterEqual(ts, before - 1000)
        c.close()


if __name__ == "__main__":
    unittest.main()
