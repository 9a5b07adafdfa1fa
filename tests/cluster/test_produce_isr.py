"""An acks=all produce is answered, and its records become visible to consumers (the high
watermark), only once the whole ISR has them (issue 14: nothing acknowledged is lost), even with
min.insync.replicas=1: the offset-commit rule of test_groups_commit_isr, for produce.

A follower of the partition is paused (SIGSTOP, waited until every thread is stopped) while it
is still in the ISR: a record appended on the leader then cannot reach the ISR; the high
watermark stays where it was and the produce is not answered. Once the follower resumes, the
produce succeeds and the high watermark covers the record."""

import socket
import struct
import unittest

from cluster_harness import ClusterTestCase, log, read_batches, wait_until
import produce_wire as pw

TOPIC = "acked"


class AcksAllWaitsForTheIsrTest(ClusterTestCase):
    overrides = {
        # The ISR rule, not min.insync.replicas, decides when a produce is committed.
        "min.insync.replicas": 1,
        # Keep the paused follower in the ISR (and registered) for the whole test.
        "replica.lag.time.max.ms": 120000,
        "zookeeper.session.timeout.ms": 120000,
    }

    def high_watermark(self, conn):
        err, offset, _ = conn.list_offsets(TOPIC, 0, -1)  # latest, read_uncommitted
        self.assertEqual(err, 0)
        return offset

    def test_produce_not_in_the_isr_is_not_answered(self):
        c = self.cluster
        c.create_topic(TOPIC, partitions=1, replication_factor=3)
        leader = c.wait_isr(TOPIC, 0, [1, 2, 3])["leader"]
        port = c.brokers[leader].port

        def produced_first():
            r = pw.produce(port, {TOPIC: [(0, pw.batch([pw.record(0, value=b"first")]))]})
            return r[(TOPIC, 0)]["error_code"] == 0
        wait_until(produced_first, 60, "the first acks=all produce to succeed")
        with c.connection(leader) as conn:
            self.assertEqual(self.high_watermark(conn), 1)

            follower = next(i for i in sorted(c.brokers) if i != leader)
            leader_dir = c.brokers[leader].partition_dir(TOPIC, 0)
            follower_dir = c.brokers[follower].partition_dir(TOPIC, 0)
            before = len(read_batches(leader_dir, 1 << 62))
            c.pause(follower)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
                    # Sent without waiting for its answer; the request timeout outlasts the test.
                    s.sendall(pw.produce_request(
                        {TOPIC: [(0, pw.batch([pw.record(0, value=b"second")]))]},
                        timeout_ms=120000, correlation_id=2))
                    # The leader appended it ...
                    wait_until(lambda: len(read_batches(leader_dir, 1 << 62)) > before, 60,
                               "the record to be appended on the leader")
                    # ... the paused follower does not have it: not committed, not visible,
                    # not answered.
                    self.assertEqual(len(read_batches(follower_dir, 1 << 62)), before)
                    self.assertEqual(self.high_watermark(conn), 1)
                    s.settimeout(0.5)
                    with self.assertRaises(OSError):  # socket.timeout: no answer yet
                        s.recv(1)
                    s.settimeout(60)
                    c.resume(follower)
                    (n,) = struct.unpack(">i", pw.recv_exact(s, 4))
                    data = pw.recv_exact(s, n)
                    self.assertEqual(struct.unpack_from(">i", data)[0], 2)
                    p = pw.parse_produce_response(data)[(TOPIC, 0)]
                    self.assertEqual((p["error_code"], p["base_offset"]), (0, 1))
            finally:
                c.resume(follower)
            self.assertEqual(self.high_watermark(conn), 2)
            log(f"acks=all produce waited for follower {follower} of leader {leader}")


if __name__ == "__main__":
    unittest.main()
