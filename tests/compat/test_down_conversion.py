"""Fetch v0-v3 down-conversion (issue #13 item 6) with real clients: librdkafka (through
confluent-kafka) produces magic-2 batches, kafka-python pinned to old broker versions fetches
them as magic 0 (Fetch v1) and magic 1 (Fetch v2) message sets."""

import unittest
import uuid

from rill_harness import BrokerTestCase

TS0 = 1600000000000


class DownConversionTest(BrokerTestCase):
    def produce(self, topic, codec, n=300):
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": self.broker.bootstrap, "compression.type": codec,
                      "linger.ms": 20, "enable.idempotence": True, "acks": "all"})
        errors = []
        for i in range(n):
            p.produce(topic, key=b"k%d" % i, value=b"value-%d" % i, partition=0,
                      timestamp=TS0 + i, headers=[("dropped", b"h%d" % i)],
                      on_delivery=lambda err, msg: err and errors.append(err))
        self.assertEqual(p.flush(30), 0)
        self.assertEqual(errors, [])

    def consume_old(self, topic, api_version, start, n):
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(bootstrap_servers=self.broker.bootstrap, api_version=api_version,
                          consumer_timeout_ms=20000, enable_auto_commit=False, group_id=None,
                          max_partition_fetch_bytes=4096)
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, start)
        got = []
        for m in c:
            got.append(m)
            if len(got) == n:
                break
        c.close()
        return got

    def test_old_kafka_python_reads_librdkafka_batches(self):
        for codec in ["none", "gzip", "snappy", "lz4"]:
            topic = "down-%s-%s" % (codec, uuid.uuid4().hex[:6])
            self.produce(topic, codec)
            # (0, 9): Fetch v1, magic 0 (no timestamps); (0, 10, 0): Fetch v2, magic 1.
            # Starting at 7 reads from inside a batch; the small partition fetch size makes
            # several conversions per partition.
            for api_version in [(0, 9), (0, 10, 0)]:
                with self.subTest(codec=codec, api_version=api_version):
                    got = self.consume_old(topic, api_version, 7, 293)
                    self.assertEqual([(m.offset, m.key, m.value) for m in got],
                                     [(i, b"k%d" % i, b"value-%d" % i) for i in range(7, 300)])
                    # Legacy messages carry no headers (kafka-python reads magic 2 in any
                    # Fetch version, so this is what shows the conversion), and magic 0 no
                    # timestamps.
                    self.assertTrue(all(m.headers == [] for m in got))
                    if api_version == (0, 9):
                        self.assertTrue(all(m.timestamp is None for m in got))
                    else:
                        self.assertEqual([m.timestamp for m in got],
                                         [TS0 + i for i in range(7, 300)])
                        self.assertTrue(all(m.timestamp_type == 0 for m in got))

    def test_disabled_conversion_and_deprecated_format_version(self):
        from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        topic = "noconv-" + uuid.uuid4().hex[:6]
        fs = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                           config={"message.format.version": "2.8-IV1"})])
        fs[topic].result(10)
        res = ConfigResource("topic", topic)
        res.set_config("message.format.version", "0.10.2")
        res.set_config("message.downconversion.enable", "false")
        admin.alter_configs([res])[res].result(10)
        configs = admin.describe_configs([ConfigResource("topic", topic)])
        configs = list(configs.values())[0].result(10)
        self.assertEqual(configs["message.format.version"].value, "0.10.2")
        self.assertEqual(configs["message.downconversion.enable"].value, "false")

        self.produce(topic, "none", n=10)
        # Old clients get UNSUPPORTED_VERSION for the partition: nothing is delivered
        # (kafka-python raises it from the iteration).
        from kafka.errors import KafkaError, UnsupportedVersionError
        try:
            got = self.consume_old(topic, (0, 10, 0), 0, 10)
        except KafkaError as e:
            self.assertIsInstance(e, UnsupportedVersionError)
            got = []
        self.assertEqual(got, [])
        # Enabled again, the same client reads everything.
        res = ConfigResource("topic", topic)
        res.set_config("message.format.version", "0.10.2")
        res.set_config("message.downconversion.enable", "true")
        admin.alter_configs([res])[res].result(10)
        got = self.consume_old(topic, (0, 10, 0), 0, 10)
        self.assertEqual([m.value for m in got], [b"value-%d" % i for i in range(10)])


if __name__ == "__main__":
    unittest.main()
