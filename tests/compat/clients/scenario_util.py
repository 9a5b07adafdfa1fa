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
