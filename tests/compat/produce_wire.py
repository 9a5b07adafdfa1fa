"""Record batches and Produce requests built by hand, for the validation tests: every field of
a magic-2 batch can be made to lie (record count, offset deltas, lengths, timestamps, headers,
attributes). CRC-32C comes from kafka-python's pure-Python implementation, compression from
zlib / python3-lz4, so nothing here shares code with the broker."""

import gzip
import socket
import struct
import time

import lz4.frame
from kafka.record._crc32c import crc as crc32c

GZIP, LZ4 = 1, 3
ATTR_LOG_APPEND_TIME, ATTR_TRANSACTIONAL, ATTR_CONTROL = 0x08, 0x10, 0x20


def zigzag(n):
    return (n << 1) ^ (n >> 63)


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(n):
    return uvarint(zigzag(n) & 0xFFFFFFFFFFFFFFFF)


def record(offset_delta, key=b"k", value=b"v", ts_delta=0, headers=(), length=None,
           raw_headers=None):
    """One record; `headers` are (key bytes, value bytes or None); `raw_headers` replaces the
    encoded header section (count included) verbatim; `length` overrides the length field."""
    body = b"\x00" + varint(ts_delta) + varint(offset_delta)
    body += varint(-1) if key is None else varint(len(key)) + key
    body += varint(-1) if value is None else varint(len(value)) + value
    if raw_headers is not None:
        body += raw_headers
    else:
        body += varint(len(headers))
        for hk, hv in headers:
            body += varint(len(hk)) + hk
            body += varint(-1) if hv is None else varint(len(hv)) + hv
    return varint(len(body) if length is None else length) + body


def compress(codec, data):
    if codec == GZIP:
        return gzip.compress(data, compresslevel=6)
    if codec == LZ4:
        return lz4.frame.compress(data)
    return data


def batch(records, count=None, last_offset_delta=None, codec=0, attributes=0,
          base_timestamp=None, max_timestamp=None, producer_id=-1, base_sequence=-1,
          section=None):
    """A magic-2 batch of the encoded `records` (or the raw, uncompressed `section`)."""
    n = len(records) if count is None else count
    lod = n - 1 if last_offset_delta is None else last_offset_delta
    now = int(time.time() * 1000)
    base_ts = now if base_timestamp is None else base_timestamp
    max_ts = base_ts if max_timestamp is None else max_timestamp
    payload = compress(codec, b"".join(records) if section is None else section)
    after_crc = struct.pack(">hiqqqhii", codec | attributes, lod, base_ts, max_ts, producer_id,
                            0 if producer_id >= 0 else -1, base_sequence, n) + payload
    crc = crc32c(after_crc)
    rest = struct.pack(">ibI", -1, 2, crc) + after_crc  # leader epoch, magic, crc
    return struct.pack(">qi", 0, len(rest)) + rest


def _string(s):
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def produce_request(partitions, version=8, acks=-1, timeout_ms=10000, correlation_id=1):
    """A Produce frame (v3..v8, non-flexible) for {topic: [(partition, records bytes), ...]}."""
    body = struct.pack(">hhi", 0, version, correlation_id) + _string("validation-test")
    body += _string(None) + struct.pack(">hi", acks, timeout_ms) + struct.pack(">i", len(partitions))
    for topic, parts in partitions.items():
        body += _string(topic) + struct.pack(">i", len(parts))
        for index, data in parts:
            body += struct.pack(">ii", index, len(data)) + data
    return struct.pack(">i", len(body)) + body


class _Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.p)
        self.p += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.d[self.p:self.p + n].decode()
        self.p += n
        return s


def parse_produce_response(data, version=8):
    """{(topic, partition): {error_code, base_offset, record_errors, error_message}}."""
    r = _Reader(data)
    r.take(">i")  # correlation id
    out = {}
    for _ in range(r.take(">i")):
        topic = r.string()
        for _ in range(r.take(">i")):
            index, err, base = r.take(">ihq")
            p = {"error_code": err, "base_offset": base, "record_errors": [],
                 "error_message": None}
            if version >= 2:
                r.take(">q")  # log_append_time
            if version >= 5:
                r.take(">q")  # log_start_offset
            if version >= 8:
                for _ in range(r.take(">i")):
                    p["record_errors"].append((r.take(">i"), r.string()))
                p["error_message"] = r.string()
            out[(topic, index)] = p
    return out


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the broker")
        buf += chunk
    return buf


def produce(port, partitions, version=8, sock=None, timeout=60):
    """Sends one Produce request and returns the parsed response."""
    own = sock is None
    s = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(produce_request(partitions, version=version))
        size = struct.unpack(">i", recv_exact(s, 4))[0]
        return parse_produce_response(recv_exact(s, size), version)
    finally:
        if own:
            s.close()
