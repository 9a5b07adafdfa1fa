"""Checks the parts of the cluster harness that do not need cluster mode: the ZooKeeper launcher
(start, restart on the same data, kill -9), the small ZooKeeper client, the raw Kafka client and
the on-disk batch reader (against a single-node broker)."""

import os
import shutil
import tempfile
import unittest

from cluster_harness import (ZooKeeper, make_value, produce_sync, read_batches, read_partition,
                             rill_harness, value_seq)
from kafka_wire import KafkaConnection


class ZooKeeperLauncherTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="rill-zk-selftest-")
        self.zk = ZooKeeper(self.root)

    def tearDown(self):
        self.zk.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def test_znodes_survive_restart_and_ephemerals_die_with_the_session(self):
        self.zk.start()
        self.assertEqual(self.zk.four_letter("ruok"), "imok")
        with self.zk.client() as z:
            z.ensure_path("/chroot/brokers/ids")
            self.assertTrue(z.create("/chroot/controller_epoch", b"7"))
            self.assertFalse(z.create("/chroot/controller_epoch", b"8"))
            self.assertTrue(z.create("/chroot/brokers/ids/1", b'{"port":1}', ephemeral=True))
            data, stat = z.get("/chroot/brokers/ids/1")
            self.assertEqual(data, b'{"port":1}')
            self.assertEqual(stat["ephemeral_owner"], z.session_id)
            self.assertEqual(z.children("/chroot/brokers/ids"), ["1"])
            self.assertIsNone(z.get("/chroot/nothing"))
            self.assertIsNone(z.children("/chroot/nothing"))
        with self.zk.client() as z:
            self.assertEqual(z.children("/chroot/brokers/ids"), [],
                             "an ephemeral node outlived its session")

        self.zk.kill9()
        with self.assertRaises(OSError):
            self.zk.client()
        self.zk.start()
        with self.zk.client() as z:
            self.assertEqual(z.get("/chroot/controller_epoch")[0], b"7")
            self.assertEqual(z.children("/chroot"), ["brokers", "controller_epoch"])


class RawProtocolAndLogReaderTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.broker = rill_harness.Broker(overrides={"num.shards": 1,
                                                    "log.segment.bytes": 64 * 1024}).start()

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()
        cls.broker.cleanup()

    def test_metadata_and_find_coordinator(self):
        b = self.broker
        produce_sync(b.bootstrap, "raw", range(3), conf={"enable.idempotence": False})
        with KafkaConnection("127.0.0.1", b.port) as c:
            md = c.metadata(["raw"])
            self.assertEqual(md["brokers"][md["controller_id"]][1], b.port)
            part = md["topics"]["raw"]["partitions"][0]
            self.assertEqual(part["leader"], md["controller_id"])
            self.assertEqual(part["isr"], part["replicas"])
            err, node, host, port = c.find_coordinator("some-group")
            self.assertEqual((err, host, port), (0, "127.0.0.1", b.port))

    def test_batches_read_from_segments_match_the_log(self):
        b = self.broker
        acked, failed = produce_sync(b.bootstrap, "segments", range(5000),
                                     conf={"batch.num.messages": 100})
        self.assertFalse(failed)
        records = read_partition(b.bootstrap, "segments", 0, 5000)
        pdir = os.path.join(b.data_dir, "data", "segments-0")
        self.assertGreater(len([f for f in os.listdir(pdir) if f.endswith(".log")]), 1,
                           "expected several segments")
        batches = read_batches(pdir, 5000)
        self.assertEqual(batches[0][0], 0)
        self.assertEqual(batches[-1][1], 4999)
        for (_b0, l0, _r0), (b1, _l1, _r1) in zip(batches, batches[1:]):
            self.assertEqual(b1, l0 + 1, "batches are not contiguous")
        raw = b"".join(r for _b, _l, r in batches)
        for o, v in records[::500]:
            self.assertIn(v, raw)
            self.assertEqual(value_seq(v), o)
        self.assertEqual(read_batches(pdir, 100)[-1][1] < 100, True)
        self.assertNotIn(make_value(4999), b"".join(r for _b, _l, r in read_batches(pdir, 4000)))


if __name__ == "__main__":
    unittest.main()
