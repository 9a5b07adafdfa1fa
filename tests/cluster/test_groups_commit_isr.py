"""Offset commits are acknowledged and become visible only once the whole ISR of the group's
__consumer_offsets partition has them (issue 14 item 6), as Kafka's coordinator does (acks=all
writes, state applied once committed), even with min.insync.replicas=1.

A follower of the offsets partition is paused (SIGSTOP) while it is still in the ISR: a commit
is then appended on the coordinator but cannot reach the ISR; OffsetFetch must keep returning
the previous offset and the commit must not be answered. Once the follower resumes, the commit
succeeds and OffsetFetch returns it.

With min.insync.replicas=2 and only the coordinator left in the ISR, a commit is refused
(NOT_ENOUGH_REPLICAS, which OffsetCommit answers as COORDINATOR_NOT_AVAILABLE, as Kafka does),
OffsetFetch keeps the previous offset, and commits succeed again once a follower is back in
the ISR. Before the offsets topic was written with acks=all rules, that commit succeeded."""

import struct
import unittest

from cluster_harness import ClusterTestCase, log, read_batches, wait_until
from kafka_wire import Reader, i16, i32, string

OFFSET_COMMIT, OFFSET_FETCH = 8, 9
GROUP = "isr-commit-group"
TOPIC = "committed"


def commit_body(group, topic, partition, offset):
    """OffsetCommit v2 (a simple commit: generation -1, no member, default retention)."""
    return (string(group) + i32(-1) + string("") + struct.pack(">q", -1) + i32(1) + string(topic)
            + i32(1) + i32(partition) + struct.pack(">q", offset) + string(""))


def read_commit_response(r):
    """OffsetCommit v2 response for one partition: its error code."""
    r.i32()  # topics
    r.string()
    r.i32()  # partitions
    r.i32()  # partition index
    return r.i16()


def fetch_offset(conn, group, topic, partition):
    """OffsetFetch v1 of one partition: (error_code, committed offset)."""
    body = string(group) + i32(1) + string(topic) + i32(1) + i32(partition)
    r = conn.request(OFFSET_FETCH, 1, body, flexible=False)
    r.i32()  # topics
    r.string()
    r.i32()  # partitions
    r.i32()  # partition index
    offset = r.i64()
    r.string()  # metadata
    return r.i16(), offset


class CommitWaitsForTheIsrTest(ClusterTestCase):
    overrides = {
        # The ISR rule, not min.insync.replicas, decides when a commit is committed.
        "min.insync.replicas": 1,
        "offsets.topic.num.partitions": 1,
        # Keep the paused follower in the ISR (and registered) for the whole test.
        "replica.lag.time.max.ms": 120000,
        "zookeeper.session.timeout.ms": 120000,
        "offsets.commit.timeout.ms": 120000,
    }

    def coordinator_connection(self):
        node = wait_until(lambda: self.cluster.find_coordinator(GROUP), 60,
                          "FindCoordinator to answer")
        return node, self.cluster.connection(node)

    def test_commit_not_in_the_isr_is_not_fetched(self):
        c = self.cluster
        c.create_topic(TOPIC, partitions=1, replication_factor=3)
        node, conn = self.coordinator_connection()
        c.wait_isr("__consumer_offsets", 0, [1, 2, 3])
        with conn:
            def committed_first():
                with c.connection(node) as k:
                    return read_commit_response(
                        k.request(OFFSET_COMMIT, 2, commit_body(GROUP, TOPIC, 0, 5), False)) == 0
            wait_until(committed_first, 60, "the first commit to succeed")
            self.assertEqual(fetch_offset(conn, GROUP, TOPIC, 0), (0, 5))

            follower = next(i for i in sorted(c.brokers) if i != node)
            leader_dir = c.brokers[node].partition_dir("__consumer_offsets", 0)
            follower_dir = c.brokers[follower].partition_dir("__consumer_offsets", 0)
            before = len(read_batches(leader_dir, 1 << 62))
            c.pause(follower)  # returns once every thread of the follower is stopped
            try:
                # Send the commit without waiting for its answer.
                with c.connection(node) as committer:
                    committer.correlation += 1
                    header = (i16(OFFSET_COMMIT) + i16(2) + i32(committer.correlation)
                              + string(committer.client_id))
                    payload = header + commit_body(GROUP, TOPIC, 0, 10)
                    committer.sock.sendall(i32(len(payload)) + payload)
                    # The coordinator appended it (the leader's log holds one more batch) ...
                    wait_until(lambda: len(read_batches(leader_dir, 1 << 62)) > before, 60,
                               "the commit to be appended on the coordinator")
                    # ... but the paused follower does not have it (checked, so that a follower
                    # that was not really paused fails here, not below): not committed, not
                    # visible.
                    self.assertEqual(len(read_batches(follower_dir, 1 << 62)), before)
                    self.assertEqual(fetch_offset(conn, GROUP, TOPIC, 0), (0, 5))
                    committer.sock.settimeout(0.5)
                    with self.assertRaises(OSError):  # socket.timeout: no answer yet
                        committer.sock.recv(1)
                    committer.sock.settimeout(60)
                    c.resume(follower)
                    (n,) = struct.unpack(">i", committer._recv_exact(4))
                    r = Reader(committer._recv_exact(n))
                    self.assertEqual(r.i32(), committer.correlation)
                    self.assertEqual(read_commit_response(r), 0)
            finally:
                c.resume(follower)
            self.assertEqual(fetch_offset(conn, GROUP, TOPIC, 0), (0, 10))
            log(f"commit waited for follower {follower} of coordinator {node}")


COORDINATOR_NOT_AVAILABLE = 15


class CommitNeedsMinInsyncTest(ClusterTestCase):
    overrides = {
        "min.insync.replicas": 2,
        "offsets.topic.num.partitions": 1,
        "replica.lag.time.max.ms": 3000,
        "zookeeper.session.timeout.ms": 6000,
    }

    def commit(self, node, offset):
        with self.cluster.connection(node) as k:
            return read_commit_response(
                k.request(OFFSET_COMMIT, 2, commit_body(GROUP, TOPIC, 0, offset), False))

    def test_commit_below_min_insync_is_refused(self):
        c = self.cluster
        c.create_topic(TOPIC, partitions=1, replication_factor=3)
        node = wait_until(lambda: c.find_coordinator(GROUP), 60, "FindCoordinator to answer")
        c.wait_isr("__consumer_offsets", 0, [1, 2, 3])
        wait_until(lambda: self.commit(node, 5) == 0, 60, "the first commit to succeed")
        followers = [i for i in sorted(c.brokers) if i != node]
        for f in followers:
            self.assertEqual(c.terminate(f), 0)
        c.wait_isr("__consumer_offsets", 0, [node])
        self.assertEqual(self.commit(node, 10), COORDINATOR_NOT_AVAILABLE)
        with c.connection(node) as conn:
            self.assertEqual(fetch_offset(conn, GROUP, TOPIC, 0), (0, 5))
        c.start_broker(followers[0])
        c.wait_isr("__consumer_offsets", 0, [node, followers[0]])
        wait_until(lambda: self.commit(node, 10) == 0, 60, "the commit to succeed again")
        with c.connection(node) as conn:
            self.assertEqual(fetch_offset(conn, GROUP, TOPIC, 0), (0, 10))
        log(f"commit refused below min.insync.replicas on coordinator {node}")


if __name__ == "__main__":
    unittest.main()
