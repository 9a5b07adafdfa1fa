"""The client compatibility matrix (issue 9): one scenario set, run by every client against the
real broker, results written to docs/compatibility.md.

Each client has a scenario program under clients/ (Python modules, JavaScript files, a Go program,
a C++ program for librdkafka, and a kcat driver). A program runs one step per invocation:

    <program> STEP BOOTSTRAP ARGS_JSON

and prints one JSON object as its last line of standard output: {"ok": true, ...},
{"ok": false, "error": "..."} or {"na": "why the client cannot do this"}. Steps that read records
return them as [partition, offset, key, value, [[header, value], ...]] and this runner checks them,
so the checks are the same for every client. The steps, in order, each client on its own broker
(started with rill.log.level=debug, so the broker's request log tells which API versions it used):

    create        create topic `matrix` with 3 partitions (admin API, or auto-creation)
    produce       1,000 keyed records with headers, once per codec the client supports
    consume       read them all back by assigning the 3 partitions (no group)
    group         two members of group `matrix-group` consume the topic and commit
    -- the broker is stopped (SIGTERM) and started again on the same data --
    resume        produce 100 more; a member of the group resumes from the committed offsets and
                  must get exactly those 100
    admin_topics  create, list, describe and delete a topic
    admin_groups  list, describe and delete the group
    idempotent    an idempotent producer writes 1,000 records to `matrix-idem`, read back exactly

A client that is not installed fails every cell of its row (never skipped). RILL_MATRIX_CLIENTS
(comma-separated names) runs a subset and then leaves docs/compatibility.md alone.
"""

import collections
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import unittest

from rill_harness import RILL_BIN, Broker

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENTS_DIR = os.path.join(HERE, "clients")
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DOC = os.path.join(REPO, "docs", "compatibility.md")

TOPIC = "matrix"
IDEM_TOPIC = "matrix-idem"
GROUP = "matrix-group"
N = 1000
RESUME_N = 100
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]

SCENARIOS = ["create_topic", "produce", "consume_assign", "group_consume", "group_resume",
             "admin_topics", "admin_groups", "idempotent"]


def build_dir():
    return os.path.abspath(os.path.join(os.path.dirname(RILL_BIN), ".."))


class Client:
    """One column of clients: how to run its scenario program and what it supports."""

    def __init__(self, name, label, codecs, command, prepare=None, headers="full"):
        self.name = name
        # "full": tag and seq headers; "tag": kcat sets one header set per run; "none": sarama
        # below Version 0.11 writes message sets, which have no headers.
        self.headers = headers
        self.label = label
        self.codecs = codecs
        self.command = command  # function() -> argv prefix
        self.prepare = prepare  # function() -> None, raises when the client is not installed


def need(cond, what):
    if not cond:
        raise RuntimeError(f"not installed: {what} (scripts/setup installs it)")


def prepare_python(module):
    def check():
        p = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
        need(p.returncode == 0, f"python3 module {module}: {p.stderr.decode()[-300:]}")
    return check


JS_DIR = os.path.join(CLIENTS_DIR, "js")


def prepare_js(package):
    def check():
        need(shutil.which("node"), "node")
        p = subprocess.run(["node", "-e", f"require('{package}')"], cwd=JS_DIR, capture_output=True)
        need(p.returncode == 0, f"npm package {package} in tests/compat/clients/js "
                                f"(npm ci there): {p.stderr.decode()[-300:]}")
    return check


_go_lock = __import__("threading").Lock()


def sarama_bin():
    return os.path.join(build_dir(), "tests", "compat", "sarama_scenario")


def prepare_sarama():
    with _go_lock:
        need(shutil.which("go"), "go (Debian golang-go)")
        need(os.path.isdir("/usr/share/gocode/src/github.com/Shopify/sarama"),
             "Debian golang-github-shopify-sarama-dev")
        out = sarama_bin()
        src = os.path.join(CLIENTS_DIR, "sarama", "main.go")
        if os.path.exists(out) and os.path.getmtime(out) >= os.path.getmtime(src):
            return
        os.makedirs(os.path.dirname(out), exist_ok=True)
        # Debian's Go packages live in a GOPATH tree; no module download is possible here.
        env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOFLAGS="",
                   GOCACHE=os.path.join(build_dir(), "go-cache"), CGO_CFLAGS="-w")
        p = subprocess.run(["go", "build", "-o", out, src], env=env, capture_output=True,
                           timeout=300)
        need(p.returncode == 0, "sarama scenario build failed: " + p.stderr.decode()[-1500:])


def rdkafka_bin():
    return os.environ.get("RILL_RDKAFKA_SCENARIO",
                          os.path.join(build_dir(), "tests", "compat", "rdkafka_scenario"))


def prepare_rdkafka():
    need(os.access(rdkafka_bin(), os.X_OK),
         f"{rdkafka_bin()} (built from tests/compat/clients/rdkafka_scenario.cc)")


def prepare_kcat():
    need(shutil.which("kcat"), "kcat")


PY = sys.executable
CLIENTS = [
    Client("kcat", "kcat 1.7 (librdkafka 2.0.2)", CODECS,
           lambda: [PY, os.path.join(CLIENTS_DIR, "kcat_scenario.py")], prepare_kcat,
           headers="tag"),
    Client("librdkafka", "librdkafka 2.0.2 C API", CODECS, lambda: [rdkafka_bin()],
           prepare_rdkafka),
    Client("kafka-python", "kafka-python 2.0.2", ["none", "gzip", "snappy", "lz4"],
           lambda: [PY, os.path.join(CLIENTS_DIR, "kafka_python_scenario.py")],
           prepare_python("kafka")),
    Client("confluent-kafka", "confluent-kafka 1.7 (librdkafka 2.0.2)", CODECS,
           lambda: [PY, os.path.join(CLIENTS_DIR, "confluent_scenario.py")],
           prepare_python("confluent_kafka")),
    Client("kafkajs", "kafkajs 2.2.4", ["none", "gzip"],
           lambda: ["node", os.path.join(JS_DIR, "kafkajs_scenario.js")], prepare_js("kafkajs")),
    Client("platformatic", "@platformatic/kafka 1.35", ["none", "gzip", "snappy", "lz4"],
           lambda: ["node", os.path.join(JS_DIR, "platformatic_scenario.js")],
           prepare_js("@platformatic/kafka")),
    Client("sarama-default", "sarama 1.22.1, default Version (0.8.2)",
           ["none", "gzip", "snappy"],
           lambda: [sarama_bin(), "-version", "default"], prepare_sarama, headers="none"),
    Client("sarama-2.1", "sarama 1.22.1, Version V2_1_0_0", ["none", "gzip", "snappy", "lz4"],
           lambda: [sarama_bin(), "-version", "2.1.0"], prepare_sarama),
]


def expected_values(tag, start, n):
    return {f"{tag}-{i}": i for i in range(start, start + n)}


def check_records(records, expected, exact_offsets=True, headers_mode="full"):
    """Checks consumed records against {value: index}. Returns an error string or None."""
    seen = collections.Counter(r[3] for r in records)
    dups = [v for v, c in seen.items() if c > 1]
    if dups:
        return f"{len(dups)} values consumed twice, e.g. {dups[:3]}"
    missing = [v for v in expected if v not in seen]
    extra = [v for v in seen if v not in expected]
    if missing or extra:
        return (f"{len(records)} records: {len(missing)} missing (e.g. {missing[:3]}), "
                f"{len(extra)} unexpected (e.g. {extra[:3]})")
    key_part = {}
    by_part = collections.defaultdict(list)
    for p, off, key, value, headers in records:
        i = expected[value]
        tag = value.rsplit("-", 1)[0]
        if key != f"key-{i % 17}":
            return f"record {value}: key {key!r}"
        want = {"full": [["tag", tag], ["seq", str(i)]], "tag": [["tag", tag]],
                "none": []}[headers_mode]
        if [list(h) for h in headers] != want:
            return f"record {value}: headers {headers!r}"
        if key_part.setdefault((tag, key), p) != p:
            return f"key {key} ({tag}) in partitions {key_part[(tag, key)]} and {p}"
        by_part[p].append(off)
    if sorted(by_part) != [0, 1, 2] and len(expected) >= 100:
        return f"records only in partitions {sorted(by_part)}"
    for p, offs in by_part.items():
        if offs != sorted(offs):
            return f"partition {p}: offsets out of order"
        if exact_offsets and offs != list(range(len(offs))):
            return f"partition {p}: offsets not 0..{len(offs) - 1}"
    return None


class Run:
    """One client's scenario run: its broker, its steps, its results."""

    def __init__(self, client):
        self.client = client
        self.results = {}
        self.versions = collections.defaultdict(set)
        self.log = []
        self.ends = None
        self.broker_exits = []  # exit codes of the broker on SIGTERM; anything but 0 fails

    def check(self, records, expected, exact_offsets=True):
        return check_records(records, expected, exact_offsets, self.client.headers)

    def note(self, msg):
        self.log.append(msg)

    def step(self, broker, step, args, timeout=90):
        cmd = self.client.command() + [step, broker.bootstrap, json.dumps(args)]
        t0 = time.time()
        try:
            p = subprocess.run(cmd, capture_output=True, timeout=timeout, cwd=CLIENTS_DIR)
        except subprocess.TimeoutExpired as e:
            self.note(f"{step}: timed out after {timeout}s; stderr: "
                      f"{(e.stderr or b'').decode(errors='replace')[-2000:]}")
            return {"ok": False, "error": f"timed out after {timeout}s"}
        out = p.stdout.decode(errors="replace").strip().splitlines()
        err = p.stderr.decode(errors="replace")
        self.note(f"{step} {json.dumps(args)}: exit {p.returncode} in {time.time() - t0:.1f}s")
        try:
            res = json.loads(out[-1])
        except (IndexError, ValueError):
            res = {"ok": False, "error": f"exit {p.returncode}, no result; stderr: {err[-600:]}"}
        if not res.get("ok") and "na" not in res:
            self.note(f"{step} failed: {res.get('error')}\nstderr tail:\n{err[-3000:]}")
        return res

    def record(self, scenario, res, check=None):
        """Stores the cell for `scenario`: 'pass', 'n/a: ...' or 'FAIL: ...'."""
        if "na" in res:
            cell = "n/a: " + res["na"]
        elif not res.get("ok"):
            cell = "FAIL: " + str(res.get("error", "failed"))
        else:
            problem = check(res) if check else None
            cell = "FAIL: " + problem if problem else "pass" + (
                f" ({res['detail']})" if res.get("detail") else "")
        if scenario in self.results and not self.results[scenario].startswith("pass"):
            return  # keep the first failure of a scenario made of several steps
        self.results[scenario] = cell

    def read_versions(self, broker):
        pat = re.compile(r"request (\w+) v(\d+) from connection")
        with open(broker.log_path, errors="replace") as f:
            for line in f:
                m = pat.search(line)
                if m:
                    self.versions[m.group(1)].add(int(m.group(2)))

    def run(self):
        c = self.client
        try:
            if c.prepare:
                c.prepare()
        except Exception as e:  # not installed: every cell fails, loudly
            for s in SCENARIOS:
                self.results[s] = f"FAIL: {e}"
            self.note(str(e))
            return self
        data_dir = tempfile.mkdtemp(prefix=f"rill-matrix-{c.name}-")
        overrides = {"num.partitions": "3", "rill.log.level": "debug"}
        broker = Broker(data_dir=data_dir, overrides=overrides)
        try:
            broker.start()
            self.phase_one(broker)
            rc = broker.stop()
            self.broker_exits.append(rc)
            self.read_versions(broker)
            if rc != 0:
                self.note(f"broker exited {rc} on SIGTERM:\n{broker.tail()}")
            broker.start()
            self.phase_two(broker)
        except Exception:
            self.note(traceback.format_exc())
            for s in SCENARIOS:
                self.results.setdefault(s, "FAIL: runner error (see log)")
        finally:
            if broker.proc:
                rc = broker.stop()
                self.broker_exits.append(rc)
                if rc != 0:
                    self.note(f"broker exited {rc} on SIGTERM:\n{broker.tail()}")
            self.read_versions(broker)
            shutil.rmtree(data_dir, ignore_errors=True)
        return self

    def phase_one(self, broker):
        c = self.client
        self.record("create_topic", self.step(broker, "create", {"topic": TOPIC, "partitions": 3}))
        produced = {}
        for codec in c.codecs:
            res = self.step(broker, "produce", {"topic": TOPIC, "codec": codec, "tag": codec,
                                                "start": 0, "n": N})
            if res.get("ok") and res.get("count") == N:
                produced.update(expected_values(codec, 0, N))
            self.record("produce", res, lambda r, codec=codec: None if r.get("count") == N else
                        f"{codec}: {r.get('count')} of {N} acknowledged")
        ok_codecs = [k for k in c.codecs if f"{k}-0" in produced]
        if self.results.get("produce", "").startswith("pass"):
            self.results["produce"] = "pass (" + ", ".join(c.codecs) + ")"
        total = len(produced)
        res = self.step(broker, "consume", {"topic": TOPIC, "partitions": 3, "count": total})
        if res.get("ok"):
            self.ends = {}
            for r in res.get("records", []):
                self.ends[r[0]] = max(self.ends.get(r[0], 0), r[1] + 1)
        self.record("consume_assign", res,
                    lambda r: self.check(r["records"], produced) or (
                        None if ok_codecs else "nothing was produced"))
        ends = self.ends or {}
        res = self.step(broker, "group", {"topic": TOPIC, "group": GROUP, "count": total,
                                          "ends": {str(p): o for p, o in ends.items()}},
                        timeout=120)
        self.record("group_consume", res, lambda r: self.check_group(r, produced))

    def check_group(self, res, produced):
        members = res.get("members", [])
        if len(members) != 2:
            return f"{len(members)} members reported"
        parts = [set(m["assigned"]) for m in members]
        if not all(parts) or parts[0] & parts[1] or parts[0] | parts[1] != {0, 1, 2}:
            return f"assignments {[sorted(p) for p in parts]}"
        values = set()
        for m in members:
            values.update(r[3] for r in m.get("records") or [])
        missing = set(produced) - values
        extra = values - set(produced)
        if missing or extra:
            return f"{len(missing)} records never consumed, {len(extra)} unexpected"
        return None

    def phase_two(self, broker):
        res = self.step(broker, "resume", {"topic": TOPIC, "group": GROUP, "tag": "resume",
                                           "start": 0, "n": RESUME_N}, timeout=120)
        self.record("group_resume", res,
                    lambda r: self.check(r["records"], expected_values("resume", 0, RESUME_N),
                                          exact_offsets=False))
        self.record("admin_topics", self.step(broker, "admin_topics",
                                              {"topic": "matrix-admin", "partitions": 3}))
        self.record("admin_groups", self.step(broker, "admin_groups", {"group": GROUP}))
        res = self.step(broker, "idempotent", {"topic": IDEM_TOPIC, "codec": "none",
                                               "tag": "idem", "start": 0, "n": N})
        self.record("idempotent", res, lambda r: None if r.get("count") == N else
                    f"{r.get('count')} of {N} acknowledged")
        if res.get("ok"):
            res = self.step(broker, "consume", {"topic": IDEM_TOPIC, "partitions": 3, "count": N})
            res.pop("detail", None)
            self.record("idempotent", res,
                        lambda r: self.check(r["records"], expected_values("idem", 0, N)))


def version_summary(versions):
    return ", ".join(f"{api} v{'/'.join(map(str, sorted(vs)))}"
                     for api, vs in sorted(versions.items()))


NOTES = """\
## What the clients needed from the broker

{fixes}

## Notes per client

- **kcat** has no admin API: the topic is auto-created by Metadata (num.partitions=3) and the
  admin cells are n/a. Its `-H` headers apply to a whole run, so its records carry only the
  `tag` header. Its group consumer (`-G`) commits automatically when it closes.
- **librdkafka 2.0.2 / confluent-kafka 1.7**: confluent-kafka 1.7's AdminClient has ListGroups
  and DescribeGroups (`list_groups`) but no DeleteGroups; the C API has all three.
- **kafka-python 2.0.2** has no idempotent producer and no zstd.
- **kafkajs 2.2.4** ships gzip only (snappy, lz4 and zstd need codec packages this matrix does
  not install). It has no `assign()`: `consume_assign` reads with the library's own
  `Broker.fetch` (Fetch v11 and its record decoding) instead of a group.
- **@platformatic/kafka** is pinned to 1.35.0, the last release that runs on Node 20 (2.x needs
  Node >= 22.22); on Node 20 it cannot compress with zstd. Its consumer always joins a group,
  so `consume_assign` uses its partition-level `fetch()`.
- **sarama 1.22.1, default `Version` (0.8.2)**: sends no ApiVersions, produces magic-0 message
  sets (which have no headers: sarama refuses headers below 0.11), and refuses before sending
  anything that needs a newer Version: lz4 (0.10), CreateTopics (0.10.1), consumer groups
  (0.10.2), idempotence (0.11), zstd (2.1). The topic is auto-created by Metadata v0.
- **sarama 1.22.1, `V2_1_0_0`**: sends zstd in Produce v3; Kafka only accepts zstd from
  Produce v7 and answers UNSUPPORTED_COMPRESSION_TYPE, and so does Rill, so zstd is left out.
  ClusterAdmin has no DeleteConsumerGroup in 1.22; the group is deleted with the library's
  `Broker.DeleteGroups`.
"""


def write_doc(runs):
    lines = ["# Client compatibility matrix", "",
             "Written by `tests/compat/test_client_matrix.py` (ctest `compat_test_client_matrix`); "
             "do not edit by hand. Each client runs the same scenario steps against its own "
             "broker; see the test's docstring for the steps.", "",
             "| client | " + " | ".join(SCENARIOS) + " |",
             "|---|" + "---|" * len(SCENARIOS)]
    for run in runs:
        cells = []
        for s in SCENARIOS:
            cell = run.results.get(s, "FAIL: not run")
            if cell.startswith("pass"):
                cells.append("✅" + cell[4:])
            elif cell.startswith("n/a"):
                cells.append("➖ " + cell)
            else:
                cells.append("❌ " + cell.replace("|", "/").replace("\n", " ")[:300])
        lines.append(f"| {run.client.label} | " + " | ".join(cells) + " |")
    lines += ["", "## API versions each client used", "",
              "From the broker's request log (`rill.log.level=debug` logs one line per "
              "request: `request <Api> v<version> from connection <id> client '<client.id>' "
              "correlation <n>`).", "",
              "| client | API versions |", "|---|---|"]
    for run in runs:
        lines.append(f"| {run.client.label} | {version_summary(run.versions) or '-'} |")
    lines += ["", NOTES.format(fixes=BROKER_FIXES)]
    with open(DOC, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")


BROKER_FIXES = """\
Nothing outside consumer groups: every non-group scenario passed against the broker as it was
(produce with every codec, magic-0/1 up-conversion for sarama's default Version, assignment
reads, admin calls, idempotence). The matrix added one broker feature for itself: the
`rill.log.level` key and a debug line per request, from which the API versions above come.
Consumer groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup/OffsetCommit/OffsetFetch/
FindCoordinator/ListGroups/DescribeGroups/DeleteGroups) came with the group coordinator."""


class ClientMatrixTest(unittest.TestCase):
    maxDiff = None

    def test_matrix(self):
        only = [s for s in os.environ.get("RILL_MATRIX_CLIENTS", "").split(",") if s]
        clients = [c for c in CLIENTS if not only or c.name in only]
        self.assertTrue(clients, "RILL_MATRIX_CLIENTS names no known client")
        jobs = int(os.environ.get("RILL_MATRIX_JOBS", "3"))
        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            runs = list(pool.map(lambda c: Run(c).run(), clients))
        elapsed = time.time() - t0
        if not only:
            write_doc(runs)
        failures = []
        for run in runs:
            print(f"\n== {run.client.label}", file=sys.stderr)
            for s in SCENARIOS:
                print(f"  {s:15} {run.results.get(s)}", file=sys.stderr)
            print("  versions: " + version_summary(run.versions), file=sys.stderr)
            bad = [s for s in SCENARIOS if not run.results.get(s, "").startswith(("pass", "n/a"))]
            if any(rc != 0 for rc in run.broker_exits):
                bad.append(f"broker exit codes on SIGTERM {run.broker_exits}")
            if bad:
                failures.append(f"{run.client.name}: {', '.join(bad)}")
                print("  log:\n    " + "\n    ".join("\n".join(run.log).splitlines()),
                      file=sys.stderr)
        print(f"\nmatrix run took {elapsed:.0f}s", file=sys.stderr)
        self.assertEqual(failures, [], "client matrix has failures (see above)")


if __name__ == "__main__":
    unittest.main()
