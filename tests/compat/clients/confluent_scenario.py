"""The matrix scenario for confluent-kafka 1.7 (librdkafka 2.0.2). Usage: STEP BOOTSTRAP ARGS_JSON."""

import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from scenario_util import group_settled, main, records, row, wait_until

FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 300,
              "auto.offset.reset": "earliest", "enable.auto.commit": False}


def create(bootstrap, args):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    t = args["topic"]
    admin.create_topics([NewTopic(t, args["partitions"], 1)])[t].result(10)
    parts = admin.list_topics(t, timeout=10).topics[t].partitions
    if len(parts) != args["partitions"]:
        return {"ok": False, "error": f"{len(parts)} partitions"}
    return {"ok": True}


def produce(bootstrap, args, extra=None):
    conf = {"bootstrap.servers": bootstrap, "compression.type": args["codec"], "linger.ms": 5}
    conf.update(extra or {})
    p = Producer(conf)
    errors, acked = [], [0]

    def on_delivery(err, msg):
        if err:
            errors.append(str(err))
        else:
            acked[0] += 1
    for key, value, headers in records(args):
        p.produce(args["topic"], key=key, value=value, headers=headers, on_delivery=on_delivery)
        p.poll(0)
    left = p.flush(30)
    if errors or left:
        return {"ok": False, "error": f"{len(errors)} failed ({errors[:2]}), {left} unsent"}
    return {"ok": True, "count": acked[0]}


def consume(bootstrap, args):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "matrix-unused",
                  "enable.auto.commit": False})
    c.assign([TopicPartition(args["topic"], p, 0) for p in range(args["partitions"])])
    out = []
    deadline = time.time() + 30
    while len(out) < args["count"] and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        out.append(row(m.partition(), m.offset(), m.key(), m.value(), m.headers()))
    c.close()
    return {"ok": True, "records": out}


def group(bootstrap, args):
    ends = {int(p): o for p, o in args["ends"].items()}
    members = []
    for i in range(2):
        st = {"assigned": set(), "records": [], "pos": {}}

        def on_assign(c, parts, st=st):
            st["assigned"] = {tp.partition for tp in parts}

        def on_revoke(c, parts, st=st):
            st["assigned"] = set()
        c = Consumer(dict(FAST_GROUP, **{"bootstrap.servers": bootstrap, "group.id": args["group"],
                                          "client.id": f"matrix-member-{i}"}))
        c.subscribe([args["topic"]], on_assign=on_assign, on_revoke=on_revoke)
        st["consumer"] = c
        members.append(st)

    def done():
        return group_settled([m["assigned"] for m in members], [m["pos"] for m in members], ends)
    deadline = time.time() + 60
    while not done():
        if time.time() > deadline:
            raise RuntimeError(f"group did not settle: assignments "
                               f"{[sorted(m['assigned']) for m in members]}, positions "
                               f"{[m['pos'] for m in members]}, ends {ends}")
        for m in members:  # a batch each, without waiting on an idle member
            for msg in m["consumer"].consume(500, 0.01):
                if msg.error():
                    continue
                m["records"].append(row(msg.partition(), msg.offset(), msg.key(), msg.value(),
                                        msg.headers()))
                p = msg.partition()
                m["pos"][p] = max(m["pos"].get(p, 0), msg.offset() + 1)
    for m in members:
        m["consumer"].commit(offsets=[TopicPartition(args["topic"], p, ends.get(p, 0))
                                      for p in sorted(m["assigned"])], asynchronous=False)
    result = [{"assigned": sorted(m["assigned"]), "records": m["records"]} for m in members]
    for m in members:
        m["consumer"].close()
    return {"ok": True, "members": result}


def resume(bootstrap, args):
    res = produce(bootstrap, dict(args, codec="none"))
    if not res.get("ok"):
        return res
    c = Consumer(dict(FAST_GROUP, **{"bootstrap.servers": bootstrap, "group.id": args["group"]}))
    c.subscribe([args["topic"]])
    out = []
    deadline = time.time() + 30
    while len(out) < args["n"] and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            out.append(row(m.partition(), m.offset(), m.key(), m.value(), m.headers()))
    c.commit(asynchronous=False)
    c.close()
    return {"ok": True, "records": out}


def admin_topics(bootstrap, args):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    t = args["topic"]
    admin.create_topics([NewTopic(t, args["partitions"], 1)])[t].result(10)
    md = admin.list_topics(timeout=10)
    if t not in md.topics:
        return {"ok": False, "error": "created topic not listed"}
    if len(md.topics[t].partitions) != args["partitions"]:
        return {"ok": False, "error": "describe: wrong partition count"}
    admin.delete_topics([t])[t].result(10)
    wait_until(lambda: t not in admin.list_topics(timeout=10).topics, 10, "deleted topic to go")
    return {"ok": True}


def admin_groups(bootstrap, args):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    g = args["group"]
    groups = admin.list_groups(timeout=10)
    if g not in [x.id for x in groups]:
        return {"ok": False, "error": f"list_groups: {[x.id for x in groups]}"}
    desc = admin.list_groups(g, timeout=10)
    if len(desc) != 1 or desc[0].state != "Empty" or desc[0].protocol_type != "consumer":
        return {"ok": False, "error": "describe: " + repr(
            [(d.id, d.state, d.protocol_type, d.error) for d in desc])}
    return {"ok": True, "detail": "list, describe; no DeleteGroups in confluent-kafka 1.7"}


def idempotent(bootstrap, args):
    return produce(bootstrap, args, {"enable.idempotence": True, "acks": "all"})


if __name__ == "__main__":
    main({"create": create, "produce": produce, "consume": consume, "group": group,
          "resume": resume, "admin_topics": admin_topics, "admin_groups": admin_groups,
          "idempotent": idempotent})
