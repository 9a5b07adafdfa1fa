"""A minimal synchronous ZooKeeper client (jute wire protocol over TCP), enough for tests to read
and create znodes without kazoo or a JVM per call.

One session per ZkClient; no watches, no reconnects. Use it briefly (connect, a few calls, close)
or keep it pinged: an idle session expires after `session_timeout_ms`."""

import socket
import struct

# Operation codes (org.apache.zookeeper.ZooDefs.OpCode).
OP_CREATE, OP_DELETE, OP_EXISTS, OP_GET_DATA = 1, 2, 3, 4
OP_GET_CHILDREN, OP_PING, OP_CLOSE = 8, 11, -11
# Error codes (KeeperException.Code).
NONODE, NODEEXISTS, NOTEMPTY, BADVERSION = -101, -110, -111, -103

STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
               "ephemeral_owner", "data_length", "num_children", "pzxid")
_STAT = struct.Struct(">qqqqiiiqiiq")


class ZkError(Exception):
    def __init__(self, code, path):
        super().__init__(f"ZooKeeper error {code} on {path}")
        self.code = code
        self.path = path


def _string(s):
    b = s.encode()
    return struct.pack(">i", len(b)) + b


def _buffer(b):
    if b is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(b)) + b


class _Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def unpack(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def buffer(self):
        n = self.unpack(">i")
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode()

    def stat(self):
        v = _STAT.unpack_from(self.data, self.pos)
        self.pos += _STAT.size
        return dict(zip(STAT_FIELDS, v))


class ZkClient:
    def __init__(self, host, port, session_timeout_ms=30000, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.xid = 0
        try:
            req = struct.pack(">iqiq", 0, 0, session_timeout_ms, 0) + _buffer(b"\0" * 16) + b"\0"
            self._send(req)
            r = _Reader(self._recv())
            _proto, self.session_timeout_ms, self.session_id = r.unpack(">iiq")
            if self.session_id == 0:
                raise ConnectionError("ZooKeeper refused the session")
        except BaseException:
            self.sock.close()
            self.sock = None
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("ZooKeeper closed the connection")
            out += chunk
        return out

    def _recv(self):
        (n,) = struct.unpack(">i", self._recv_exact(4))
        return self._recv_exact(n)

    def _call(self, op, payload, path):
        self.xid += 1
        self._send(struct.pack(">ii", self.xid, op) + payload)
        while True:
            r = _Reader(self._recv())
            xid, _zxid, err = r.unpack(">iqi")
            if xid == -1:  # a watch event: we set none, ignore
                continue
            if xid != self.xid:
                raise ConnectionError(f"ZooKeeper reply xid {xid}, expected {self.xid}")
            if err != 0:
                raise ZkError(err, path)
            return r

    def get(self, path):
        """(data bytes, stat dict), or None when the node does not exist."""
        try:
            r = self._call(OP_GET_DATA, _string(path) + b"\0", path)
        except ZkError as e:
            if e.code == NONODE:
                return None
            raise
        data = r.buffer()
        return data, r.stat()

    def children(self, path):
        """Sorted child names, or None when the node does not exist."""
        try:
            r = self._call(OP_GET_CHILDREN, _string(path) + b"\0", path)
        except ZkError as e:
            if e.code == NONODE:
                return None
            raise
        return sorted(r.string() for _ in range(r.unpack(">i")))

    def exists(self, path):
        try:
            r = self._call(OP_EXISTS, _string(path) + b"\0", path)
        except ZkError as e:
            if e.code == NONODE:
                return None
            raise
        return r.stat()

    def create(self, path, data=b"", ephemeral=False):
        """Creates a node with the open ACL; returns False when it already exists."""
        acl = struct.pack(">ii", 1, 31) + _string("world") + _string("anyone")
        payload = _string(path) + _buffer(data) + acl + struct.pack(">i", 1 if ephemeral else 0)
        try:
            self._call(OP_CREATE, payload, path)
            return True
        except ZkError as e:
            if e.code == NODEEXISTS:
                return False
            raise

    def ensure_path(self, path):
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            self.create("/" + "/".join(parts[:i]))

    def delete(self, path, version=-1):
        self._call(OP_DELETE, _string(path) + struct.pack(">i", version), path)

    def ping(self):
        self._send(struct.pack(">ii", -2, OP_PING))
        r = _Reader(self._recv())
        r.unpack(">iqi")

    def close(self):
        if self.sock is None:
            return
        try:
            self.xid += 1
            self._send(struct.pack(">ii", self.xid, OP_CLOSE))
            self._recv()
        except OSError:
            pass
        finally:
            self.sock.close()
            self.sock = None
