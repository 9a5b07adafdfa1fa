"""ZooKeeper restart and session expiry (issue 7): brokers re-register (/brokers/ids lists all
three again, a controller is elected) and no acknowledged record is lost, with an idempotent
acks=all producer running throughout.

Session expiry is provoked by pausing a broker with SIGSTOP until ZooKeeper expires its session
(its /brokers/ids node disappears), then resuming it: the broker learns that its session expired
and must open a new one, re-register and re-read the state."""

import time
import unittest

from cluster_harness import (SESSION_TIMEOUT_MS, ClusterTestCase, TrackedProducer,
                             check_acked_present, log, read_partition, wait_acked)


class ZooKeeperTest(ClusterTestCase):
    overrides = {"min.insync.replicas": 2}

    def start_producer(self, topic):
        c = self.cluster
        c.create_topic(topic, assignment=[[1, 2, 3]])
        c.wait_isr(topic, 0, {1, 2, 3})
        p = TrackedProducer(c.bootstrap(), topic, rate=2000)
        p.start()
        self.addCleanup(p.stop)
        wait_acked(p, 2000)
        return p

    def finish_and_check(self, topic, p):
        c = self.cluster
        wait_acked(p, p.acked_count + 2000)
        p.stop()
        acked, failed = p.finish()
        self.assertFalse(p.fatal_errors(), "idempotent producer hit a fatal error")
        self.assertFalse(failed, f"{len(failed)} records not acknowledged, e.g. "
                                 f"{sorted(failed.items())[:3]}")
        c.wait_isr(topic, 0, {1, 2, 3})
        _low, hw = c.watermarks(topic, 0)
        self.assertGreaterEqual(hw, max(acked.values()) + 1)
        check_acked_present(self, acked, read_partition(c.bootstrap(), topic, 0, hw))
        log(f"{topic}: {len(acked)} records acknowledged, all present")

    def test_zookeeper_restart(self):
        c = self.cluster
        topic = "zk-restart"
        p = self.start_producer(topic)
        log("kill -9 ZooKeeper")
        c.zk.kill9()
        # Stay down longer than a session timeout: the brokers' sessions are at stake.
        outage_end = time.monotonic() + SESSION_TIMEOUT_MS / 1000 + 2
        acked_during_outage = p.acked_count
        while time.monotonic() < outage_end:
            time.sleep(0.2)
            self.assertEqual({i for i, b in c.brokers.items() if b.running}, {1, 2, 3},
                             "a broker exited while ZooKeeper was down")
        log(f"{p.acked_count - acked_during_outage} records acknowledged while ZooKeeper was down")
        log("restart ZooKeeper")
        c.timed("brokers registered and a controller elected after a ZooKeeper restart",
                lambda: (c.zk.start(), c.wait_registered({1, 2, 3}, timeout=90),
                         c.wait_controller()))
        c.wait_for_leader(topic, 0)
        self.finish_and_check(topic, p)
        # Topic creation goes through ZooKeeper: it works again. REQUEST_TIMED_OUT is
        # retriable (a broker's ZooKeeper session may still be reconnecting under load): an
        # admin client retries it, so does this test, a bounded number of times.
        for attempt in range(3):
            try:
                c.create_topic("after-zk-restart", partitions=2, replication_factor=3)
                break
            except Exception as e:  # confluent_kafka.KafkaException
                if attempt > 0 and "TOPIC_ALREADY_EXISTS" in str(e):
                    c.wait_topic("after-zk-restart", 2)  # the timed-out attempt created it
                    break
                if attempt == 2 or "REQUEST_TIMED_OUT" not in str(e):
                    raise
                log(f"create topic after the ZooKeeper restart: {e}; retrying")
                time.sleep(2)

    def test_session_expiry(self):
        c = self.cluster
        topic = "zk-expiry"
        p = self.start_producer(topic)
        # Round 1 expires the partition leader's session, round 2 the controller's.
        for role in ("leader", "controller"):
            victim = (c.wait_for_leader(topic, 0) if role == "leader" else c.wait_controller())
            c.pause(victim)
            c.timed(f"session of paused {role} {victim} expired",
                    lambda: c.wait_deregistered(victim))
            if role == "leader":
                c.timed(f"new leader while {victim} is paused",
                        lambda: c.wait_for_leader(topic, 0, exclude={victim}))
            else:
                c.timed(f"new controller while {victim} is paused",
                        lambda: c.wait_controller(exclude={victim}))
            before = p.acked_count
            wait_acked(p, before + 2000)
            c.resume(victim)
            c.timed(f"broker {victim} re-registered after its session expired",
                    lambda: c.wait_registered({1, 2, 3}))
            c.timed(f"broker {victim} back in the ISR",
                    lambda: c.wait_isr(topic, 0, {1, 2, 3}))
        self.finish_and_check(topic, p)


if __name__ == "__main__":
    unittest.main()
