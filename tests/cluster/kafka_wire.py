"""Tiny raw Kafka protocol client for the requests the cluster tests send to one specific broker
(confluent_kafka 1.7 has no AlterPartitionReassignments and always picks a broker itself):
Metadata v5, FindCoordinator v0, AlterPartitionReassignments v0 and ListPartitionReassignments v0
(both flexible), DeleteRecords v1, ListOffsets v7. Only what the tests need is encoded/decoded."""

import socket
import struct

METADATA, FIND_COORDINATOR, ALTER_REASSIGNMENTS, LIST_REASSIGNMENTS = 3, 10, 45, 46
DELETE_RECORDS = 21
LIST_OFFSETS = 2


# ---- encoding ---------------------------------------------------------------------------------

def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode()
    return i16(len(b)) + b


def uvarint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def compact_string(s):
    if s is None:
        return uvarint(0)
    b = s.encode()
    return uvarint(len(b) + 1) + b


def compact_array(items, enc):
    if items is None:
        return uvarint(0)
    return uvarint(len(items) + 1) + b"".join(enc(x) for x in items)


NO_TAGS = uvarint(0)


# ---- decoding ---------------------------------------------------------------------------------

class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def _take(self, fmt):
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v

    def i8(self): return self._take(">b")
    def i16(self): return self._take(">h")
    def i32(self): return self._take(">i")
    def i64(self): return self._take(">q")
    def boolean(self): return self._take(">b") != 0

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def compact_string(self):
        n = self.uvarint() - 1
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def array(self, dec):
        n = self.i32()
        return None if n < 0 else [dec() for _ in range(n)]

    def compact_array(self, dec):
        n = self.uvarint() - 1
        return None if n < 0 else [dec() for _ in range(n)]

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self.pos += self.uvarint()  # size, skip the value


# ---- connection -------------------------------------------------------------------------------

class KafkaConnection:
    def __init__(self, host, port, timeout=10.0, client_id="rill-cluster-test"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.client_id = client_id
        self.correlation = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def _recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            out += chunk
        return out

    def request(self, api_key, version, body, flexible):
        """Sends one request, returns a Reader positioned at the response body."""
        self.correlation += 1
        header = i16(api_key) + i16(version) + i32(self.correlation) + string(self.client_id)
        if flexible:
            header += NO_TAGS  # request header v2
        payload = header + body
        self.sock.sendall(i32(len(payload)) + payload)
        (n,) = struct.unpack(">i", self._recv_exact(4))
        r = Reader(self._recv_exact(n))
        if r.i32() != self.correlation:
            raise ConnectionError("correlation id mismatch")
        if flexible:
            r.tags()  # response header v1
        return r

    # Metadata v5: {"brokers": {id: (host, port, rack)}, "controller_id": N, "cluster_id": s,
    #  "topics": {name: {"error": e, "partitions": {p: {error, leader, replicas, isr, offline}}}}}
    def metadata(self, topics=None):
        if topics is None:
            body = i32(-1)
        else:
            body = i32(len(topics)) + b"".join(string(t) for t in topics)
        body += i8(0)  # allow_auto_topic_creation = false
        r = self.request(METADATA, 5, body, flexible=False)
        r.i32()  # throttle
        brokers = {}
        for _ in range(r.i32()):
            node, host, port, rack = r.i32(), r.string(), r.i32(), r.string()
            brokers[node] = (host, port, rack)
        cluster_id = r.string()
        controller_id = r.i32()
        out_topics = {}
        for _ in range(r.i32()):
            err, name = r.i16(), r.string()
            r.boolean()  # is_internal
            parts = {}
            for _ in range(r.i32()):
                perr, idx, leader = r.i16(), r.i32(), r.i32()
                replicas, isr, offline = r.array(r.i32), r.array(r.i32), r.array(r.i32)
                parts[idx] = {"error": perr, "leader": leader, "replicas": replicas, "isr": isr,
                              "offline": offline}
            out_topics[name] = {"error": err, "partitions": parts}
        return {"brokers": brokers, "cluster_id": cluster_id, "controller_id": controller_id,
                "topics": out_topics}

    def delete_records(self, topic, partition, offset, timeout_ms=30000):
        """DeleteRecords v1 for one partition: (error_code, low_watermark)."""
        body = (i32(1) + string(topic) + i32(1) + i32(partition) + struct.pack(">q", offset) +
                i32(timeout_ms))
        r = self.request(DELETE_RECORDS, 1, body, flexible=False)
        r.i32()  # throttle
        r.i32()  # topics
        r.string()
        r.i32()  # partitions
        r.i32()  # partition index
        low = r.i64()
        return r.i16(), low

    def list_offsets(self, topic, partition, timestamp, isolation_level=0):
        """ListOffsets v7 (flexible) for one partition and one timestamp (-1 latest, -2
        earliest, -3 max timestamp, else by timestamp): (error_code, offset, timestamp)."""
        part = i32(partition) + i32(-1) + struct.pack(">q", timestamp) + NO_TAGS
        body = (i32(-1) + i8(isolation_level) +
                compact_array([topic], lambda t: compact_string(t) +
                              compact_array([part], lambda p: p) + NO_TAGS) + NO_TAGS)
        r = self.request(LIST_OFFSETS, 7, body, flexible=True)
        r.i32()  # throttle
        out = []

        def dec_part():
            r.i32()  # partition index
            err, ts, off = r.i16(), r.i64(), r.i64()
            r.i32()  # leader epoch
            r.tags()
            out.append((err, off, ts))

        def dec_topic():
            r.compact_string()
            r.compact_array(dec_part)
            r.tags()

        r.compact_array(dec_topic)
        r.tags()
        return out[0]

    def find_coordinator(self, group):
        """(error_code, node_id, host, port) of the group's coordinator."""
        r = self.request(FIND_COORDINATOR, 0, string(group), flexible=False)
        return r.i16(), r.i32(), r.string(), r.i32()

    def alter_partition_reassignments(self, moves, timeout_ms=30000):
        """moves: {(topic, partition): [replicas] or None (cancel)}. Returns
        (top error, message, {(topic, partition): (error, message)})."""
        by_topic = {}
        for (t, p), replicas in moves.items():
            by_topic.setdefault(t, []).append((p, replicas))

        def enc_part(pr):
            p, replicas = pr
            return i32(p) + compact_array(replicas, i32) + NO_TAGS

        def enc_topic(t):
            return compact_string(t) + compact_array(by_topic[t], enc_part) + NO_TAGS

        body = i32(timeout_ms) + compact_array(sorted(by_topic), enc_topic) + NO_TAGS
        r = self.request(ALTER_REASSIGNMENTS, 0, body, flexible=True)
        r.i32()  # throttle
        err, msg = r.i16(), r.compact_string()
        results = {}

        def dec_part(topic):
            p, e, m = r.i32(), r.i16(), r.compact_string()
            r.tags()
            results[(topic, p)] = (e, m)

        def dec_topic():
            name = r.compact_string()
            r.compact_array(lambda: dec_part(name))
            r.tags()

        r.compact_array(dec_topic)
        r.tags()
        return err, msg, results

    def list_partition_reassignments(self, topics=None, timeout_ms=30000):
        """topics: {topic: [partitions]} or None (all). Returns (error, message,
        {(topic, p): {"replicas": [...], "adding": [...], "removing": [...]}})."""
        def enc_topic(item):
            t, parts = item
            return compact_string(t) + compact_array(parts, i32) + NO_TAGS

        body = i32(timeout_ms) + compact_array(None if topics is None else sorted(topics.items()),
                                               enc_topic) + NO_TAGS
        r = self.request(LIST_REASSIGNMENTS, 0, body, flexible=True)
        r.i32()
        err, msg = r.i16(), r.compact_string()
        ongoing = {}

        def dec_part(topic):
            p = r.i32()
            ongoing[(topic, p)] = {"replicas": r.compact_array(r.i32),
                                   "adding": r.compact_array(r.i32),
                                   "removing": r.compact_array(r.i32)}
            r.tags()

        def dec_topic():
            name = r.compact_string()
            r.compact_array(lambda: dec_part(name))
            r.tags()

        r.compact_array(dec_topic)
        r.tags()
        return err, msg, ongoing
