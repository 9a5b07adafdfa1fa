"""Produced batches that lie about their records are refused with Kafka's errors (#13 item 2),
decompression bombs are bounded and kept off the shards (item 3), and real clients' batches
with every codec still pass. Raw Produce requests: no client sends such batches."""

import os
import socket
import threading
import time
import unittest

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import produce_wire as pw
from net_util import api_versions_latency, wait_metric
from rill_harness import BrokerTestCase

INVALID_RECORD, INVALID_TIMESTAMP, CORRUPT_MESSAGE = 87, 32, 2


def good_records(n, key=b"k", size=10):
    return [pw.record(i, key=key, value=bytes([65 + i % 26]) * size) for i in range(n)]


def open_files(pid):
    """What the process's descriptors point at, but the files of __consumer_offsets."""
    out = []
    for f in os.listdir(f"/proc/{pid}/fd"):
        try:
            t = os.readlink(f"/proc/{pid}/fd/{f}")
        except OSError:
            continue
        if "/__consumer_offsets-" not in t:
            out.append(t)
    return out


class ProduceValidationTest(BrokerTestCase):
    overrides = {"num.partitions": "1"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        admin = AdminClient({"bootstrap.servers": cls.broker.bootstrap})
        topics = [NewTopic("plain", 1, 1), NewTopic("bomb", 8, 1),
                  NewTopic("compacted", 1, 1, config={"cleanup.policy": "compact"})]
        for f in admin.create_topics(topics).values():
            f.result(15)

    def end_offset(self, topic, partition=0):
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": "wm"})
        try:
            return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
        finally:
            c.close()

    def send(self, topic, data, version=8, partition=0):
        return pw.produce(self.broker.port, {topic: [(partition, data)]}, version)[(topic, partition)]

    def assert_refused(self, topic, data, code, record_indexes=None):
        before = self.end_offset(topic)
        p = self.send(topic, data)
        self.assertEqual(p["error_code"], code, p)
        self.assertTrue(p["error_message"], p)
        if record_indexes is not None:
            self.assertEqual([i for i, _ in p["record_errors"]], record_indexes, p)
            self.assertTrue(all(m for _, m in p["record_errors"]), p)
        self.assertEqual(self.end_offset(topic), before, "a refused batch moved the log end")
        return p

    def test_good_batches_are_appended(self):
        for codec in (0, pw.GZIP, pw.LZ4):
            before = self.end_offset("plain")
            p = self.send("plain", pw.batch(good_records(5), codec=codec))
            self.assertEqual(p["error_code"], 0, p)
            self.assertEqual(self.end_offset("plain"), before + 5)

    def test_gzip_batch_claiming_int32_max_records(self):
        data = pw.batch(good_records(3), count=2**31 - 1, codec=pw.GZIP)
        self.assert_refused("plain", data, INVALID_RECORD)

    def test_record_count_below_the_records_present(self):
        self.assert_refused("plain", pw.batch(good_records(3), count=2, last_offset_delta=1),
                            INVALID_RECORD)

    def test_unparsable_uncompressed_records(self):
        noise = bytes((i * 131 + 7) % 256 for i in range(400))
        self.assert_refused("plain", pw.batch([], count=5, section=noise), INVALID_RECORD)

    def test_wrong_offset_deltas_name_the_records(self):
        recs = [pw.record(0), pw.record(1), pw.record(7), pw.record(3)]
        self.assert_refused("plain", pw.batch(recs), INVALID_RECORD, record_indexes=[2])

    def test_inconsistent_last_offset_delta(self):
        self.assert_refused("plain", pw.batch(good_records(3), last_offset_delta=9), INVALID_RECORD)

    def test_timestamps_outside_the_topic_window(self):
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        strict = NewTopic("strict-ts", 1, 1, config={"message.timestamp.before.max.ms": "60000",
                                                     "message.timestamp.after.max.ms": "60000"})
        admin.create_topics([strict])["strict-ts"].result(15)
        now = int(time.time() * 1000)
        recs = [pw.record(0, ts_delta=0), pw.record(1, ts_delta=-3_600_000),
                pw.record(2, ts_delta=5_000), pw.record(3, ts_delta=7_200_000)]
        self.assert_refused("strict-ts", pw.batch(recs, base_timestamp=now), INVALID_TIMESTAMP,
                            record_indexes=[1, 3])
        # The broker default (Kafka 4): at most one hour ahead of the broker's clock.
        far = pw.batch(good_records(2), base_timestamp=now + 2 * 3_600_000)
        self.assert_refused("plain", far, INVALID_TIMESTAMP, record_indexes=[0, 1])
        old = pw.batch(good_records(2), base_timestamp=now - 365 * 86_400_000)
        self.assertEqual(self.send("plain", old)["error_code"], 0)

    def test_null_key_on_a_compacted_topic(self):
        recs = [pw.record(0, key=b"a"), pw.record(1, key=None), pw.record(2, key=b"c")]
        p = self.assert_refused("compacted", pw.batch(recs), INVALID_RECORD, record_indexes=[1])
        self.assertIn("key", p["record_errors"][0][1])
        # Also inside a compressed batch, which the broker now inflates in bounded chunks.
        self.assert_refused("compacted", pw.batch(recs, codec=pw.GZIP), INVALID_RECORD,
                            record_indexes=[1])

    def test_malformed_headers(self):
        negative_key = pw.varint(1) + pw.varint(-4) + pw.varint(0)
        self.assert_refused("plain", pw.batch([pw.record(0, raw_headers=negative_key)]),
                            INVALID_RECORD)
        lying_count = pw.varint(2**31 - 1) + b"\x02ab\x00"
        self.assert_refused("plain", pw.batch([pw.record(0, raw_headers=lying_count)]),
                            INVALID_RECORD)

    def test_control_batch_from_a_client(self):
        data = pw.batch(good_records(1), attributes=pw.ATTR_CONTROL | pw.ATTR_TRANSACTIONAL,
                        producer_id=9, base_sequence=0)
        self.assert_refused("plain", data, INVALID_RECORD)

    def test_flipped_byte_is_corrupt_message(self):
        data = bytearray(pw.batch(good_records(3)))
        data[70] ^= 0x10
        self.assert_refused("plain", bytes(data), CORRUPT_MESSAGE)

    def test_zip_bomb_is_bounded(self):
        # 200 MiB of zeros in one record: ~200 KiB of gzip, beyond the request's inflation bound.
        bomb = pw.batch([pw.record(0, value=bytes(200 << 20))], codec=pw.GZIP)
        self.assertLess(len(bomb), 1 << 20)
        p = self.assert_refused("plain", bomb, INVALID_RECORD)
        self.assertIn("inflate", p["error_message"])

    def test_a_flood_of_lies_leaves_no_files_or_offsets_behind(self):
        pid = self.broker.proc.pid
        before = self.end_offset("plain")  # (creates __consumer_offsets, whose logs are made
        # in the background: its files are left out of the count below)
        fds_before = len(open_files(pid))
        lie = pw.batch(good_records(3), count=2**31 - 1, codec=pw.GZIP)
        with socket.create_connection(("127.0.0.1", self.broker.port), timeout=30) as s:
            for _ in range(2000):
                p = pw.produce(self.broker.port, {"plain": [(0, lie)]}, sock=s)[("plain", 0)]
                self.assertEqual(p["error_code"], INVALID_RECORD)
        self.assertEqual(self.end_offset("plain"), before)
        files = open_files(pid)
        kinds = {}
        for t in files:
            kinds[t.split(":")[0]] = kinds.get(t.split(":")[0], 0) + 1
        self.assertLess(len(files), fds_before + 20, kinds)

    def test_real_clients_with_every_codec(self):
        for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
            before = self.end_offset("compacted")
            p = Producer({"bootstrap.servers": self.broker.bootstrap, "compression.codec": codec,
                          "linger.ms": 20, "enable.idempotence": True})
            errors = []
            for i in range(500):
                p.produce("compacted", key=b"key-%d" % i, value=b"x" * 300,
                          headers=[("trace", b"%d" % i)],
                          on_delivery=lambda e, m: e and errors.append(e))
            p.flush(30)
            self.assertEqual(errors, [], codec)
            self.assertEqual(self.end_offset("compacted"), before + 500, codec)


class ValidationOffTheShardTest(BrokerTestCase):
    """One shard: a request whose compressed batches take long to validate must not stall
    another connection of that shard (the validation runs on the pool)."""

    overrides = {"num.shards": "1", "rill.validation.threads": "1",
                 "rill.produce.max.inflated.bytes": str(1 << 30)}

    def test_big_compressed_produce_does_not_stall_the_shard(self):
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        admin.create_topics([NewTopic("big", 8, 1, config={"cleanup.policy": "compact"})])["big"].result(15)
        # Eight partitions, each one keyed record of 60 MiB of text: ~480 MiB to inflate.
        value = (b"the quick brown fox jumps over the lazy dog " * 1_500_000)[: 60 << 20]
        data = pw.batch([pw.record(0, key=b"k", value=value)], codec=pw.GZIP)
        done = threading.Event()
        result = {}

        def big_produce():
            try:
                result.update(pw.produce(self.broker.port,
                                         {"big": [(i, data) for i in range(8)]}, timeout=120))
            finally:
                done.set()

        t = threading.Thread(target=big_produce)
        t.start()
        worst = 0.0
        samples = 0
        while not done.is_set():
            worst = max(worst, api_versions_latency(self.broker.port, timeout=10))
            samples += 1
            time.sleep(0.01)
        t.join()
        self.assertTrue(all(p["error_code"] == 0 for p in result.values()), result)
        self.assertGreater(samples, 3)
        self.assertLess(worst, 1.0, f"ApiVersions waited {worst:.2f} s behind the validation")
        # Everything the request and its validation held is given back.
        self.assertEqual(wait_metric(self.broker.admin_url,
                                     "kafka_network_socketserver_memorypoolused",
                                     lambda v: v == 0), 0)


if __name__ == "__main__":
    unittest.main()
