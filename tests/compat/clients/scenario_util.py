"""Shared by the Python scenario programs: the record layout and the step dispatcher.

Record i of a run tagged T (the codec name, "resume" or "idem") has key "key-<i % 17>", value
"T-<i>" and headers [("tag", T), ("seq", "<i>")]. See tests/compat/test_client_matrix.py."""

import json
import sys
import time
import traceback


def records(args):
    tag = args["tag"]
    for i in range(args["start"], args["start"] + args["n"]):
        yield f"key-{i % 17}", f"{tag}-{i}", [("tag", tag), ("seq", str(i))]


def row(partition, offset, key, value, headers):
    def s(b):
        return b.decode() if isinstance(b, (bytes, bytearray)) else b
    return [partition, offset, s(key), s(value), [[s(k), s(v)] for k, v in (headers or [])]]


def wait_until(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise RuntimeError(f"timed out waiting for {what}")


def group_settled(assigned, positions, ends, partitions=3):
    """True when two members hold disjoint, non-empty partition sets that together cover all
    `partitions`, and each member read its partitions up to `ends`. Disjointness matters: a
    member that has not yet seen a rebalance still reports its previous generation's set."""
    a, b = set(assigned[0]), set(assigned[1])
    if not a or not b or a & b or a | b != set(range(partitions)):
        return False
    return all(pos.get(p, 0) >= ends.get(p, 0) for parts, pos in zip((a, b), positions)
               for p in parts)


def main(steps):
    """steps: {name: function(bootstrap, args) -> result dict}. Prints the result as JSON."""
    step, bootstrap, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    try:
        fn = steps.get(step)
        res = fn(bootstrap, args) if fn else {"na": f"no step {step}"}
    except Exception as e:
        traceback.print_exc()
        res = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    sys.stdout.flush()
    print(json.dumps(res))
