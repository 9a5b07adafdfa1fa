#!/usr/bin/python3
"""bench/shutdown_time.py: how long a clean shutdown (SIGTERM) takes with many partitions
(issue 14: log_manager::close closed the logs one by one, each with its fsyncs).

Starts a single-node broker on a fresh data directory (on /tmp's file system unless --dir),
creates one topic of --partitions partitions (default 2,000), writes one record to every
partition (so that every log has something to flush), sends SIGTERM and measures until the
process exits. The log's own timestamps split that into "signal received" -> "rill stopped
cleanly". Prints one JSON line; --runs repeats on fresh brokers.

usage: bench/shutdown_time.py [--rill BIN] [--partitions N] [--runs N] [--dir DIR]
                              [--keep-log FILE]
"""

import argparse
import gc
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "compat"))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import rill_harness  # noqa: E402

STAMP = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})")


def log_time(log_path, needle):
    with open(log_path, "rb") as f:
        for line in f:
            if needle in line:
                m = STAMP.match(line)
                if m:
                    return datetime.strptime(m.group(1).decode(), "%Y-%m-%dT%H:%M:%S.%f")
    return None


def one_run(args):
    base = tempfile.mkdtemp(prefix="rill-shutdown-", dir=args.dir)
    try:
        b = rill_harness.Broker(data_dir=base, overrides={"num.shards": "2"})
        b.start(timeout=120)
        admin = AdminClient({"bootstrap.servers": b.bootstrap})
        fut = admin.create_topics([NewTopic("many", args.partitions, 1)],
                                  operation_timeout=300, request_timeout=300)
        fut["many"].result(timeout=600)
        p = Producer({"bootstrap.servers": b.bootstrap, "linger.ms": 50, "acks": "1"})
        for i in range(args.partitions):
            while True:
                try:
                    p.produce("many", value=b"x" * 100, partition=i)
                    break
                except BufferError:
                    p.poll(0.1)
        left = p.flush(300)
        if left:
            raise RuntimeError(f"{left} records not delivered")
        # No client connection left open: the broker would wait up to 10 s for it to drain.
        del p, admin, fut
        gc.collect()
        time.sleep(1)
        t0 = time.monotonic()
        b.proc.send_signal(signal.SIGTERM)
        b.proc.wait(timeout=600)
        total = time.monotonic() - t0
        rc = b.proc.returncode
        b.proc = None
        b.log.close()
        got = log_time(b.log_path, b"received; shutting down")
        done = log_time(b.log_path, b"rill stopped cleanly")
        if args.keep_log:
            shutil.copy(b.log_path, args.keep_log)
        return {"partitions": args.partitions, "rc": rc, "sigterm_to_exit_s": round(total, 3),
                "signal_to_stopped_log_s":
                    round((done - got).total_seconds(), 3) if got and done else None}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rill", default=None)
    ap.add_argument("--partitions", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--dir", default=None)
    ap.add_argument("--keep-log", default=None, help="copy the broker's log here")
    args = ap.parse_args()
    if args.rill:
        rill_harness.RILL_BIN = args.rill
    for _ in range(args.runs):
        print(json.dumps(one_run(args)), flush=True)


if __name__ == "__main__":
    main()
