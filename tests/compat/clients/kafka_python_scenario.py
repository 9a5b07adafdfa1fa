"""The matrix scenario for kafka-python 2.0.2. Usage: STEP BOOTSTRAP ARGS_JSON."""

import threading
import time

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka import TopicPartition
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata

from scenario_util import group_settled, main, records, row, wait_until

FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300,
              "auto_offset_reset": "earliest", "enable_auto_commit": False}


def admin_client(bootstrap):
    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)


def partitions_of(admin, topic):
    md = admin.describe_topics([topic])
    return len(md[0]["partitions"]) if md and md[0]["error_code"] == 0 else None


def create(bootstrap, args):
    admin = admin_client(bootstrap)
    admin.create_topics([NewTopic(args["topic"], args["partitions"], 1)])
    n = partitions_of(admin, args["topic"])
    admin.close()
    if n != args["partitions"]:
        return {"ok": False, "error": f"describe_topics: {n} partitions"}
    return {"ok": True}


def produce(bootstrap, args):
    codec = None if args["codec"] == "none" else args["codec"]
    p = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, linger_ms=5, acks=1)
    futures = [p.send(args["topic"], key=k.encode(), value=v.encode(),
                      headers=[(hk, hv.encode()) for hk, hv in h])
               for k, v, h in records(args)]
    p.flush(30)
    acked = 0
    for f in futures:
        f.get(timeout=10)
        acked += 1
    p.close()
    return {"ok": True, "count": acked}


def consume(bootstrap, args):
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    c.assign([TopicPartition(args["topic"], p) for p in range(args["partitions"])])
    c.seek_to_beginning()
    out = []
    deadline = time.time() + 30
    while len(out) < args["count"] and time.time() < deadline:
        for tp, msgs in c.poll(timeout_ms=500).items():
            out += [row(m.partition, m.offset, m.key, m.value, m.headers) for m in msgs]
    c.close()
    return {"ok": True, "records": out}


class Listener(ConsumerRebalanceListener):
    def __init__(self, st):
        self.st = st

    def on_partitions_revoked(self, revoked):
        self.st["assigned"] = set()

    def on_partitions_assigned(self, assigned):
        self.st["assigned"] = {tp.partition for tp in assigned}


def group(bootstrap, args):
    # One thread per member: kafka-python rejoins inside poll(), so a member blocked in a
    # JoinGroup would starve the other one if both were polled from one thread.
    ends = {int(p): o for p, o in args["ends"].items()}
    stop = threading.Event()
    members = []

    def run(st, i):
        c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=args["group"],
                          client_id=f"matrix-member-{i}", **FAST_GROUP)
        c.subscribe([args["topic"]], listener=Listener(st))
        while not stop.is_set():
            for tp, msgs in c.poll(timeout_ms=100).items():
                for r in msgs:
                    st["records"].append(row(r.partition, r.offset, r.key, r.value, r.headers))
                    st["pos"][r.partition] = max(st["pos"].get(r.partition, 0), r.offset + 1)
        st["final"] = sorted(st["assigned"])
        try:
            c.commit({TopicPartition(args["topic"], p): OffsetAndMetadata(ends.get(p, 0), None)
                      for p in st["final"]})
        except Exception as e:  # reported below
            st["error"] = f"commit: {type(e).__name__}: {e}"
        c.close()
    threads = []
    for i in range(2):
        st = {"assigned": set(), "records": [], "pos": {}}
        members.append(st)
        threads.append(threading.Thread(target=run, args=(st, i), daemon=True))
        threads[-1].start()

    def done():
        return group_settled([m["assigned"] for m in members], [m["pos"] for m in members], ends)
    try:
        wait_until(done, 60, "group to settle")
    except RuntimeError as e:
        raise RuntimeError(f"{e}: assignments {[sorted(m['assigned']) for m in members]}, "
                           f"positions {[m['pos'] for m in members]}, ends {ends}")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    errors = [m["error"] for m in members if "error" in m]
    if errors:
        return {"ok": False, "error": "; ".join(errors)}
    return {"ok": True, "members": [{"assigned": m["final"], "records": m["records"]}
                                    for m in members]}


def resume(bootstrap, args):
    res = produce(bootstrap, dict(args, codec="none"))
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=args["group"], **FAST_GROUP)
    c.subscribe([args["topic"]])
    out = []
    deadline = time.time() + 30
    while len(out) < args["n"] and time.time() < deadline:
        for tp, msgs in c.poll(timeout_ms=500).items():
            out += [row(m.partition, m.offset, m.key, m.value, m.headers) for m in msgs]
    c.commit()
    c.close()
    return {"ok": True, "records": out, "produced": res.get("count")}


def admin_topics(bootstrap, args):
    admin = admin_client(bootstrap)
    t = args["topic"]
    admin.create_topics([NewTopic(t, args["partitions"], 1)])
    if t not in admin.list_topics():
        return {"ok": False, "error": "created topic not listed"}
    if partitions_of(admin, t) != args["partitions"]:
        return {"ok": False, "error": "describe_topics: wrong partition count"}
    admin.delete_topics([t])
    wait_until(lambda: t not in admin.list_topics(), 10, "deleted topic to go")
    admin.close()
    return {"ok": True}


def admin_groups(bootstrap, args):
    admin = admin_client(bootstrap)
    g = args["group"]
    listed = admin.list_consumer_groups()
    if g not in [x[0] for x in listed]:
        return {"ok": False, "error": f"list_consumer_groups: {listed}"}
    desc = admin.describe_consumer_groups([g])
    if len(desc) != 1 or desc[0].state != "Empty" or desc[0].protocol_type != "consumer":
        return {"ok": False, "error": f"describe_consumer_groups: {desc}"}
    res = admin.delete_consumer_groups([g])
    if [e for _, e in res if e.errno != 0]:
        return {"ok": False, "error": f"delete_consumer_groups: {res}"}
    listed = admin.list_consumer_groups()
    if g in [x[0] for x in listed]:
        return {"ok": False, "error": f"deleted group still listed: {listed}"}
    admin.close()
    return {"ok": True}


if __name__ == "__main__":
    main({"create": create, "produce": produce, "consume": consume, "group": group,
          "resume": resume, "admin_topics": admin_topics, "admin_groups": admin_groups,
          "idempotent": lambda b, a: {"na": "kafka-python 2.0.2 has no idempotent producer"}})
