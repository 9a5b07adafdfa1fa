"""Cluster soak (issue 14): idempotent acks=all producers and a consumer group run while a
bounded, seeded random schedule of faults hits the brokers and ZooKeeper: kill -9 and restart,
SIGTERM (controlled shutdown) and restart, SIGSTOP/SIGCONT (shorter and longer than the
ZooKeeper session timeout), of a random broker, the controller, a partition leader or the group
coordinator, and kill -9 / SIGSTOP of ZooKeeper itself.

Faults hit one broker (or ZooKeeper) at a time, except kill9_two (two brokers at once); before
the next fault ZooKeeper is up and every broker registered again (a restarted broker may still
be catching up). Afterwards:

- every acknowledged record is in the log at its acknowledged offset, no record is there twice,
  and each partition's records are in the order they were produced. One exception, checked
  for its exact shape: librdkafka 2.0.2 (Debian 12) itself re-sends the tail of a producer
  epoch under a new epoch after OUT_OF_ORDER_SEQUENCE_NUMBER (librdkafka issue 4953; Kafka's
  brokers answer the same way), which the brokers cannot recognise as a duplicate;
- the ISR of every partition (the soak topic and __consumer_offsets) is complete again;
- no producer got a fatal error (an idempotent producer's OUT_OF_ORDER_SEQUENCE and the like);
- the consumer group: every record a member consumed is in the final log at that offset (nothing
  read above the high watermark and later truncated), together the members consumed every
  offset, the committed offsets equal the end offsets and never went below an offset a member
  had committed successfully.

The schedule is logged (seed, then one line per fault). Environment:
  RILL_SOAK_SEED=<n>    replay a schedule (default: a fresh seed, logged)
  RILL_SOAK_FAULTS=<n>  number of faults (default 20; 100 with RILL_DEEP=1)
  RILL_DEEP=1           the long schedule (scripts/test --deep), longer pauses and ZooKeeper outages
  RILL_SOAK_CLIENT_DEBUG=1  librdkafka debug logs (eos, msg) of the producers, in the cluster's
                        directory (kept when the test fails)
CI budget: about 4 minutes for the default schedule."""

import logging
import os
import random
import signal
import struct
import threading
import time
import unittest

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from cluster_harness import (ELECTION_TIMEOUT, ISR_TIMEOUT, SESSION_TIMEOUT_MS, START_TIMEOUT,
                             ClusterTestCase, TrackedProducer, log, read_partition, value_seq,
                             wait_until)

TOPIC = "soak"
PARTITIONS = 3
GROUP = "soak-group"
OFFSETS_PARTITIONS = 6  # offsets.topic.num.partitions in the harness' BASE_OVERRIDES
DEEP = os.environ.get("RILL_DEEP") == "1"
FAULTS = int(os.environ.get("RILL_SOAK_FAULTS", "100" if DEEP else "20"))
RATE = 60  # records/s per partition

# (kind, weight). Broker faults dominate; ZooKeeper faults hit every broker at once.
# kill9_two kills the target and one more broker: partitions whose ISR was those two go offline
# (no unclean election) until one of them is back.
KINDS = [("kill9", 5), ("restart", 2), ("pause", 4), ("kill9_two", 1), ("zk_kill9", 1),
         ("zk_pause", 1)]
TARGETS = ["random", "controller", "leader", "coordinator"]


def make_schedule(seed, count):
    """The fault schedule: [(kind, target, down seconds, gap seconds)], a pure function of the
    seed. Pauses range below and above the ZooKeeper session timeout (6 s)."""
    rng = random.Random(seed)
    kinds = [k for k, w in KINDS for _ in range(w)]
    session = SESSION_TIMEOUT_MS / 1000
    out = []
    for _ in range(count):
        kind = rng.choice(kinds)
        target = rng.choice(TARGETS)
        if kind == "pause":
            down = rng.uniform(0.5, session * (2.0 if DEEP else 1.5))
        elif kind == "zk_pause":
            down = rng.uniform(0.5, session * (1.5 if DEEP else 0.6))
        elif kind == "zk_kill9":
            down = rng.uniform(0.5, 8.0 if DEEP else 3.0)
        else:
            down = rng.uniform(0.0, 4.0)
        gap = rng.uniform(0.5, 4.0)
        out.append((kind, target, round(down, 2), round(gap, 2)))
    return out


class GroupMember(threading.Thread):
    """One consumer of the group: consumes, records (partition, offset, value) and commits
    synchronously about every second (retrying through coordinator moves). `committed_ok` keeps
    the highest offset per partition a commit was acknowledged for."""

    def __init__(self, name, bootstrap):
        super().__init__(daemon=True, name=name)
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": GROUP, "client.id": name,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
            "max.poll.interval.ms": 60000, "topic.metadata.refresh.interval.ms": 2000,
            "reconnect.backoff.max.ms": 1000, "socket.timeout.ms": 10000})
        self.lock = threading.Lock()
        self.seen = []  # (partition, offset, value)
        self.committed_ok = {}
        self.errors = []
        self._halt = threading.Event()
        self.exc = None

    def stop(self):
        self._halt.set()

    def commit(self):
        try:
            parts = self.consumer.commit(asynchronous=False)
        except KafkaException as e:
            if e.args[0].code() != KafkaError._NO_OFFSET:
                with self.lock:
                    self.errors.append(str(e))
            return
        with self.lock:
            for tp in parts or []:
                if tp.error is None and tp.offset >= 0:
                    self.committed_ok[tp.partition] = max(self.committed_ok.get(tp.partition, 0),
                                                          tp.offset)

    def run(self):
        try:
            self.consumer.subscribe([TOPIC])
            last_commit = time.monotonic()
            while not self._halt.is_set():
                for m in self.consumer.consume(num_messages=500, timeout=0.3):
                    if m.error():
                        if m.error().code() != KafkaError._PARTITION_EOF:
                            with self.lock:
                                self.errors.append(str(m.error()))
                        continue
                    with self.lock:
                        self.seen.append((m.partition(), m.offset(), m.value()))
                if time.monotonic() - last_commit >= 1.0:
                    self.commit()
                    last_commit = time.monotonic()
            self.commit()
        except Exception as e:  # noqa: BLE001 - re-raised by finish()
            self.exc = e

    def finish(self, timeout=120):
        self.stop()
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"{self.name} did not stop within {timeout}s")
        self.consumer.close()
        if self.exc:
            raise self.exc


class SoakTest(ClusterTestCase):
    overrides = {"min.insync.replicas": 2, "num.shards": 2}

    # -- fault injection

    def pick(self, target, rng):
        """Resolves a schedule target to a live broker id (falls back to a random live one)."""
        c = self.cluster
        live = sorted(c.live_ids())
        chosen = None
        try:
            if target == "controller":
                chosen = c.controller_id()
            elif target == "leader":
                st = c.partition_state(TOPIC, rng.randrange(PARTITIONS))
                chosen = st and st["leader"]
            elif target == "coordinator":
                chosen = c.find_coordinator(GROUP)
        except Exception as e:  # noqa: BLE001 - ZooKeeper or a broker may be busy
            log(f"could not resolve {target}: {e!r}")
        return chosen if chosen in live else rng.choice(live)

    def heal_wait(self):
        """Before the next fault: ZooKeeper up and every broker registered (no more than one
        fault at a time in flight; a restarted broker may still be catching up)."""
        c = self.cluster
        c.wait_registered(set(c.brokers), timeout=START_TIMEOUT + SESSION_TIMEOUT_MS / 1000)
        c.wait_controller()

    def inject(self, n, fault, rng):
        c = self.cluster
        kind, target, down, gap = fault
        if kind.startswith("zk_"):
            log(f"FAULT {n}: {kind} ZooKeeper for {down}s")
            if kind == "zk_kill9":
                c.zk.kill9()
                time.sleep(down)
                c.zk.start()
            else:
                c.zk.proc.send_signal(signal.SIGSTOP)
                time.sleep(down)
                c.zk.proc.send_signal(signal.SIGCONT)
        else:
            b = self.pick(target, rng)
            log(f"FAULT {n}: {kind} broker {b} ({target}) for {down}s")
            if kind == "kill9":
                c.kill(b)
                time.sleep(down)
                c.start_broker(b)
            elif kind == "kill9_two":
                other = rng.choice(sorted(c.live_ids() - {b}))
                log(f"FAULT {n}: and kill9 broker {other}")
                c.kill(b)
                c.kill(other)
                time.sleep(down)
                c.start_broker(other)
                c.start_broker(b)
            elif kind == "restart":
                rc = c.terminate(b)
                self.assertEqual(rc, 0, f"broker {b} exited {rc} on SIGTERM")
                time.sleep(down)
                c.start_broker(b)
            else:
                c.pause(b)
                time.sleep(down)
                c.resume(b)
        c.check_crashes()
        time.sleep(gap)
        c.check_crashes()
        self.heal_wait()

    def producer_conf(self, p):
        conf = {"client.id": f"soak-producer-{p}"}
        if os.environ.get("RILL_SOAK_CLIENT_DEBUG") == "1":
            logger = logging.getLogger(f"soak-producer-{p}")
            handler = logging.FileHandler(os.path.join(self.cluster.root, f"producer-{p}.log"))
            handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
            logger.addHandler(handler)
            logger.setLevel(logging.DEBUG)
            logger.propagate = False
            conf.update({"debug": "eos,msg", "logger": logger})
        return conf

    # -- checks

    def committed(self):
        probe = Consumer({"bootstrap.servers": self.cluster.bootstrap(), "group.id": GROUP,
                          "enable.auto.commit": False})
        try:
            parts = probe.committed([TopicPartition(TOPIC, p) for p in range(PARTITIONS)],
                                    timeout=30)
            return {tp.partition: tp.offset for tp in parts}
        finally:
            probe.close()

    def producer_fields(self, part, end):
        """{offset: (producer id, producer epoch, sequence)} of the partition's records below
        `end`, from a replica's segment files (every replica is in the ISR again)."""
        out = {}
        for base, last, raw in self.cluster.log_batches(1, TOPIC, part, end):
            # baseOffset 8, length 4, leader epoch 4, magic 1, crc 4, attributes 2,
            # lastOffsetDelta 4, timestamps 16, then producerId 8, epoch 2, baseSequence 4.
            pid, epoch, seq = struct.unpack_from(">qhi", raw, 43)
            for o in range(base, last + 1):
                out[o] = (pid, epoch, seq + (o - base) if seq >= 0 else -1)
        return out

    def client_resends(self, dups, fields):
        """The duplicates librdkafka creates itself (librdkafka issue 4953, fixed upstream after
        2.0.2; Debian 12 ships 2.0.2): after OUT_OF_ORDER_SEQUENCE_NUMBER for a request behind
        a failed one it bumps the producer epoch and re-sends, as new, every message from the
        oldest unacknowledged one on, although that one may have been written. The brokers
        behave as Kafka's do there. Such a re-send has one exact shape: the last k records of
        producer epoch e are repeated, in order, as sequences 0..k-1 of epoch e+n, right after
        them. Returns the duplicated sequence numbers that have that shape."""
        explained = set()
        by_second = {}
        for seq, offs in dups.items():
            if len(offs) != 2:
                continue
            first, second = sorted(offs)
            by_second.setdefault(fields[second][:2], []).append((first, second, seq))
        for (pid, epoch), group in by_second.items():
            group.sort()
            k = len(group)
            start = min(o for o, (p, e, _s) in fields.items() if p == pid and e == epoch)
            firsts = [f for f, _s2, _q in group]
            seconds = [s2 for _f, s2, _q in group]
            if (seconds == list(range(start, start + k))
                    and [fields[o][2] for o in seconds] == list(range(k))
                    and firsts == list(range(start - k, start))
                    and all(fields[o][0] == pid and fields[o][1] < epoch for o in firsts)):
                explained.update(q for _f, _s2, q in group)
        return explained

    def check_records(self, part, acked, records, fields):
        """Acknowledged records present (at their acknowledged offset when reported), none
        twice (except librdkafka's own re-sends, see client_resends), in production order."""
        offsets_of = {}
        for o, v in records:
            offsets_of.setdefault(value_seq(v), []).append(o)
        seqs = [value_seq(v) for _o, v in records]
        self.assertEqual(seqs, sorted(seqs), f"{TOPIC}-{part}: records out of production order")
        dups = {s: offs for s, offs in offsets_of.items() if len(offs) > 1}
        resent = self.client_resends(dups, fields)
        if resent:
            log(f"SOAK partition {part}: {len(resent)} record(s) re-sent by librdkafka after "
                f"an epoch bump (librdkafka issue 4953): seqs {sorted(resent)[:10]}")
            self.client_duplicates += len(resent)
        bad = {s: [(o, fields.get(o)) for o in offs] for s, offs in dups.items()
               if s not in resent}
        self.assertFalse(bad, f"{TOPIC}-{part}: {len(bad)} records appear more than once, first "
                              f"{sorted(bad.items())[:5]} (seq: [(offset, (pid, epoch, seq))])")
        by_offset = dict(records)
        missing = [s for s, o in acked.items()
                   if (s not in offsets_of if o is None
                       else o not in by_offset or value_seq(by_offset[o]) != s)]
        self.assertFalse(missing, f"{TOPIC}-{part}: {len(missing)} acknowledged records lost or "
                                  f"moved, first {sorted(missing)[:10]} (acked offsets "
                                  f"{[acked[s] for s in sorted(missing)[:10]]})")

    def test_soak(self):
        c = self.cluster
        seed = int(os.environ.get("RILL_SOAK_SEED", str(time.time_ns() % 1_000_000_007)))
        schedule = make_schedule(seed, FAULTS)
        log(f"SOAK seed {seed}: {len(schedule)} faults (replay with RILL_SOAK_SEED={seed})")
        for n, f in enumerate(schedule, 1):
            log(f"SOAK schedule {n}: {f}")
        rng = random.Random(seed ^ 0x5EED)  # target resolution at run time
        self.client_duplicates = 0

        c.create_topic(TOPIC, partitions=PARTITIONS, replication_factor=3)
        bootstrap = c.bootstrap(ids=set(c.brokers))
        producers = [TrackedProducer(bootstrap, TOPIC, partition=p, rate=RATE,
                                     conf=self.producer_conf(p))
                     for p in range(PARTITIONS)]
        members = [GroupMember(f"soak-member-{i}", bootstrap) for i in range(2)]
        for t in producers + members:
            t.start()
        t0 = time.monotonic()
        try:
            for p in producers:
                wait_until(lambda p=p: p.acked_count >= 50, ISR_TIMEOUT, "first acks")
            for n, fault in enumerate(schedule, 1):
                self.inject(n, fault, rng)
                acked = sum(p.acked_count for p in producers)
                log(f"SOAK after fault {n}: {acked} records acknowledged, "
                    f"{sum(len(m.seen) for m in members)} consumed")
            log(f"SOAK faults done after {time.monotonic() - t0:.0f}s")

            # Every replica back in every ISR (the soak topic and the group's offsets).
            def all_isrs():
                for p in range(PARTITIONS):
                    c.wait_isr(TOPIC, p, {1, 2, 3})
                for p in range(OFFSETS_PARTITIONS):
                    c.wait_isr("__consumer_offsets", p, {1, 2, 3})
                return True
            c.timed("every ISR complete after the soak", all_isrs)

            # Production keeps working once healed.
            before = [p.acked_count for p in producers]
            for p, b in zip(producers, before):
                wait_until(lambda p=p, b=b: p.acked_count >= b + 50, ISR_TIMEOUT,
                           "acks after the soak")
        finally:
            for p in producers:
                p.stop()
        results = [p.finish() for p in producers]
        for i, p in enumerate(producers):
            self.assertFalse(p.fatal_errors(), f"producer {i} fatal errors: {p.fatal_errors()}")

        # Records: acknowledged ones present at their offsets, no duplicates, in order.
        ends = {}
        logs = {}
        for part, (acked, failed) in enumerate(results):
            log(f"SOAK partition {part}: {len(acked)} acked, {len(failed)} failed "
                f"({sorted({str(e) for e in failed.values()})[:3]})")
            # librdkafka reports some acks without an offset (a possibly persisted request whose
            # successor succeeded): those records must be somewhere in the log.
            offsets = [o for o in acked.values() if o is not None]
            want = max(offsets) + 1 if offsets else 0
            hw = c.wait(lambda part=part, want=want: (lambda h: h >= want and h)(
                c.watermarks(TOPIC, part)[1]), ELECTION_TIMEOUT, f"HW of {TOPIC}-{part}")
            records = read_partition(c.bootstrap(), TOPIC, part, hw)
            self.check_records(part, acked, records, self.producer_fields(part, hw))
            ends[part] = hw
            logs[part] = dict(records)

        # The group: consumes to the end and commits it.
        c.timed("the group committed the end offsets",
                lambda: c.wait(lambda: self.committed() == ends, 180,
                               f"committed offsets {ends}"))
        for m in members:
            m.finish()
        committed = self.committed()
        self.assertEqual(committed, ends)
        seen = {p: set() for p in range(PARTITIONS)}
        for m in members:
            for part, off, value in m.seen:
                self.assertIn(off, logs[part], f"{m.name} consumed {TOPIC}-{part}@{off}, which "
                                               "is not in the final log (read above the HW?)")
                self.assertEqual(value_seq(logs[part][off]), value_seq(value),
                                 f"{m.name} consumed a different record at {TOPIC}-{part}@{off}")
                seen[part].add(off)
            for part, off in m.committed_ok.items():
                self.assertGreaterEqual(committed[part], off,
                                        f"{m.name}'s acknowledged commit of {TOPIC}-{part}@{off} "
                                        f"was lost (committed {committed[part]})")
            if m.errors:
                log(f"{m.name}: {len(m.errors)} retried errors, first {m.errors[:3]}")
        for part in range(PARTITIONS):
            missing = set(logs[part]) - seen[part]
            self.assertFalse(missing, f"the group never consumed {len(missing)} records of "
                                      f"{TOPIC}-{part}, first {sorted(missing)[:10]}")
        log(f"SOAK done in {time.monotonic() - t0:.0f}s: seed {seed}, {len(schedule)} faults, "
            f"{sum(len(a) for a, _f in results)} records acknowledged, none lost, none "
            f"duplicated by the brokers ({self.client_duplicates} re-sent by librdkafka itself)")


if __name__ == "__main__":
    unittest.main()
