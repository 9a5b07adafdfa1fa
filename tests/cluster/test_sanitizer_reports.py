"""The harness fails a test program whose brokers printed a sanitizer report (issue 14: the
ThreadSanitizer run of the compat and cluster suites). A stand-in broker (this file run as a
script) listens like rill does and prints a ThreadSanitizer report; a child test program using
rill_harness.Broker with RILL_BIN pointing at it must exit 1 and show the report, and exit 0 when
the stand-in prints none. No ZooKeeper, no real broker: seconds."""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "compat"))

import rill_harness  # noqa: E402

REPORT = """==================
WARNING: ThreadSanitizer: data race (pid=4242)
  Write of size 8 at 0x7b0400000010 by thread T2:
    #0 rill::broker::partition::advance_high_watermark() partition.cc:120
  Previous read of size 8 at 0x7b0400000010 by thread T1:
    #0 rill::broker::fetch() fetch.cc:88
SUMMARY: ThreadSanitizer: data race partition.cc:120 in advance_high_watermark
=================="""


def fake_broker(argv):
    """Stand-in for build/apps/rill: listens on the --override listeners port, prints REPORT when
    FAKE_TSAN_REPORT=1 (after checking that the harness passed halt_on_error=0), exits on
    SIGTERM with TSan's exit code (66) when it reported."""
    port = next(int(a.rsplit(":", 1)[1]) for a in argv if a.startswith("listeners="))
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen()
    reported = os.environ.get("FAKE_TSAN_REPORT") == "1"
    if reported:
        assert "halt_on_error=0" in os.environ.get("TSAN_OPTIONS", ""), os.environ.get(
            "TSAN_OPTIONS")
        print("broker started", flush=True)
        print(REPORT, file=sys.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(66 if reported else 0))
    while True:
        time.sleep(1)


CHILD = textwrap.dedent("""
    import sys, unittest
    sys.path.insert(0, {compat!r})
    import rill_harness

    class T(unittest.TestCase):
        def test(self):
            b = rill_harness.Broker().start(timeout=10)
            b.kill9() if {kill!r} else b.stop()
            b.cleanup()

    unittest.main()
""")


class SanitizerReportTest(unittest.TestCase):
    def run_child(self, report, kill):
        with tempfile.TemporaryDirectory() as d:
            fake = os.path.join(d, "rill")
            with open(fake, "w") as f:
                f.write(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {HERE!r})\n"
                        "import test_sanitizer_reports as t\nt.fake_broker(sys.argv[1:])\n")
            os.chmod(fake, 0o755)
            env = dict(os.environ, RILL_BIN=fake, FAKE_TSAN_REPORT="1" if report else "0",
                       PYTHONDONTWRITEBYTECODE="1")
            env.pop("TSAN_OPTIONS", None)
            child = CHILD.format(compat=os.path.join(HERE, "..", "compat"), kill=kill)
            return subprocess.run([sys.executable, "-c", child], env=env, capture_output=True,
                                  timeout=60)

    def test_report_fails_the_program(self):
        for kill in (False, True):
            p = self.run_child(report=True, kill=kill)
            err = p.stderr.decode(errors="replace")
            self.assertEqual(p.returncode, 1, err)
            self.assertIn("1 sanitizer report(s) in broker logs", err)
            self.assertIn("SUMMARY: ThreadSanitizer: data race partition.cc:120", err)

    def test_no_report_passes(self):
        p = self.run_child(report=False, kill=False)
        self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace"))

    def test_parses_reports_from_an_offset(self):
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            f.write(b"old run\n" + REPORT.encode() + b"\n")
            start = f.tell()
            f.write(b"new run\nline\n" + REPORT.encode() + b"\nmore\n" + REPORT.encode() + b"\n")
        try:
            self.assertEqual(len(rill_harness.sanitizer_reports(f.name)), 3)
            got = rill_harness.sanitizer_reports(f.name, start)
            self.assertEqual(len(got), 2)
            self.assertTrue(got[0].startswith("WARNING: ThreadSanitizer: data race"))
            self.assertTrue(got[0].endswith("in advance_high_watermark"))
        finally:
            os.unlink(f.name)


if __name__ == "__main__":
    unittest.main()
