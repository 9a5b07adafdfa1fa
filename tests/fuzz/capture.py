"""Recording TCP proxy for seed corpora: the compat harness (tests/compat/rill_harness.py) puts
one in front of each broker when RILL_CAPTURE_DIR is set, and advertises the proxy's address,
so every request a real client sends passes through it.

Each complete frame is saved without its size prefix, named by a hash of its bytes (duplicates
collapse): requests under <dir>/requests/, responses under
<dir>/responses/<api key>_<api version>_<hash> (the proxy remembers each request's key and
version by correlation id). Frames above MAX_FRAME bytes are not saved (small corpora).
tests/fuzz/fuzz_seeds turns a capture into inputs of the fuzz targets."""

import hashlib
import os
import socket
import struct
import threading

MAX_FRAME = 256 * 1024


class CaptureProxy:
    def __init__(self, out_dir, target_host, target_port):
        self.out_dir = out_dir
        self.target = (target_host, target_port)
        for sub in ("requests", "responses"):
            os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._connection, args=(client,), daemon=True).start()

    def _connection(self, client):
        try:
            upstream = socket.create_connection(self.target, timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        inflight = {}  # correlation id -> (api key, api version)
        requests = threading.Thread(target=self._pump, args=(client, upstream, True, inflight),
                                    daemon=True)
        requests.start()
        self._pump(upstream, client, False, inflight)
        requests.join()
        client.close()
        upstream.close()

    def _pump(self, src, dst, requests, inflight):
        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                buf += data
                # Frames are noted before they are forwarded: a request's key and version are
                # known before its response can arrive.
                while len(buf) >= 4:
                    (size,) = struct.unpack(">i", buf[:4])
                    if size < 0 or len(buf) < 4 + size:
                        break
                    self._save(buf[4:4 + size], requests, inflight)
                    buf = buf[4 + size:]
                dst.sendall(data)
        except OSError:
            pass
        finally:  # either direction ending ends both (wakes the other pump)
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _save(self, frame, request, inflight):
        name = hashlib.sha1(frame).hexdigest()[:16]
        if request:
            if len(frame) < 8:
                return
            key, version, corr = struct.unpack(">hhi", frame[:8])
            inflight[corr] = (key, version)
            path = os.path.join(self.out_dir, "requests", name)
        else:
            if len(frame) < 4:
                return
            (corr,) = struct.unpack(">i", frame[:4])
            if corr not in inflight:
                return
            key, version = inflight.pop(corr)
            path = os.path.join(self.out_dir, "responses", f"{key}_{version}_{name}")
        if len(frame) <= MAX_FRAME and not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(frame)

    def close(self):
        self.sock.close()
