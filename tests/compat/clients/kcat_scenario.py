"""The matrix scenario for kcat 1.7, driving the kcat command line. Usage: STEP BOOTSTRAP ARGS_JSON.

kcat's -H headers apply to every record of a run, so its records carry only the "tag" header."""

import json
import re
import signal
import subprocess
import threading
import time

from scenario_util import group_settled, main, row, wait_until

GROUP_OPTS = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=300",
              "-X", "auto.offset.reset=earliest"]


def kcat(bootstrap, *args, input=None, timeout=60):
    p = subprocess.run(["kcat", "-b", bootstrap, *args], input=input, capture_output=True,
                       timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"kcat {' '.join(args)}: exit {p.returncode}: "
                           f"{p.stderr.decode(errors='replace')[-500:]}")
    return p


def json_row(line):
    m = json.loads(line)
    hs = m.get("headers") or []
    return row(m["partition"], m["offset"], m["key"], m["payload"],
               list(zip(hs[0::2], hs[1::2])))


def create(bootstrap, args):
    def partitions():
        md = json.loads(kcat(bootstrap, "-L", "-J", "-t", args["topic"]).stdout)
        return len(md["topics"][0]["partitions"])
    wait_until(lambda: partitions() == args["partitions"], 10, "auto-created topic")
    return {"ok": True, "detail": "auto-created by Metadata"}


def produce(bootstrap, args, extra=()):
    tag = args["tag"]
    lines = "".join(f"key-{i % 17}:{tag}-{i}\n"
                    for i in range(args["start"], args["start"] + args["n"]))
    kcat(bootstrap, "-P", "-t", args["topic"], "-z", args["codec"], "-K:", "-H", f"tag={tag}",
         *extra, input=lines.encode())
    return {"ok": True, "count": args["n"]}


def consume(bootstrap, args):
    out = kcat(bootstrap, "-C", "-t", args["topic"], "-o", "beginning", "-e", "-J").stdout
    return {"ok": True, "records": [json_row(line) for line in out.decode().splitlines()]}


class Member:
    """A `kcat -G` process; its records (stdout, -J) and assignment (stderr) are followed."""

    def __init__(self, bootstrap, group, topic, name):
        self.assigned, self.records, self.pos, self.err = set(), [], {}, []
        self.proc = subprocess.Popen(["kcat", "-b", bootstrap, "-G", group, "-J", "-u", "-X",
                                      f"client.id={name}", *GROUP_OPTS, topic],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lock = threading.Lock()
        self.out_thread = threading.Thread(target=self.read_out, daemon=True)
        self.out_thread.start()
        threading.Thread(target=self.read_err, daemon=True).start()

    def read_out(self):
        for line in self.proc.stdout:
            r = json_row(line)
            with self.lock:
                self.records.append(r)
                self.pos[r[0]] = max(self.pos.get(r[0], 0), r[1] + 1)

    def read_err(self):
        for line in self.proc.stderr:
            text = line.decode(errors="replace")
            self.err.append(text)
            with self.lock:
                # A partition taken over from the other member starts at the offset that member
                # committed (kcat auto-commits), possibly its end: kcat reports that end here.
                eof = re.search(r"Reached end of topic \S+ \[(\d+)\] at offset (\d+)", text)
                if eof:
                    p, off = int(eof.group(1)), int(eof.group(2))
                    self.pos[p] = max(self.pos.get(p, 0), off)
                elif "revoked" in text:
                    self.assigned = set()
                elif "assigned:" in text:
                    self.assigned = {int(p) for p in re.findall(r"\[(\d+)\]", text)}

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise RuntimeError("kcat -G did not stop on SIGTERM")
        self.out_thread.join(10)  # every record kcat printed is read


def group(bootstrap, args):
    ends = {int(p): o for p, o in args["ends"].items()}
    members = [Member(bootstrap, args["group"], args["topic"], f"matrix-member-{i}")
               for i in range(2)]

    def done():
        with members[0].lock, members[1].lock:
            return group_settled([m.assigned for m in members], [m.pos for m in members], ends)
    try:
        wait_until(done, 60, "group to settle")
    except RuntimeError as e:
        for m in members:
            m.proc.kill()
        raise RuntimeError(f"{e}: assignments {[sorted(m.assigned) for m in members]}; "
                           f"stderr {''.join(members[0].err + members[1].err)[-1000:]}")
    assigned = [sorted(m.assigned) for m in members]
    for m in members:  # closing commits the consumed offsets (auto commit) and leaves
        m.stop()
    result = [{"assigned": a, "records": list(m.records)} for a, m in zip(assigned, members)]
    return {"ok": True, "members": result, "detail": "auto commit on close"}


def resume(bootstrap, args):
    produce(bootstrap, dict(args, codec="none"))
    m = Member(bootstrap, args["group"], args["topic"], "matrix-resume")
    try:
        wait_until(lambda: len(m.records) >= args["n"], 30, f"{args['n']} records")
        time.sleep(0.3)  # anything beyond the new records would show up here
    finally:
        m.stop()
    return {"ok": True, "records": list(m.records)}


def idempotent(bootstrap, args):
    return produce(bootstrap, args, ["-X", "enable.idempotence=true", "-X", "acks=all"])


NO_ADMIN = {"na": "kcat has no admin API"}

if __name__ == "__main__":
    main({"create": create, "produce": produce, "consume": consume, "group": group,
          "resume": resume, "admin_topics": lambda b, a: NO_ADMIN,
          "admin_groups": lambda b, a: NO_ADMIN, "idempotent": idempotent})
