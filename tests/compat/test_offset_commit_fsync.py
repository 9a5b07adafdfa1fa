"""Offset commits are fsynced before they are acknowledged when rill.acks.all.fsync=true (issue
14 item 6): the coordinator writes __consumer_offsets with acks=all rules, and with the fsync
option an acks=all write is answered only once it is on disk. Before the fix commits were never
fsynced.

The broker's fdatasync/fsync calls are traced with strace (-f -y: every thread, file paths):
a commit must be preceded by an fdatasync of a __consumer_offsets segment that completed before
the commit's answer arrived. The same commit with rill.acks.all.fsync=false syncs no offsets
segment, so the trace tells the two apart. Skips when strace cannot attach (no ptrace)."""

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from confluent_kafka import Consumer, Producer, TopicPartition

from rill_harness import Broker

TOPIC = "fsync-commits"
SEGMENT_SYNC = re.compile(
    r"^\d+\s+(\d+\.\d+)\s+f(?:data)?sync\(\d+<[^>]*/__consumer_offsets-\d+/\d+\.log>\)\s+=\s+0")


class Tracer:
    """strace attached to every thread of a running process, writing to a file."""

    def __init__(self, pid):
        self.out = tempfile.mktemp(prefix="rill-strace-", suffix=".txt")
        self.proc = subprocess.Popen(
            ["strace", "-f", "-y", "-ttt", "-e", "trace=fdatasync,fsync", "-o", self.out,
             "-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # strace reports each attached thread on stderr; give it time to attach to all.
        time.sleep(1.0)
        if self.proc.poll() is not None:
            raise unittest.SkipTest("strace cannot attach: " + self.proc.stderr.read().strip())

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=30)
        self.proc.stderr.close()
        with open(self.out) as f:
            lines = f.readlines()
        os.unlink(self.out)
        return lines


class OffsetCommitFsyncTest(unittest.TestCase):
    def setUp(self):
        if shutil.which("strace") is None:
            self.skipTest("strace is not installed (scripts/setup installs it)")

    def commit_traced(self, fsync):
        broker = Broker(overrides={"rill.acks.all.fsync": "true" if fsync else "false",
                                   "offsets.topic.num.partitions": 1})
        broker.start()
        try:
            p = Producer({"bootstrap.servers": broker.bootstrap})
            p.produce(TOPIC, b"v")
            self.assertEqual(p.flush(30), 0)
            c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "fsync-group",
                          "enable.auto.commit": False})
            try:
                # A first commit creates and loads __consumer_offsets.
                c.commit(offsets=[TopicPartition(TOPIC, 0, 1)], asynchronous=False)
                tracer = Tracer(broker.proc.pid)
                c.commit(offsets=[TopicPartition(TOPIC, 0, 2)], asynchronous=False)
                answered = time.time()
                lines = tracer.stop()
                got = c.committed([TopicPartition(TOPIC, 0)], timeout=30)
                self.assertEqual(got[0].offset, 2)
            finally:
                c.close()
        finally:
            broker.stop()
            broker.cleanup()
        syncs = [float(m.group(1)) for m in map(SEGMENT_SYNC.match, lines) if m]
        if os.environ.get("RILL_TEST_VERBOSE"):
            print(f"fsync={fsync}: {len(lines)} traced calls, offsets segment syncs at {syncs}, "
                  f"answered at {answered:.6f}")
        return [t for t in syncs if t <= answered]

    def test_commit_is_fsynced_before_its_answer(self):
        self.assertTrue(self.commit_traced(fsync=True),
                        "no fdatasync of a __consumer_offsets segment before the commit's answer")

    def test_without_the_fsync_option_no_offsets_segment_is_synced(self):
        self.assertEqual(self.commit_traced(fsync=False), [])


if __name__ == "__main__":
    unittest.main()
