#!/usr/bin/python3
"""bench/shard_stall.py: how long the shards stall on file work (issue 14, item 4).

Measures the latency of ApiVersions on other connections (one per shard and then some, each
sending one request at a time, back to back) while the broker does a lot of file work:

  create   single node: one CreateTopics of --partitions partitions (default 10,000; each log
           costs about 7 fsyncs); the window is from sending CreateTopics to its answer.
  leaders  ZooKeeper + 2 brokers: --leaders partitions (default 1,000) with replicas [1, 2] led by
           broker 1; broker 1 is stopped with SIGTERM (controlled shutdown moves every leader to
           broker 2) and started again (it resynchronises 1,000 followers). ApiVersions is
           measured on broker 2 while the leaders move, and on broker 1 while it rejoins.

Prints one JSON line per window: samples, p50/p99/max milliseconds, window seconds.

usage: bench/shard_stall.py create  [--rill BIN] [--partitions N] [--shards N]
       bench/shard_stall.py leaders [--rill BIN] [--leaders N]
The data directory is a fresh temporary directory on /tmp's file system.
"""

import argparse
import json
import os
import socket
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "compat"))

import net_util  # noqa: E402 (tests/compat: raw Kafka frames)


def api_versions(s, corr):
    s.sendall(net_util.api_versions_v0(corr))
    net_util.read_response(s)


class Prober:
    """ApiVersions round trips on `conns` connections to `port`, one thread each, back to back.
    A window's samples are the round trips that started inside it, however long they took (a
    request stalled until after the window ends counts with its whole latency)."""

    def __init__(self, port, conns):
        self.socks = [socket.create_connection(("127.0.0.1", port), timeout=3600)
                      for _ in range(conns)]
        self.lock = threading.Lock()
        self.samples = []  # (start, seconds), every round trip
        self.inflight = [None] * conns  # start time of each thread's request in flight
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(conns)]
        for t in self.threads:
            t.start()

    def run(self, i):
        s = self.socks[i]
        corr = 0
        while not self.stopping.is_set():
            corr += 1
            t0 = time.monotonic()
            with self.lock:
                self.inflight[i] = t0
            api_versions(s, corr)
            dt = time.monotonic() - t0
            with self.lock:
                self.inflight[i] = None
                self.samples.append((t0, dt))
            time.sleep(0.002)

    def start(self):
        self.t_start = time.monotonic()

    def stop(self):
        """The latencies of the round trips started since start(), once all have completed."""
        t_end = time.monotonic()
        while True:
            with self.lock:
                if all(x is None or x > t_end for x in self.inflight):
                    return [dt for t0, dt in self.samples if self.t_start <= t0 <= t_end]
            time.sleep(0.01)

    def close(self):
        self.stopping.set()
        for t in self.threads:
            t.join(60)
        for s in self.socks:
            s.close()


def summary(what, samples, window_s, **extra):
    xs = sorted(samples)

    def pct(p):
        return round(1000 * xs[min(len(xs) - 1, int(p * len(xs)))], 2) if xs else None
    out = {"window": what, "samples": len(xs), "p50_ms": pct(0.50), "p99_ms": pct(0.99),
           "max_ms": round(1000 * xs[-1], 2) if xs else None, "window_s": round(window_s, 2)}
    out.update(extra)
    print(json.dumps(out), flush=True)
    return out


def bench_create(args):
    os.environ["RILL_BIN"] = args.rill
    import rill_harness
    rill_harness.RILL_BIN = args.rill
    b = rill_harness.Broker(overrides={"num.shards": args.shards}).start()
    try:
        probe = Prober(b.port, 2 * args.shards)
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", b.port), timeout=3600) as creator:
            probe.start()
            t0 = time.monotonic()
            creator.sendall(net_util.create_topics_v4("stall", args.partitions, 3_600_000))
            net_util.read_response(creator)
            window = time.monotonic() - t0
            samples = probe.stop()
        probe.close()
        summary(f"CreateTopics {args.partitions} partitions", samples, window,
                shards=args.shards)
    finally:
        b.stop(timeout=600)
        b.cleanup()


def bench_leaders(args):
    sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))
    os.environ["RILL_BIN"] = args.rill
    import cluster_harness as ch  # imports rill_harness from tests/compat
    ch.rill_harness.RILL_BIN = args.rill
    c = ch.Cluster("stallbench", brokers=2,
                   overrides={"default.replication.factor": 2, "min.insync.replicas": 1,
                              "offsets.topic.replication.factor": 2,
                              "transaction.state.log.replication.factor": 2,
                              "transaction.state.log.min.isr": 1,
                              "replica.lag.time.max.ms": 30000})
    try:
        c.start()
        c.create_topic("moving", assignment=[[1, 2]] * args.leaders)
        c.wait(lambda: all(sorted(c.partition_state("moving", p)["isr"]) == [1, 2]
                           for p in range(0, args.leaders, max(1, args.leaders // 20))),
               300, "the ISRs to fill")
        probe = Prober(c.brokers[2].port, 4)
        time.sleep(0.5)
        probe.start()
        t0 = time.monotonic()
        rc = c.terminate(1)  # controlled shutdown: every leader moves to broker 2
        c.wait(lambda: all(c.partition_state("moving", p)["leader"] == 2
                           for p in range(0, args.leaders, max(1, args.leaders // 20))),
               300, "leaders on broker 2")
        window = time.monotonic() - t0
        samples = probe.stop()
        probe.close()
        summary(f"{args.leaders} leaders move to broker 2 (measured on broker 2)", samples,
                window, broker1_exit=rc)
        c.start_broker(1)
        probe = Prober(c.brokers[1].port, 4)
        probe.start()
        t0 = time.monotonic()
        c.wait(lambda: all(sorted(c.partition_state("moving", p)["isr"]) == [1, 2]
                           for p in range(args.leaders)), 600, "broker 1 back in every ISR")
        window = time.monotonic() - t0
        samples = probe.stop()
        probe.close()
        summary(f"broker 1 rejoins {args.leaders} ISRs (measured on broker 1)", samples, window)
    finally:
        c.stop()
        c.destroy()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["create", "leaders"])
    ap.add_argument("--rill", default=os.path.join(ROOT, "build", "apps", "rill"))
    ap.add_argument("--partitions", type=int, default=10000)
    ap.add_argument("--leaders", type=int, default=1000)
    ap.add_argument("--shards", type=int, default=2)
    args = ap.parse_args()
    args.rill = os.path.abspath(args.rill)
    bench_create(args) if args.mode == "create" else bench_leaders(args)


if __name__ == "__main__":
    main()
