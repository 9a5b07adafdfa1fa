"""Controller failover (issue 7): when the controller is killed with SIGKILL another broker takes
/controller (with a higher /controller_epoch) and the cluster keeps serving topic creation and
produce; a SIGTERM'd broker moves its leaderships away before it exits (controlled shutdown)."""

import unittest

from cluster_harness import ClusterTestCase, check_acked_present, produce_sync, read_partition


class ControllerFailoverTest(ClusterTestCase):
    overrides = {"min.insync.replicas": 2}

    def produce_and_check(self, topic, partitions, first_seq):
        c = self.cluster
        for p in range(partitions):
            seqs = range(first_seq + p * 1000, first_seq + p * 1000 + 200)
            acked, failed = produce_sync(c.bootstrap(), topic, seqs, partition=p)
            self.assertFalse(failed, f"produce to {topic}-{p} failed: {list(failed.items())[:3]}")
            _low, hw = c.watermarks(topic, p)
            check_acked_present(self, acked, read_partition(c.bootstrap(), topic, p, hw))

    def test_controller_killed(self):
        c = self.cluster
        c.create_topic("before", partitions=3, replication_factor=3)
        for p in range(3):
            c.wait_isr("before", p, {1, 2, 3})
        self.produce_and_check("before", 3, 0)

        old = c.wait_controller()
        epoch = c.controller_epoch()
        c.kill(old)
        new = c.timed(f"controller failover after kill -9 of broker {old}",
                      lambda: c.wait_controller(exclude={old}))
        self.assertNotEqual(new, old)
        self.assertGreater(c.controller_epoch(), epoch, "/controller_epoch did not grow")
        c.wait(lambda: all(c.metadata(i)["controller_id"] == new for i in c.live_ids()), 60,
                   f"every live broker to report controller {new}")
        # The old controller's partitions get new leaders; its replicas leave the ISR.
        for p in range(3):
            c.timed(f"leader of before-{p} available after the controller's death",
                    lambda: c.wait_for_leader("before", p, exclude={old}))
        for p in range(3):
            c.wait_isr("before", p, {1, 2, 3} - {old})

        # Creates and produces keep working with two brokers.
        c.create_topic("after", partitions=3, replication_factor=2)
        for p, replicas in c.assignment("after").items():
            self.assertNotIn(old, replicas, f"after-{p} was assigned to the dead broker {old}")
        self.produce_and_check("after", 3, 10_000)
        self.produce_and_check("before", 3, 20_000)

        # The old controller rejoins as an ordinary broker and catches up.
        c.start_broker(old)
        self.assertEqual(c.controller_id(), new, "a restarted broker took the controller back")
        for p in range(3):
            c.timed(f"broker {old} back in the ISR of before-{p}",
                    lambda: c.wait_isr("before", p, {1, 2, 3}))

    def test_controlled_shutdown_moves_leadership(self):
        c = self.cluster
        topic = "controlled"
        c.create_topic(topic, assignment=[[1, 2, 3], [2, 3, 1], [3, 1, 2]])
        for p in range(3):
            c.wait_isr(topic, p, {1, 2, 3})
        victim = c.partition_state(topic, 0)["leader"]
        rc = c.timed(f"controlled shutdown of broker {victim}", lambda: c.terminate(victim))
        self.assertEqual(rc, 0, "SIGTERM must end in exit code 0")
        # Leadership moved during the shutdown, not after a session timeout.
        for p in range(3):
            st = c.partition_state(topic, p)
            self.assertNotEqual(st["leader"], victim,
                                f"{topic}-{p} still led by {victim} after its controlled shutdown")
        # A clean exit closes the ZooKeeper session: no waiting for the session timeout.
        c.wait(lambda: victim not in c.registered_ids(), 3,
                   f"/brokers/ids/{victim} to go away with the session")
        self.produce_and_check(topic, 3, 0)
        c.start_broker(victim)
        for p in range(3):
            c.wait_isr(topic, p, {1, 2, 3})


if __name__ == "__main__":
    unittest.main()
