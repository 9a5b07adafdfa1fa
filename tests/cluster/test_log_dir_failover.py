"""A leader's log dir fails at run time (issue 14, item 3; Kafka's log dir event notification):
broker 1 keeps its log dir on a loop-mounted ext4 image that is forced read-only while it leads.
The next write there fails, broker 1 reports its offline replicas (/rill/offline_replicas/1 and
/log_dir_event_notification/log_dir_event_<seq>), the controller moves leadership to an in-sync
replica and drops broker 1 from the ISR although broker 1 stays registered, and an idempotent
acks=all producer continues with nothing acknowledged lost. Needs root and loop devices; skips
with a message otherwise."""

import os
import shutil
import tempfile
import unittest

from cluster_harness import ClusterTestCase, check_acked_present, produce_sync, read_partition
from loop_fs import force_read_only, mount_ext4, run


class LogDirFailoverTest(ClusterTestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root (mount)")
        cls.root = tempfile.mkdtemp(prefix="rill-logdir-failover-")
        try:
            cls.mnt, cls.trigger = mount_ext4(cls.root, "b1")
        except unittest.SkipTest:
            shutil.rmtree(cls.root, ignore_errors=True)
            raise
        if not os.path.exists(cls.trigger):
            cls._unmount()
            raise unittest.SkipTest(f"{cls.trigger} missing: cannot force ext4 read-only")
        cls.broker_overrides = {1: {"log.dirs": os.path.join(cls.mnt, "data")}}
        try:
            super().setUpClass()
        except BaseException:
            cls._unmount()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            super().tearDownClass()
        finally:
            cls._unmount()

    @classmethod
    def _unmount(cls):
        run(["umount", "-l", cls.mnt])
        shutil.rmtree(cls.root, ignore_errors=True)

    def test_leadership_moves_off_the_failed_log_dir(self):
        c = self.cluster
        topic = "ldfail"
        c.create_topic(topic, assignment=[[1, 2, 3], [2, 3, 1]])
        c.wait_isr(topic, 0, {1, 2, 3})
        c.wait_isr(topic, 1, {1, 2, 3})
        self.assertEqual(c.wait_for_leader(topic, 0), 1)
        acked, failed = produce_sync(c.bootstrap(), topic, range(0, 200))
        self.assertFalse(failed)

        force_read_only(self.trigger)
        # The next write on broker 1 fails (EROFS); the producer's retries land on the new
        # leader once the controller moved it.
        more, failed = produce_sync(c.bootstrap(), topic, range(200, 400))
        self.assertFalse(failed, f"produce failed after the log dir failure: {failed}")
        acked.update(more)
        leader = c.timed("leadership leaves the failed log dir",
                         lambda: c.wait_for_leader(topic, 0, exclude=(1,)))
        self.assertIn(leader, (2, 3))
        c.wait_isr(topic, 0, {2, 3})
        # Broker 1 is still up and registered; its follower replica of partition 1 (same dir)
        # left that ISR too.
        self.assertTrue(c.broker(1).running)
        self.assertIn(1, c.registered_ids())
        c.wait_isr(topic, 1, {2, 3})
        offline = c.zk_json("/rill/offline_replicas/1")
        self.assertEqual(sorted((p["topic"], p["partition"]) for p in offline["partitions"]
                                if p["topic"] == topic), [(topic, 0), (topic, 1)])
        c.wait(lambda: c.zk_children("/log_dir_event_notification") == [], 30,
               "the controller consumed the log dir event")

        records = read_partition(c.bootstrap([2, 3]), topic, 0, max(acked.values()) + 1)
        check_acked_present(self, acked, records)


if __name__ == "__main__":
    unittest.main()
