"""log.dirs on a small tmpfs (issue 14): once it is full, acks=all produces fail with
KAFKA_STORAGE_ERROR and are never acknowledged, the broker stays up and serves reads, produce
resumes once space is freed, and nothing acknowledged is lost. Needs mount(8) (CI runs as
root); skips with a message where mounting is not permitted."""

import os
import subprocess
import tempfile
import time
import unittest

from rill_harness import Broker

VALUE_SIZE = 20000


def mount_tmpfs(size):
    d = tempfile.mkdtemp(prefix="rill-tmpfs-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(d)
        return None, (r.stderr or r.stdout).strip()
    return d, None


def fill(path, leave_bytes):
    """Writes a ballast file at `path` until only about `leave_bytes` stay free."""
    st = os.statvfs(os.path.dirname(path))
    size = st.f_bavail * st.f_frsize - leave_bytes
    with open(path, "wb") as f:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            f.write(chunk[:min(size, len(chunk))])
            size -= len(chunk)


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        self.mnt, why = mount_tmpfs("64m")
        if not self.mnt:
            self.skipTest(f"cannot mount a tmpfs ({why}); the test needs root")
        self.addCleanup(self._unmount)

    def _unmount(self):
        subprocess.run(["umount", "-l", self.mnt], check=False)
        os.rmdir(self.mnt)

    def produce(self, producer, values):
        """Produces `values` (ints) and waits; returns (acked values, failure error codes)."""
        acked, failed = [], []

        def on_delivery(err, msg):
            if err:
                failed.append(err.code())
            else:
                acked.append(int(msg.value()[:12]))

        for v in values:
            payload = str(v).zfill(12).encode() + b"x" * VALUE_SIZE
            while True:
                try:
                    producer.produce("full", value=payload, partition=0, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
        self.assertEqual(producer.flush(60), 0)
        return acked, failed

    def consume_all(self, broker, expected):
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "disk-full",
                      "enable.auto.commit": False, "fetch.max.bytes": 1 << 20})
        try:
            c.assign([TopicPartition("full", 0, 0)])
            seen = set()
            deadline = time.time() + 60
            while not expected <= seen and time.time() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    seen.add(int(m.value()[:12]))
            return seen
        finally:
            c.close()

    def test_full_log_dir_refuses_produce_then_resumes(self):
        from confluent_kafka import KafkaError, Producer
        from confluent_kafka.admin import AdminClient, NewTopic

        broker = Broker(overrides={"log.dirs": f"{self.mnt}/data"}).start()
        try:
            admin = AdminClient({"bootstrap.servers": broker.bootstrap})
            admin.create_topics([NewTopic("full", 1, 1, config={
                "segment.bytes": str(2 << 20)})])["full"].result(10)
            producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all",
                                 "enable.idempotence": False, "retries": 0, "linger.ms": 5,
                                 "message.timeout.ms": 10000})
            before, failed = self.produce(producer, range(0, 50))
            self.assertEqual(failed, [])
            ballast = os.path.join(self.mnt, "ballast")
            fill(ballast, 6 << 20)

            # About 6 MB left: 20 MB of records fill it, the rest is refused.
            acked, failed = self.produce(producer, range(50, 1050))
            self.assertTrue(failed, "no produce failed on a full log dir")
            self.assertIn(KafkaError.KAFKA_STORAGE_ERROR, failed)
            self.assertIsNone(broker.proc.poll(), "the broker died on a full disk")
            acked = before + acked
            # Still full: reads are served, every acknowledged record is there.
            self.assertLessEqual(set(acked), self.consume_all(broker, set(acked)))

            os.remove(ballast)
            after, failed = self.produce(producer, range(2000, 2100))
            self.assertEqual(failed, [], "produce did not resume once space was freed")
            self.assertEqual(len(after), 100)
            acked += after
            self.assertLessEqual(set(acked), self.consume_all(broker, set(acked)))

            # And after a restart.
            broker.stop()
            broker.start()
            self.assertLessEqual(set(acked), self.consume_all(broker, set(acked)))
        finally:
            broker.cleanup()


if __name__ == "__main__":
    unittest.main()
