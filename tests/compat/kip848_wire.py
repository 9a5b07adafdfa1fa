"""KIP-848 requests built by hand for the tests that need what no client sends on purpose
(an invalid regex, an old OffsetCommit version from a consumer-protocol member): flexible
encodings of ConsumerGroupHeartbeat v1 and OffsetCommit v8/v9."""

import socket
import struct
import time


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def cstr(v):
    """A compact nullable string."""
    if v is None:
        return uvarint(0)
    raw = v.encode()
    return uvarint(len(raw) + 1) + raw


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0]

    def uvarint(self):
        n, shift = 0, 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    def cstr(self):
        n = self.uvarint()
        if n == 0:
            return None
        v = self.data[self.pos:self.pos + n - 1].decode()
        self.pos += n - 1
        return v


def _request(port, api_key, version, body):
    frame = struct.pack(">hhi", api_key, version, 5) + struct.pack(">h", -1) + uvarint(0) + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(struct.pack(">i", len(frame)) + frame)
        size = struct.unpack(">i", _recv(s, 4))[0]
        r = _Reader(_recv(s, size))
    r.take(">i")  # correlation id
    r.uvarint()   # header tags
    return r


def _recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the broker")
        buf += chunk
    return buf


def heartbeat(port, group, member_id, epoch, names=None, regex=None):
    """ConsumerGroupHeartbeat v1; (error code, error message, member epoch). Retried while
    the coordinator is not available, not hosted yet or loading (the first request creates
    the offsets topic)."""
    body = cstr(group) + cstr(member_id) + struct.pack(">i", epoch)
    body += cstr(None) + cstr(None) + struct.pack(">i", 30000 if epoch == 0 else -1)
    if names is None:
        body += uvarint(0)
    else:
        body += uvarint(len(names) + 1) + b"".join(cstr(n) for n in names)
    body += cstr(regex) + cstr(None)
    body += uvarint(1) if epoch == 0 else uvarint(0)  # owned partitions: none / unchanged
    body += uvarint(0)
    deadline = time.time() + 20
    while True:
        r = _request(port, 68, 1, body)
        r.take(">i")  # throttle
        err = r.take(">h")
        msg = r.cstr()
        r.cstr()  # member id
        member_epoch = r.take(">i")
        if err not in (14, 15, 16) or time.time() > deadline:
            return err, msg, member_epoch
        time.sleep(0.2)


def offset_commit(port, version, group, member_id, epoch, topic, partition, offset):
    """OffsetCommit v8 or v9 of one partition; its error code."""
    body = cstr(group) + struct.pack(">i", epoch) + cstr(member_id) + cstr(None)
    body += uvarint(2) + cstr(topic)
    body += uvarint(2) + struct.pack(">iqi", partition, offset, -1) + cstr("") + uvarint(0)
    body += uvarint(0) + uvarint(0)
    r = _request(port, 8, version, body)
    r.take(">i")  # throttle
    r.uvarint()   # topics
    r.cstr()
    r.uvarint()   # partitions
    r.take(">i")
    return r.take(">h")
