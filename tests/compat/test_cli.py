"""The operator CLI (`rill topic ...`, src/cli) against the real broker: every command in table
and JSON output, cross-checked with kcat -L and confluent_kafka's AdminClient, and the exit
codes (0 ok, 1 Kafka error, 2 bad arguments, 3 cannot connect)."""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import unittest

from confluent_kafka.admin import AdminClient, ConfigResource

from rill_harness import RILL_BIN, BrokerTestCase, free_port


def table_rows(text, header_first):
    """The rows (lists of cells) of the table whose header starts with `header_first`, up to
    the next blank line."""
    lines = text.splitlines()
    start = next(i for i, l in enumerate(lines) if l.split() and l.split()[0] == header_first)
    rows = []
    for l in lines[start + 1:]:
        if not l.strip():
            break
        rows.append(l.split())
    return lines[start].split(), rows


class CliTest(BrokerTestCase):
    def cli(self, *args, expect=0):
        p = subprocess.run([RILL_BIN, *args, "-b", self.broker.bootstrap], capture_output=True,
                           timeout=60)
        self.assertEqual(p.returncode, expect,
                         f"rill {' '.join(args)}: exit {p.returncode}\nstdout: {p.stdout.decode()}"
                         f"\nstderr: {p.stderr.decode()}")
        return p.stdout.decode(), p.stderr.decode()

    def cli_json(self, *args):
        out, _ = self.cli(*args, "--format", "json")
        return json.loads(out)

    def kcat_metadata(self, topic):
        p = self.run_cmd(["kcat", "-b", self.broker.bootstrap, "-L", "-J", "-t", topic])
        return json.loads(p.stdout)

    def admin(self):
        return AdminClient({"bootstrap.servers": self.broker.bootstrap})

    # ------------------------------------------------------------------ help and arguments

    def test_help_at_every_level(self):
        for args in (["help"], ["topic", "--help"], ["help", "topic"],
                     *[["topic", verb, "--help"] for verb in
                       ("list", "describe", "create", "delete", "alter-config", "add-partitions")]):
            with self.subTest(args=args):
                p = subprocess.run([RILL_BIN, *args], capture_output=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn(b"Usage: rill", p.stdout)
                self.assertIn(b"--help", p.stdout)
        out = subprocess.run([RILL_BIN, "topic", "--help"], capture_output=True).stdout.decode()
        for verb in ("list", "describe", "create", "delete", "alter-config", "add-partitions"):
            self.assertIn(verb, out)
        # The broker's own usage stays, and points at the CLI.
        p = subprocess.run([RILL_BIN, "--help"], capture_output=True, timeout=30)
        self.assertIn(b"--override key=value", p.stdout)
        self.assertIn(b"rill topic", p.stdout)

    def test_bad_arguments_exit_2(self):
        cases = [
            ["topic"],                                   # no verb
            ["topic", "frobnicate"],                     # unknown verb
            ["topic", "create"],                         # topic name missing
            ["topic", "create", "x", "--partitions", "0"],
            ["topic", "create", "x", "--partitions", "many"],
            ["topic", "create", "x", "--config", "novalue"],
            ["topic", "list", "--format", "xml"],
            ["topic", "list", "--no-such-flag"],
            ["topic", "alter-config", "x"],              # nothing to change
            ["topic", "alter-config", "x", "--set", "retention.ms"],
            ["topic", "alter-config", "x", "--set", "a=1", "--delete", "a"],
            ["topic", "add-partitions", "x"],            # --partitions missing
            ["topic", "delete"],
        ]
        for args in cases:
            with self.subTest(args=args):
                _, err = self.cli(*args, expect=2)
                self.assertIn("rill:", err)
                self.assertIn("--help", err)

    def test_no_broker_exit_3(self):
        port = free_port()  # nothing listens there
        for args in (["topic", "list"], ["topic", "describe", "x"], ["topic", "create", "x"]):
            with self.subTest(args=args):
                p = subprocess.run([RILL_BIN, *args, "-b", f"127.0.0.1:{port}"],
                                   capture_output=True, timeout=30)
                self.assertEqual(p.returncode, 3, p.stderr)
                self.assertIn(b"cannot connect to 127.0.0.1:", p.stderr)
        for bad in ("no-port-here", "127.0.0.1:99999", "127.0.0.1:12x", ":9092"):
            p = subprocess.run([RILL_BIN, "topic", "list", "-b", bad], capture_output=True,
                               timeout=30)
            self.assertEqual(p.returncode, 2, bad)  # a bad argument, not an unreachable broker
            self.assertIn(b"bad broker address", p.stderr)
        # The second bootstrap server is tried when the first refuses.
        p = subprocess.run([RILL_BIN, "topic", "list", "-b",
                            f"127.0.0.1:{port},{self.broker.bootstrap}"], capture_output=True,
                           timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        # A peer that accepts but never answers: exit 3 once --timeout-ms has passed.
        with socket.socket() as mute:
            mute.bind(("127.0.0.1", 0))
            mute.listen(1)
            p = subprocess.run([RILL_BIN, "topic", "list", "--timeout-ms", "300", "-b",
                                f"127.0.0.1:{mute.getsockname()[1]}"], capture_output=True,
                               timeout=30)
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(b"no answer from 127.0.0.1:", p.stderr)

    def test_global_options_before_the_noun(self):
        self.cli("topic", "create", "cli-global", "-p", "1")
        for args in (["-b", self.broker.bootstrap, "--format", "json", "topic", "list"],
                     [f"--bootstrap-server={self.broker.bootstrap}", "--format=json", "topic",
                      "list"],
                     ["topic", "--format", "json", "list", "-b", self.broker.bootstrap]):
            with self.subTest(args=args):
                p = subprocess.run([RILL_BIN, *args], capture_output=True, timeout=30)
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertIn("cli-global", [t["name"] for t in json.loads(p.stdout)])
        # A topic may be called "help": only the noun position asks for help.
        out, _ = self.cli("topic", "create", "help", "-p", "1")
        self.assertEqual(out, "Created topic help.\n")
        self.cli("topic", "delete", "help")

    # ------------------------------------------------------------------------ topic commands

    def test_create_list_describe_delete(self):
        out, _ = self.cli("topic", "create", "cli-orders", "--partitions", "3",
                          "--replication-factor", "1", "--config", "retention.ms=7200000",
                          "-c", "cleanup.policy=compact")
        self.assertEqual(out, "Created topic cli-orders.\n")
        created = self.cli_json("topic", "create", "cli-json", "-p", "2")
        self.assertEqual(created["name"], "cli-json")
        self.assertTrue(created["created"])
        self.assertEqual(created["partitions"], 2)
        self.assertEqual(created["replication_factor"], 1)

        # list: table and JSON agree with each other and with kcat.
        out, _ = self.cli("topic", "list")
        header, rows = table_rows(out, "TOPIC")
        self.assertEqual(header, ["TOPIC", "PARTITIONS", "REPLICATION", "INTERNAL"])
        by_name = {r[0]: r for r in rows}
        self.assertEqual(by_name["cli-orders"], ["cli-orders", "3", "1", "no"])
        self.assertEqual(by_name["cli-json"], ["cli-json", "2", "1", "no"])
        listed = {t["name"]: t for t in self.cli_json("topic", "list")}
        self.assertEqual(listed["cli-orders"]["partitions"], 3)
        self.assertEqual(listed["cli-json"]["topic_id"], created["topic_id"])
        kcat_all = json.loads(self.run_cmd(["kcat", "-b", self.broker.bootstrap, "-L", "-J"]).stdout)
        self.assertEqual(sorted(listed), sorted(t["topic"] for t in kcat_all["topics"]))

        # describe: partitions as kcat -L sees them, configs with their sources.
        desc = self.cli_json("topic", "describe", "cli-orders")
        self.assertEqual(len(desc), 1)
        d = desc[0]
        self.assertEqual((d["name"], d["partition_count"], d["replication_factor"]),
                         ("cli-orders", 3, 1))
        self.assertEqual(d["topic_id"], listed["cli-orders"]["topic_id"])
        kc = self.kcat_metadata("cli-orders")["topics"][0]
        self.assertEqual(
            [(p["partition"], p["leader"], p["replicas"], p["isr"]) for p in d["partitions"]],
            [(p["partition"], p["leader"], [r["id"] for r in p["replicas"]],
              [r["id"] for r in p["isrs"]]) for p in sorted(kc["partitions"],
                                                            key=lambda p: p["partition"])])
        for p in d["partitions"]:
            self.assertEqual(p["offline_replicas"], [])
            self.assertFalse(p["under_replicated"])
        cfg = {c["name"]: c for c in d["configs"]}
        self.assertEqual(cfg["retention.ms"]["value"], "7200000")
        self.assertEqual(cfg["retention.ms"]["source"], "DYNAMIC_TOPIC_CONFIG")
        self.assertEqual(cfg["cleanup.policy"]["value"], "compact")
        self.assertEqual(cfg["segment.bytes"]["source"], "DEFAULT_CONFIG")

        out, _ = self.cli("topic", "describe", "cli-orders")
        self.assertIn(f"Topic: cli-orders\tTopicId: {d['topic_id']}\tPartitions: 3\t"
                      "ReplicationFactor: 1\n", out)
        header, rows = table_rows(out, "PARTITION")
        self.assertEqual(header, ["PARTITION", "LEADER", "REPLICAS", "ISR", "OFFLINE",
                                  "UNDER-REPLICATED"])
        self.assertEqual(rows, [[str(p["partition"]), str(p["leader"]), "0", "0", "-", "no"]
                                for p in d["partitions"]])
        header, rows = table_rows(out, "CONFIG")
        self.assertEqual(header, ["CONFIG", "VALUE", "SOURCE"])
        self.assertIn(["retention.ms", "7200000", "DYNAMIC_TOPIC_CONFIG"], rows)
        self.assertIn(["cleanup.policy", "compact", "DYNAMIC_TOPIC_CONFIG"], rows)
        # --non-default keeps only the topic's own configs.
        out, _ = self.cli("topic", "describe", "cli-orders", "--non-default")
        _, rows = table_rows(out, "CONFIG")
        self.assertEqual(sorted(r[0] for r in rows), ["cleanup.policy", "retention.ms"])
        # Several topics, and every topic when none is named.
        both = self.cli_json("topic", "describe", "cli-orders", "cli-json")
        self.assertEqual([t["name"] for t in both], ["cli-json", "cli-orders"])
        every = [t["name"] for t in self.cli_json("topic", "describe")]
        self.assertIn("cli-orders", every)
        self.assertIn("cli-json", every)

        # delete, seen by kcat and list.
        out, _ = self.cli("topic", "delete", "cli-orders", "cli-json")
        self.assertEqual(out, "Deleted topic cli-orders.\nDeleted topic cli-json.\n")
        names = [t["name"] for t in self.cli_json("topic", "list")]
        self.assertNotIn("cli-orders", names)
        self.assertNotIn("cli-json", names)
        kcat_all = json.loads(self.run_cmd(["kcat", "-b", self.broker.bootstrap, "-L", "-J"]).stdout)
        self.assertNotIn("cli-orders", [t["topic"] for t in kcat_all["topics"]])

    def test_kafka_errors_exit_1(self):
        self.cli("topic", "create", "cli-dup", "-p", "1")
        _, err = self.cli("topic", "create", "cli-dup", "-p", "1", expect=1)
        self.assertIn("TOPIC_ALREADY_EXISTS", err)
        out = self.cli_json("topic", "create", "cli-dup", "--if-not-exists")
        self.assertEqual(out, {"name": "cli-dup", "created": False})

        _, err = self.cli("topic", "describe", "cli-missing", expect=1)
        self.assertIn("topic 'cli-missing': UNKNOWN_TOPIC_OR_PARTITION", err)
        _, err = self.cli("topic", "delete", "cli-missing", expect=1)
        self.assertIn("UNKNOWN_TOPIC_OR_PARTITION", err)
        out = self.cli_json("topic", "delete", "cli-missing", "--if-exists")
        self.assertEqual(out, [{"name": "cli-missing", "deleted": False}])
        _, err = self.cli("topic", "alter-config", "cli-missing", "--set", "retention.ms=1",
                          expect=1)
        self.assertIn("UNKNOWN_TOPIC_OR_PARTITION", err)
        _, err = self.cli("topic", "add-partitions", "cli-missing", "-p", "4", expect=1)
        self.assertIn("UNKNOWN_TOPIC_OR_PARTITION", err)

        _, err = self.cli("topic", "create", "bad/name", "-p", "1", expect=1)
        self.assertIn("INVALID_TOPIC_EXCEPTION", err)
        _, err = self.cli("topic", "create", "cli-bad-config", "-c", "no.such.config=1", expect=1)
        self.assertIn("INVALID_CONFIG", err)
        _, err = self.cli("topic", "alter-config", "cli-dup", "--set", "no.such.config=1",
                          expect=1)
        self.assertIn("INVALID_CONFIG", err)
        _, err = self.cli("topic", "add-partitions", "cli-dup", "-p", "1", expect=1)
        self.assertIn("INVALID_PARTITIONS", err)
        # Nothing was created by the failed attempts.
        names = [t["name"] for t in self.cli_json("topic", "list")]
        self.assertNotIn("cli-bad-config", names)
        self.assertNotIn("bad/name", names)

    def test_alter_config(self):
        self.cli("topic", "create", "cli-cfg", "-p", "1", "-c", "cleanup.policy=compact")
        out, _ = self.cli("topic", "alter-config", "cli-cfg", "--set", "retention.ms=60000",
                          "--set", "max.message.bytes=2000000", "--delete", "cleanup.policy")
        self.assertEqual(out, "Updated configs of topic cli-cfg.\n")
        cfg = {c["name"]: c for c in self.cli_json("topic", "describe", "cli-cfg")[0]["configs"]}
        self.assertEqual((cfg["retention.ms"]["value"], cfg["retention.ms"]["source"]),
                         ("60000", "DYNAMIC_TOPIC_CONFIG"))
        self.assertEqual(cfg["max.message.bytes"]["value"], "2000000")
        self.assertEqual((cfg["cleanup.policy"]["value"], cfg["cleanup.policy"]["source"]),
                         ("delete", "DEFAULT_CONFIG"))
        # Another client sees the same configs.
        res = ConfigResource(ConfigResource.Type.TOPIC, "cli-cfg")
        admin = self.admin()
        entries = admin.describe_configs([res])[res].result(timeout=30)
        self.assertEqual(entries["retention.ms"].value, "60000")
        self.assertEqual(entries["cleanup.policy"].value, "delete")
        out = self.cli_json("topic", "alter-config", "cli-cfg", "--delete", "retention.ms")
        self.assertEqual(out, {"name": "cli-cfg", "set": {}, "deleted": ["retention.ms"]})
        cfg = {c["name"]: c for c in self.cli_json("topic", "describe", "cli-cfg")[0]["configs"]}
        self.assertEqual(cfg["retention.ms"]["source"], "DEFAULT_CONFIG")

    def test_add_partitions(self):
        self.cli("topic", "create", "cli-grow", "-p", "2")
        out, _ = self.cli("topic", "add-partitions", "cli-grow", "--partitions", "5")
        self.assertEqual(out, "Topic cli-grow now has 5 partitions.\n")
        self.assertEqual(len(self.kcat_metadata("cli-grow")["topics"][0]["partitions"]), 5)
        self.assertEqual(self.cli_json("topic", "add-partitions", "cli-grow", "-p", "6"),
                         {"name": "cli-grow", "partitions": 6})
        d = self.cli_json("topic", "describe", "cli-grow")[0]
        self.assertEqual([p["partition"] for p in d["partitions"]], list(range(6)))
        admin = self.admin()
        md = admin.list_topics("cli-grow", timeout=30)
        self.assertEqual(len(md.topics["cli-grow"].partitions), 6)

    def test_default_partitions_from_broker(self):
        # Without --partitions and --replication-factor the broker's defaults apply.
        out = self.cli_json("topic", "create", "cli-defaults")
        self.assertTrue(out["created"])
        self.assertEqual(out["partitions"], 1)  # num.partitions defaults to 1
        self.assertEqual(out["replication_factor"], 1)


class FakeBroker:
    """A listening socket whose `answer(api_key, version, correlation_id)` returns the raw bytes
    sent back for each request (None closes the connection)."""

    def __init__(self, answer):
        self.answer = answer
        self.requests = []  # (api_key, version)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.bootstrap = f"127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            while True:
                head = conn.recv(4, socket.MSG_WAITALL)
                if len(head) < 4:
                    return
                body = conn.recv(struct.unpack(">i", head)[0], socket.MSG_WAITALL)
                key, version, corr = struct.unpack(">hhi", body[:8])
                self.requests.append((key, version))
                out = self.answer(key, version, corr)
                if out is None:
                    return
                conn.sendall(out)

    def close(self):
        self.sock.close()


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


class CliHostileBrokerTest(unittest.TestCase):
    """Peers that are not well-behaved brokers: a clear error and exit code, never a hang."""

    def run_cli(self, fake, *args):
        self.addCleanup(fake.close)
        return subprocess.run([RILL_BIN, "topic", "list", "--timeout-ms", "5000", *args, "-b",
                               fake.bootstrap], capture_output=True, timeout=30)

    def test_api_versions_v0_fallback(self):
        # An old broker: ApiVersions v3 is answered in the v0 layout with UNSUPPORTED_VERSION;
        # v0 then lists ApiVersions only, so Metadata is unsupported: exit 1, Kafka's error.
        def answer(key, version, corr):
            if key != 18:
                return None
            if version > 0:
                return frame(struct.pack(">ihi", corr, 35, 1) + struct.pack(">hhh", 18, 0, 0))
            return frame(struct.pack(">ihi", corr, 0, 1) + struct.pack(">hhh", 18, 0, 0))
        fake = FakeBroker(answer)
        p = self.run_cli(fake)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn(b"UNSUPPORTED_VERSION", p.stderr)
        self.assertIn(b"does not support Metadata", p.stderr)
        self.assertEqual(fake.requests, [(18, 3), (18, 0)])

    def test_oversized_and_garbage_frames(self):
        for name, reply in (("oversized", lambda corr: struct.pack(">i", 0x7fffffff)),
                            ("negative", lambda corr: struct.pack(">i", -5)),
                            ("wrong correlation id", lambda corr: frame(struct.pack(">i", corr + 7)
                                                                       + b"\0" * 16)),
                            ("truncated body", lambda corr: frame(struct.pack(">i", corr)
                                                                  + b"\0\0\0"))):
            with self.subTest(name):
                # ApiVersions answered at once by garbage; after a v0 retry the same again.
                p = self.run_cli(FakeBroker(lambda key, version, corr: reply(corr)))
                self.assertEqual(p.returncode, 1, p.stderr)
                self.assertIn(b"CORRUPT_MESSAGE", p.stderr)

    def test_peer_closes(self):
        p = self.run_cli(FakeBroker(lambda key, version, corr: None))
        self.assertEqual(p.returncode, 3, p.stderr)
        self.assertIn(b"closed the connection", p.stderr)


class CliBrokerDefaultsTest(BrokerTestCase):
    overrides = {"num.partitions": "4"}

    def test_broker_num_partitions(self):
        p = subprocess.run([RILL_BIN, "topic", "create", "cli-four", "--format", "json", "-b",
                            self.broker.bootstrap], capture_output=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["partitions"], 4)
        p = subprocess.run([RILL_BIN, "topic", "list", "-b", self.broker.bootstrap],
                           capture_output=True, timeout=60)
        self.assertIn("cli-four", p.stdout.decode())


# The cluster half: ZooKeeper and three brokers (tests/cluster/cluster_harness.py), for what one
# broker cannot show: controller routing, replicas, ISR, offline and under-replicated partitions.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster"))
HAVE_ZOOKEEPER = os.path.exists("/usr/share/java/zookeeper.jar") and shutil.which("java")
if HAVE_ZOOKEEPER:
    from cluster_harness import ClusterTestCase
else:
    ClusterTestCase = unittest.TestCase


@unittest.skipUnless(HAVE_ZOOKEEPER, "needs ZooKeeper (Debian's zookeeper package) and java")
class CliClusterTest(ClusterTestCase):
    def cli(self, bootstrap, *args, expect=0):
        p = subprocess.run([RILL_BIN, *args, "-b", bootstrap], capture_output=True, timeout=120)
        self.assertEqual(p.returncode, expect, p.stderr.decode())
        return p.stdout.decode()

    def test_replicas_isr_offline_under_replicated(self):
        c = self.cluster
        controller = c.controller_id()
        other = next(i for i in sorted(c.brokers) if i != controller)
        # Sent to a broker that is not the controller: the CLI finds the controller itself.
        self.cli(c.bootstrap([other]), "topic", "create", "cli-rf3", "-p", "2", "-r", "3")
        for p in range(2):
            c.wait_isr("cli-rf3", p, {1, 2, 3})
        d = json.loads(self.cli(c.bootstrap(), "topic", "describe", "cli-rf3", "--format", "json"))
        self.assertEqual(d[0]["replication_factor"], 3)
        for p in d[0]["partitions"]:
            self.assertEqual(sorted(p["replicas"]), [1, 2, 3])
            self.assertEqual(sorted(p["isr"]), [1, 2, 3])
            self.assertEqual(p["offline_replicas"], [])
            self.assertFalse(p["under_replicated"])
        out = self.cli(c.bootstrap(), "topic", "describe", "cli-rf3", "--under-replicated")
        self.assertEqual(table_rows(out, "PARTITION")[1], [])

        victim = next(i for i in sorted(c.brokers) if i not in (controller, other))
        c.kill(victim)
        live = sorted(set(c.brokers) - {victim})
        c.wait_deregistered(victim)
        for p in range(2):
            c.wait_isr("cli-rf3", p, set(live))

        def described_offline():
            d = json.loads(self.cli(c.bootstrap(live), "topic", "describe", "cli-rf3",
                                    "--format", "json"))
            return all(p["offline_replicas"] for p in d[0]["partitions"]) and d
        # Every live broker learns of the loss from ZooKeeper; wait until the one asked has.
        d = c.wait(described_offline, 60, "offline replicas in the CLI's describe")
        for p in d[0]["partitions"]:
            self.assertEqual(sorted(p["replicas"]), [1, 2, 3])
            self.assertEqual(sorted(p["isr"]), live)
            self.assertEqual(p["offline_replicas"], [victim])
            self.assertTrue(p["under_replicated"])
            self.assertNotEqual(p["leader"], victim)
        out = self.cli(c.bootstrap(live), "topic", "describe", "cli-rf3", "--under-replicated")
        _, rows = table_rows(out, "PARTITION")
        self.assertEqual(sorted(r[0] for r in rows), ["0", "1"])
        for r in rows:
            self.assertEqual(r[4], str(victim))
            self.assertEqual(r[5], "yes")
        # Three replicas need three live brokers: Kafka's error, exit 1.
        self.cli(c.bootstrap(live), "topic", "add-partitions", "cli-rf3", "-p", "3", expect=1)
        c.start_broker(victim)
        for p in range(2):
            c.wait_isr("cli-rf3", p, {1, 2, 3})
        self.cli(c.bootstrap([other]), "topic", "add-partitions", "cli-rf3", "-p", "3")
        c.wait_isr("cli-rf3", 2, {1, 2, 3})
        d = json.loads(self.cli(c.bootstrap(), "topic", "describe", "cli-rf3", "--format", "json"))
        self.assertEqual([p["partition"] for p in d[0]["partitions"]], [0, 1, 2])
        self.assertFalse(any(p["under_replicated"] for p in d[0]["partitions"]))
        self.cli(c.bootstrap([other]), "topic", "delete", "cli-rf3")
        names = [t["name"] for t in json.loads(self.cli(c.bootstrap(), "topic", "list", "--format",
                                                        "json"))]
        self.assertNotIn("cli-rf3", names)


if __name__ == "__main__":
    unittest.main()
