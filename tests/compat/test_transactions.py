"""Transactions (KIP-98) against the real broker with confluent-kafka (librdkafka): commit and
abort as read_committed and read_uncommitted consumers see them, the last stable offset holding
read_committed readers during an open transaction, fencing of a zombie producer by a new
instance with the same transactional.id, consume-transform-produce with
send_offsets_to_transaction, a transaction timeout, and a kill -9 in the middle of a
transaction (the coordinator's state and the partitions' transaction state survive).
DescribeTransactions and ListTransactions are sent by hand (the Python clients here have no
admin call for them). The single-broker scenarios run again with librdkafka 2.15 when
../shared has it."""

import os
import socket
import struct
import subprocess
import sys
import time
import unittest
import uuid

from rill_harness import Broker

OVERRIDES = {
    # Fewer internal partitions: quicker to create, same code paths.
    "transaction.state.log.num.partitions": "4",
    "offsets.topic.num.partitions": "4",
    # test_timeout_aborts waits for the abort of an expired transaction.
    "transaction.abort.timed.out.transaction.cleanup.interval.ms": "500",
}


def create_topic(bootstrap, name, partitions=2):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(15)


def txn_producer(bootstrap, txn_id, **extra):
    from confluent_kafka import Producer
    conf = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5,
            "transaction.timeout.ms": 30000, "message.timeout.ms": 30000}
    conf.update(extra)
    return Producer(conf)


def read_all(bootstrap, topic, partitions, isolation, expect=None, timeout=15.0, quiet=2.0):
    """Every record value of `topic` from the start, as `isolation` sees them. Stops after
    `expect` records (then a short extra wait catches surplus ones) or `quiet` seconds of
    nothing new."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + uuid.uuid4().hex,
                  "enable.auto.commit": False, "isolation.level": isolation,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = []
    deadline = time.time() + timeout
    last_new = time.time()
    try:
        while time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                if expect is not None and len(out) >= expect and time.time() - last_new > 1.0:
                    break
                if expect is None and time.time() - last_new > quiet:
                    break
                continue
            if m.error():
                continue
            out.append(m.value().decode())
            last_new = time.time()
    finally:
        c.close()
    return out


# ---- DescribeTransactions v0 / ListTransactions v0 by hand (flexible versions) ----

def _uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def _compact_str(s):
    b = s.encode()
    return _uvarint(len(b) + 1) + b


class _Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        v = self.d[self.p:self.p + n]
        self.p += n
        return v

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        n, shift = 0, 0
        while True:
            b = self.take(1)[0]
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def compact_str(self):
        n = self.uvarint() - 1
        return None if n < 0 else self.take(n).decode()

    def array(self, item):
        n = self.uvarint() - 1
        return [item() for _ in range(max(n, 0))]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def _call(port, api_key, body):
    """One flexible-version (v0) request; the response body after its header."""
    header = struct.pack(">hhih", api_key, 0, 9, -1) + b"\x00"
    frame = header + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _recv(s, 4))[0]
        r = _Reader(_recv(s, size))
    assert r.i32() == 9
    r.tags()
    return r


def _recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def list_transactions(port, states=()):
    body = _uvarint(len(states) + 1) + b"".join(_compact_str(x) for x in states)
    body += _uvarint(1) + b"\x00"  # no producer id filters, no tags
    r = _call(port, 66, body)
    r.i32()
    error = r.i16()
    unknown = r.array(r.compact_str)

    def entry():
        e = (r.compact_str(), r.i64(), r.compact_str())
        r.tags()
        return e
    return error, unknown, r.array(entry)


def describe_transactions(port, ids):
    body = _uvarint(len(ids) + 1) + b"".join(_compact_str(x) for x in ids) + b"\x00"
    r = _call(port, 65, body)
    r.i32()

    def topic():
        t = (r.compact_str(), r.array(r.i32))
        r.tags()
        return t

    def state():
        d = {"error": r.i16(), "id": r.compact_str(), "state": r.compact_str(),
             "timeout": r.i32(), "start": r.i64(), "pid": r.i64(), "epoch": r.i16()}
        d["topics"] = dict(r.array(topic))
        r.tags()
        return d
    return r.array(state)


class TransactionsTest(unittest.TestCase):
    overrides = OVERRIDES

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(overrides=cls.overrides).start()
        cls.bootstrap = cls.broker.bootstrap

    @classmethod
    def tearDownClass(cls):
        rc = cls.broker.stop()
        log = cls.broker.tail()
        cls.broker.cleanup()
        if rc != 0:
            raise AssertionError(f"rill exited with {rc} on SIGTERM:\n{log}")

    def test_commit_and_abort(self):
        topic = "txn-commit-abort"
        create_topic(self.bootstrap, topic)
        p = txn_producer(self.bootstrap, "tx-commit-abort")
        p.init_transactions(15)
        p.begin_transaction()
        for i in range(10):
            p.produce(topic, value=f"c{i}".encode(), partition=i % 2)
        p.commit_transaction(15)
        p.begin_transaction()
        for i in range(6):
            p.produce(topic, value=f"a{i}".encode(), partition=i % 2)
        p.flush(15)
        p.abort_transaction(15)
        p.begin_transaction()
        for i in range(4):
            p.produce(topic, value=f"d{i}".encode(), partition=i % 2)
        p.commit_transaction(15)

        committed = read_all(self.bootstrap, topic, 2, "read_committed", expect=14)
        self.assertEqual(sorted(committed),
                         sorted([f"c{i}" for i in range(10)] + [f"d{i}" for i in range(4)]),
                         self.broker.tail())
        everything = read_all(self.bootstrap, topic, 2, "read_uncommitted", expect=20)
        self.assertEqual(len(everything), 20)
        self.assertEqual(sorted(x for x in everything if x.startswith("a")),
                         [f"a{i}" for i in range(6)])

    def test_read_committed_holds_at_the_last_stable_offset(self):
        from confluent_kafka import Consumer, Producer, TopicPartition
        topic = "txn-lso"
        create_topic(self.bootstrap, topic, 1)
        plain = Producer({"bootstrap.servers": self.bootstrap})
        plain.produce(topic, value=b"before", partition=0)
        plain.flush(10)
        p = txn_producer(self.bootstrap, "tx-lso")
        p.init_transactions(15)
        p.begin_transaction()
        p.produce(topic, value=b"open", partition=0)
        p.flush(15)
        # A plain record after the open transaction's first record: above the LSO.
        plain.produce(topic, value=b"after", partition=0)
        plain.flush(10)
        self.assertEqual(read_all(self.bootstrap, topic, 1, "read_committed", quiet=2.0),
                         ["before"])
        # ListOffsets with read_committed answers the LSO as the end.
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "lso-check",
                      "isolation.level": "read_committed"})
        try:
            _, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
            self.assertEqual(high, 1)
        finally:
            c.close()
        # DescribeTransactions and ListTransactions show the open transaction.
        d = describe_transactions(self.broker.port, ["tx-lso", "tx-unknown"])
        self.assertEqual(d[0]["error"], 0)
        self.assertEqual(d[0]["state"], "Ongoing")
        self.assertEqual(d[0]["topics"], {topic: [0]})
        self.assertGreater(d[0]["start"], 0)
        self.assertEqual(d[1]["error"], 105)  # TRANSACTIONAL_ID_NOT_FOUND
        error, unknown, listed = list_transactions(self.broker.port, ["Ongoing", "Bogus"])
        self.assertEqual((error, unknown), (0, ["Bogus"]))
        self.assertIn(("tx-lso", d[0]["pid"], "Ongoing"), listed)
        p.commit_transaction(15)
        self.assertEqual(
            read_all(self.bootstrap, topic, 1, "read_committed", expect=3),
            ["before", "open", "after"])
        deadline = time.time() + 10  # CompleteCommit follows the markers
        while True:
            error, _, listed = list_transactions(self.broker.port)
            if ("tx-lso", d[0]["pid"], "CompleteCommit") in listed or time.time() > deadline:
                break
            time.sleep(0.1)
        self.assertIn(("tx-lso", d[0]["pid"], "CompleteCommit"), listed)

    def test_fencing_by_a_new_instance(self):
        from confluent_kafka import KafkaException
        topic = "txn-fence"
        create_topic(self.bootstrap, topic)
        zombie = txn_producer(self.bootstrap, "tx-fence")
        zombie.init_transactions(15)
        zombie.begin_transaction()
        for i in range(5):
            zombie.produce(topic, value=f"z{i}".encode(), partition=i % 2)
        zombie.flush(15)
        fresh = txn_producer(self.bootstrap, "tx-fence")
        fresh.init_transactions(30)  # aborts the zombie's transaction
        fresh.begin_transaction()
        for i in range(3):
            fresh.produce(topic, value=f"f{i}".encode(), partition=i % 2)
        fresh.commit_transaction(15)
        with self.assertRaises(KafkaException) as ctx:
            zombie.produce(topic, value=b"late", partition=0)
            zombie.commit_transaction(15)
        err = ctx.exception.args[0]
        self.assertTrue(err.fatal() or "fenced" in err.str().lower(), err)
        committed = read_all(self.bootstrap, topic, 2, "read_committed", expect=3)
        self.assertEqual(sorted(committed), ["f0", "f1", "f2"])

    def test_consume_transform_produce(self):
        from confluent_kafka import Consumer, Producer, TopicPartition
        src, dst, group = "txn-ctp-in", "txn-ctp-out", "ctp-group"
        create_topic(self.bootstrap, src)
        create_topic(self.bootstrap, dst)
        plain = Producer({"bootstrap.servers": self.bootstrap})
        for i in range(40):
            plain.produce(src, value=str(i).encode(), partition=i % 2)
        plain.flush(10)

        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group,
                      "enable.auto.commit": False, "auto.offset.reset": "earliest",
                      "isolation.level": "read_committed"})
        c.subscribe([src])
        p = txn_producer(self.bootstrap, "tx-ctp")
        p.init_transactions(15)

        def copy_batch(n, commit):
            got = []
            deadline = time.time() + 20
            while len(got) < n and time.time() < deadline:
                m = c.poll(0.5)
                if m is None or m.error():
                    continue
                got.append(m)
            self.assertEqual(len(got), n)
            p.begin_transaction()
            for m in got:
                p.produce(dst, value=b"x" + m.value(), partition=m.partition())
            p.send_offsets_to_transaction(c.position(c.assignment()),
                                          c.consumer_group_metadata(), 15)
            if commit:
                p.commit_transaction(15)
            else:
                p.abort_transaction(15)
            return got

        copy_batch(20, True)
        # An aborted copy: its offsets are not committed, so they are read again.
        aborted = copy_batch(10, False)
        # (A partition not consumed yet has no committed offset: count it as 0.)
        committed = {tp.partition: max(tp.offset, 0)
                     for tp in c.committed([TopicPartition(src, 0), TopicPartition(src, 1)],
                                           timeout=10)}
        self.assertEqual(sum(committed.values()), 20, committed)
        self.assertEqual(len(aborted), 10)
        # Rewind to the committed offsets (as a restarted application would) and copy the rest.
        for tp in [TopicPartition(src, 0, committed[0]), TopicPartition(src, 1, committed[1])]:
            c.seek(tp)
        copy_batch(20, True)
        committed = {tp.partition: tp.offset
                     for tp in c.committed([TopicPartition(src, 0), TopicPartition(src, 1)],
                                           timeout=10)}
        self.assertEqual(committed, {0: 20, 1: 20})
        c.close()
        out = read_all(self.bootstrap, dst, 2, "read_committed", expect=40)
        self.assertEqual(sorted(out), sorted("x" + str(i) for i in range(40)))

    def test_timeout_aborts(self):
        from confluent_kafka import Producer
        topic = "txn-timeout"
        create_topic(self.bootstrap, topic, 1)
        p = txn_producer(self.bootstrap, "tx-timeout", **{"transaction.timeout.ms": 2000,
                                                          "message.timeout.ms": 2000})
        p.init_transactions(15)
        p.begin_transaction()
        p.produce(topic, value=b"expires", partition=0)
        p.flush(10)
        time.sleep(4)  # the coordinator aborts it
        plain = Producer({"bootstrap.servers": self.bootstrap})
        plain.produce(topic, value=b"plain", partition=0)
        plain.flush(10)
        self.assertEqual(read_all(self.bootstrap, topic, 1, "read_committed", expect=1),
                         ["plain"])


class TransactionsMultiShardTest(TransactionsTest):
    """The same with 4 shards: coordinators, partitions and connections on different shards."""
    overrides = dict(OVERRIDES, **{"num.shards": "4"})


class TransactionsRestartTest(unittest.TestCase):
    def test_kill9_in_the_middle_keeps_state(self):
        broker = Broker(overrides=OVERRIDES).start()
        try:
            bs = broker.bootstrap
            topic = "txn-restart"
            create_topic(bs, topic)
            p = txn_producer(bs, "tx-restart")
            p.init_transactions(15)
            p.begin_transaction()
            for i in range(6):
                p.produce(topic, value=f"ok{i}".encode(), partition=i % 2)
            p.commit_transaction(15)
            p.begin_transaction()
            for i in range(4):
                p.produce(topic, value=f"open{i}".encode(), partition=i % 2)
            p.flush(15)
            broker.kill9()
            broker.start()
            # The open transaction is still open after the restart: it holds the LSO.
            self.assertEqual(sorted(read_all(bs, topic, 2, "read_committed", quiet=3.0)),
                             sorted(f"ok{i}" for i in range(6)), broker.tail())
            # A new instance aborts it (the coordinator reloaded it with its partitions).
            p2 = txn_producer(bs, "tx-restart")
            p2.init_transactions(30)
            p2.begin_transaction()
            for i in range(2):
                p2.produce(topic, value=f"new{i}".encode(), partition=i % 2)
            p2.commit_transaction(15)
            got = read_all(bs, topic, 2, "read_committed", expect=8)
            self.assertEqual(sorted(got),
                             sorted([f"ok{i}" for i in range(6)] + ["new0", "new1"]))
            # Once more: the aborted transaction index and the markers survive a restart.
            broker.kill9()
            broker.start()
            got = read_all(bs, topic, 2, "read_committed", expect=8)
            self.assertEqual(sorted(got),
                             sorted([f"ok{i}" for i in range(6)] + ["new0", "new1"]))
            self.assertEqual(len(read_all(bs, topic, 2, "read_uncommitted", expect=12)), 12)
        finally:
            broker.stop()
            broker.cleanup()


RDKAFKA_215 = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "../../../shared/clients/librdkafka-2.15/lib")


@unittest.skipIf(os.environ.get("RILL_TXN_INNER"), "already the inner run")
class Librdkafka215Test(unittest.TestCase):
    """TransactionsTest again with librdkafka 2.15 under the same Python binding (a child
    process: the library is chosen when the process loads it)."""

    def test_transactions_with_librdkafka_2_15(self):
        if not os.path.isdir(RDKAFKA_215):
            self.skipTest(f"librdkafka 2.15 not found at {RDKAFKA_215} (../shared absent)")
        env = dict(os.environ, LD_LIBRARY_PATH=RDKAFKA_215, RILL_TXN_INNER="1")
        check = subprocess.run([sys.executable, "-c",
                                "import confluent_kafka; print(confluent_kafka.libversion()[0])"],
                               env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(check.stdout.strip(), "2.15.0", check.stderr)
        p = subprocess.run([sys.executable, "-m", "unittest", "test_transactions.TransactionsTest"],
                           env=env, capture_output=True, text=True, timeout=600,
                           cwd=os.path.dirname(os.path.abspath(__file__)))
        lines = [x for x in p.stderr.splitlines() if not x.startswith("%")]
        self.assertEqual(p.returncode, 0, "\n".join(lines[-40:]))


if __name__ == "__main__":
    unittest.main()
