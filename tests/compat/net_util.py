"""Raw-socket helpers for the network tests (test_overload.py, test_connection_limits.py,
test_shard_stalls.py, bench/shard_stall.py): Kafka frames built by hand, the broker's /metrics
as a dict, its RSS, and clients bound to other loopback addresses (127.0.0.2, ...) so per-IP
limits can be exercised on one machine."""

import socket
import struct
import time
import urllib.request


def api_versions_v0(correlation_id=1):
    """An ApiVersions v0 request frame (size prefix included), client id null."""
    body = struct.pack(">hhih", 18, 0, correlation_id, -1)
    return struct.pack(">i", len(body)) + body


def create_topics_v4(name, partitions, timeout_ms, correlation_id=7):
    """A CreateTopics v4 frame for one topic (replication factor 1, no assignments or configs)."""
    s = name.encode()
    body = struct.pack(">hhih", 19, 4, correlation_id, -1)
    body += struct.pack(">i", 1) + struct.pack(">h", len(s)) + s
    body += struct.pack(">ihii", partitions, 1, 0, 0)
    body += struct.pack(">ib", timeout_ms, 0)
    return struct.pack(">i", len(body)) + body


def connect(port, source_ip=None, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source_ip:
        s.bind((source_ip, 0))
    s.connect(("127.0.0.1", port))
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by the broker")
        buf += chunk
    return buf


def read_response(s):
    size = struct.unpack(">i", recv_exact(s, 4))[0]
    return recv_exact(s, size)


def api_versions_on(s, correlation_id=1):
    """Sends ApiVersions v0 on `s` and returns its error code; raises when the broker closes
    the connection or does not answer within the socket's timeout."""
    s.sendall(api_versions_v0(correlation_id))
    resp = read_response(s)
    corr, err = struct.unpack(">ih", resp[:6])
    if corr != correlation_id:
        raise AssertionError(f"correlation id {corr}, expected {correlation_id}")
    return err


def api_versions_latency(port, timeout=5.0, source_ip=None):
    """Seconds a fresh connection takes to get its ApiVersions answered (raises on timeout)."""
    start = time.monotonic()
    with connect(port, source_ip=source_ip, timeout=timeout) as s:
        err = api_versions_on(s)
        if err != 0:
            raise AssertionError(f"ApiVersions error {err}")
    return time.monotonic() - start


def is_closed_by_peer(s, timeout=2.0):
    """True when the broker closes `s` (EOF or reset) within `timeout`, False if it stays open."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def metrics(admin_url, timeout=10):
    """The broker's /metrics as {series: value}."""
    with urllib.request.urlopen(admin_url + "/metrics", timeout=timeout) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out


def wait_metric(admin_url, name, pred, timeout=10.0, step=0.05):
    """Polls /metrics until pred(value of `name`) holds; returns the last value (None if absent)."""
    deadline = time.monotonic() + timeout
    value = None
    while True:
        value = metrics(admin_url).get(name)
        if value is not None and pred(value):
            return value
        if time.monotonic() > deadline:
            return value
        time.sleep(step)


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


BUDGET_USED = "kafka_network_socketserver_memorypoolused"
BUDGET_AVAILABLE = "kafka_network_socketserver_memorypoolavailable"
BUDGET_WAITING = "rill_request_budget_waiters"
CONNECTIONS = "kafka_server_socket_server_metrics_connection_count"
