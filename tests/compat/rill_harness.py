"""Test harness for compat tests: runs the real rill binary on a free port with a temporary
data directory, and helpers shared by the client tests.

With RILL_CAPTURE_DIR set, each broker gets a recording proxy in front of it (tests/fuzz/capture.py;
the broker advertises the proxy) that saves every request and response frame there: the seed
corpora of the fuzz targets (tests/fuzz/capture_seeds).

The binary comes from the RILL_BIN environment variable (ctest sets it to its own build's
binary: build/apps/rill, or build-tsan/apps/rill when ctest runs in the ThreadSanitizer build);
without it, build/apps/rill.

Sanitizer reports: every broker's log (stdout and stderr) is scanned when the broker stops, is
killed or cleaned up; a ThreadSanitizer (or AddressSanitizer/UBSan) report fails the test
program: the reports are printed and the process exits 1 at the end (os._exit, after unittest
has printed its own result). TSAN_OPTIONS defaults to halt_on_error=0, so a broker keeps running
after a report and every report of the run is collected."""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

RILL_BIN = os.environ.get("RILL_BIN", os.path.join(os.path.dirname(__file__), "../../build/apps/rill"))

# Sanitizer runtime options for the brokers (kept when the environment sets them).
SANITIZER_ENV = {
    "TSAN_OPTIONS": "halt_on_error=0:second_deadlock_stack=1:history_size=4",
}
# First lines of a sanitizer report in a broker log.
SANITIZER_MARKERS = (b"WARNING: ThreadSanitizer:", b"ERROR: ThreadSanitizer:",
                     b"ERROR: AddressSanitizer:", b"ERROR: LeakSanitizer:",
                     b": runtime error: ")
SANITIZER_REPORTS = []  # (log path, report text) of every broker of this test program


def broker_env():
    env = dict(os.environ)
    for k, v in SANITIZER_ENV.items():
        env.setdefault(k, v)
    return env


def sanitizer_reports(log_path, start=0):
    """The sanitizer reports in log_path from byte `start` on: each from its marker line to the
    report's SUMMARY line (or 60 lines)."""
    try:
        with open(log_path, "rb") as f:
            f.seek(start)
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    i = 0
    while i < len(lines):
        if any(m in lines[i] for m in SANITIZER_MARKERS):
            j = i
            while j < len(lines) and j < i + 60 and not lines[j].startswith(b"SUMMARY:"):
                j += 1
            out.append(b"\n".join(lines[i:j + 1]).decode(errors="replace"))
            i = j + 1
        else:
            i += 1
    return out


def collect_sanitizer_reports(log_path, start):
    for r in sanitizer_reports(log_path, start):
        SANITIZER_REPORTS.append((log_path, r))


@atexit.register
def _fail_on_sanitizer_reports():
    if not SANITIZER_REPORTS:
        return
    import sys
    print(f"\n{len(SANITIZER_REPORTS)} sanitizer report(s) in broker logs:", file=sys.stderr)
    for path, r in SANITIZER_REPORTS:
        print(f"----- {path}\n{r}", file=sys.stderr)
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """One rill process. start() waits until the port accepts connections."""

    def __init__(self, data_dir=None, overrides=None, port=None, extra_args=None):
        self.own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="rill-compat-")
        self.port = port or free_port()
        # Many brokers run in parallel: each gets its own admin HTTP port.
        self.admin_port = free_port()
        self.overrides = dict(overrides or {})
        self.extra_args = list(extra_args or [])  # e.g. ["--add-scram", "SCRAM-SHA-256=[...]"]
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "broker.log")
        self.proxy = None  # the recording proxy (RILL_CAPTURE_DIR)

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.proxy.port if self.proxy else self.port}"

    @property
    def admin_url(self):
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, timeout=20):
        args = [RILL_BIN, "--override", f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "--override", f"log.dirs={self.data_dir}/data",
                "--override", "group.initial.rebalance.delay.ms=0",
                "--override", f"admin.listeners={self.admin_url}"]
        capture = os.environ.get("RILL_CAPTURE_DIR")
        if capture and not self.proxy:
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../fuzz"))
            from capture import CaptureProxy
            self.proxy = CaptureProxy(capture, "127.0.0.1", self.port)
        if self.proxy:
            args += ["--override", f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.proxy.port}"]
        for k, v in self.overrides.items():
            args += ["--override", f"{k}={v}"]
        args += self.extra_args
        self.log = open(self.log_path, "ab")
        self.log_start = self.log.tell()  # this run's part of the log (sanitizer reports)
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=broker_env())
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rill exited with {self.proc.returncode}: {self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("rill did not start listening: " + self.tail())

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError("rill did not stop within %ss" % timeout)
        rc = self.proc.returncode
        self.proc = None
        self.log.close()
        collect_sanitizer_reports(self.log_path, self.log_start)
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def cleanup(self):
        if self.proc:
            self.stop(signal.SIGKILL)
        if self.proxy:
            self.proxy.close()
            self.proxy = None
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


class BrokerTestCase(unittest.TestCase):
    """A broker per test class."""

    overrides = {}

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(overrides=cls.overrides).start()

    @classmethod
    def tearDownClass(cls):
        rc = cls.broker.stop()
        log = cls.broker.tail()
        cls.broker.cleanup()
        if rc != 0:
            raise AssertionError(f"rill exited with {rc} on SIGTERM:\n{log}")

    def run_cmd(self, args, input=None, timeout=120, check=True):
        p = subprocess.run(args, input=input, capture_output=True, timeout=timeout)
        if check and p.returncode != 0:
            self.fail(f"{args} failed ({p.returncode}): {p.stderr.decode(errors='replace')}\n"
                      f"broker log:\n{self.broker.tail()}")
        return p
