"""The rill binary's command line: invalid configs and occupied ports fail with a message and a
non-zero exit; unknown keys only warn."""

import os
import socket
import subprocess
import tempfile
import unittest

from rill_harness import RILL_BIN, free_port


def run(args, timeout=20):
    return subprocess.run([RILL_BIN, *args], capture_output=True, timeout=timeout)


class BrokerCliTest(unittest.TestCase):
    def test_invalid_values_fail_clearly(self):
        for kv in ["num.partitions=0", "auto.create.topics.enable=maybe",
                   "log.cleanup.policy=shred", "listeners=PLAINTEXT://127.0.0.1:99999"]:
            with self.subTest(kv=kv), tempfile.TemporaryDirectory() as d:
                p = run(["--override", f"log.dirs={d}", "--override", kv])
                self.assertNotEqual(p.returncode, 0)
                key = kv.split("=")[0]
                self.assertIn(key.split(".")[0], p.stderr.decode())

    def test_missing_config_file_and_bad_arguments(self):
        self.assertNotEqual(run(["--config", "/nonexistent/server.properties"]).returncode, 0)
        self.assertNotEqual(run(["--bogus"]).returncode, 0)
        self.assertNotEqual(run(["--override", "novalue"]).returncode, 0)

    def test_occupied_port_fails(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            with tempfile.TemporaryDirectory() as d:
                p = run(["--override", f"listeners=PLAINTEXT://127.0.0.1:{port}",
                         "--override", f"log.dirs={d}"])
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(str(port), p.stderr.decode())

    def test_unknown_keys_warn_and_config_file_is_read(self):
        with tempfile.TemporaryDirectory() as d:
            cfg = os.path.join(d, "server.properties")
            with open(cfg, "w") as f:
                f.write("# test\nno.such.setting=1\nnum.partitions=4\n")
            port = free_port()
            log = open(os.path.join(d, "out.log"), "wb")
            proc = subprocess.Popen([RILL_BIN, "--config", cfg, "--override",
                                     f"listeners=PLAINTEXT://127.0.0.1:{port}",
                                     "--override", f"log.dirs={d}/data",
                                     # no admin endpoint: its default port may be taken
                                     "--override", "admin.listeners="],
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                import time
                for _ in range(200):
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                        break
                    except OSError:
                        time.sleep(0.05)
                out = subprocess.run(["kcat", "-b", f"127.0.0.1:{port}", "-L", "-t", "auto4"],
                                     capture_output=True, timeout=30).stdout.decode()
                self.assertIn("4 partitions", out)
            finally:
                proc.terminate()
                self.assertEqual(proc.wait(30), 0)
                log.close()
            with open(os.path.join(d, "out.log")) as f:
                self.assertIn("no.such.setting", f.read())


if __name__ == "__main__":
    unittest.main()
