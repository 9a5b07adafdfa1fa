"""kcat against the real broker: produce/consume with every codec, metadata, offsets by time."""

import json
import subprocess
import time
import unittest

from rill_harness import BrokerTestCase

N = 100_000


class KcatTest(BrokerTestCase):
    def kcat(self, *args, input=None, timeout=180):
        return self.run_cmd(["kcat", "-b", self.broker.bootstrap, *args], input=input, timeout=timeout)

    def test_keyed_records_every_codec(self):
        for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
            with self.subTest(codec=codec):
                topic = f"kcat-{codec}"
                self.kcat("-L", "-t", topic)  # auto-create with num.partitions
                lines = "".join(f"key{i % 97}:value-{i}-{'x' * (i % 50)}\n" for i in range(N))
                self.kcat("-P", "-t", topic, "-z", codec, "-K:", input=lines.encode())
                out = self.kcat("-C", "-t", topic, "-e", "-o", "beginning", "-f", "%p %o %k:%s\n").stdout
                rows = out.decode().splitlines()
                self.assertEqual(len(rows), N)
                got = sorted(r.split(" ", 2)[2] for r in rows)
                self.assertEqual(got, sorted(lines.splitlines()))
                # Per-partition order: offsets increase.
                last = {}
                for r in rows:
                    p, o, kv = r.split(" ", 2)
                    self.assertGreater(int(o), last.get(p, -1))
                    last[p] = int(o)

    def test_metadata_json(self):
        self.kcat("-P", "-t", "meta-topic", input=b"a\nb\n")
        md = json.loads(self.kcat("-L", "-J").stdout)
        self.assertEqual(md["brokers"][0]["id"], 0)
        names = [t["topic"] for t in md["topics"]]
        self.assertIn("meta-topic", names)

    def test_offsets_by_time(self):
        topic = "kcat-times"
        t0 = int(time.time() * 1000)
        self.kcat("-P", "-t", topic, "-p", "0", input=b"early\n")
        time.sleep(0.05)
        t1 = int(time.time() * 1000)
        self.kcat("-P", "-t", topic, "-p", "0", input=b"late1\nlate2\n")
        out = self.kcat("-Q", "-t", f"{topic}:0:{t1}").stdout.decode()
        self.assertIn("offset 1", out)
        out = self.kcat("-Q", "-t", f"{topic}:0:{t0 - 1000}").stdout.decode()
        self.assertIn("offset 0", out)
        out = self.kcat("-Q", "-t", f"{topic}:0:{t1 + 3600_000}").stdout.decode()
        self.assertIn("offset -1", out)


if __name__ == "__main__":
    unittest.main()
