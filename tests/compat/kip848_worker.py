"""A consumer of the KIP-848 consumer group protocol (group.protocol=consumer) for
test_consumer_protocol.py, run as a subprocess so librdkafka 2.15 can be loaded through
LD_LIBRARY_PATH. Usage: kip848_worker.py BOOTSTRAP GROUP TOPIC [EXTRA_CONFIG_JSON]

Prints one JSON object per line on stdout: {"ev": "lib", "version": ...} first, then
{"ev": "assign"|"revoke"|"lost", "parts": [[topic, partition], ...]} and
{"ev": "msg", "p": partition, "o": offset}. On revocation it commits the position after the
last record it handed out of each revoked partition (synchronously), so a partition's next
owner starts exactly there. A line "stop" on stdin closes the consumer (leaving the group);
{"ev": "closed"} is the last line."""

import json
import sys
import threading


def main():
    import confluent_kafka
    from confluent_kafka import Consumer, TopicPartition

    bootstrap, group, topic = sys.argv[1:4]
    extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
    out_lock = threading.Lock()

    def emit(**kw):
        with out_lock:
            sys.stdout.write(json.dumps(kw) + "\n")
            sys.stdout.flush()

    emit(ev="lib", version=confluent_kafka.libversion()[0])
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 1000}
    conf.update(extra)
    c = Consumer(conf)
    last = {}  # partition -> last offset handed out

    def on_assign(consumer, parts):
        emit(ev="assign", parts=[[p.topic, p.partition] for p in parts])

    def on_revoke(consumer, parts):
        commits = [TopicPartition(p.topic, p.partition, last[p.partition] + 1)
                   for p in parts if p.partition in last]
        if commits:
            consumer.commit(offsets=commits, asynchronous=False)
        for p in parts:
            last.pop(p.partition, None)
        emit(ev="revoke", parts=[[p.topic, p.partition] for p in parts])

    def on_lost(consumer, parts):
        emit(ev="lost", parts=[[p.topic, p.partition] for p in parts])

    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    stop = threading.Event()
    commit_now = threading.Event()

    def read_stdin():
        for line in sys.stdin:
            if line.strip() == "commit":
                commit_now.set()
            elif line.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    while not stop.is_set():
        if commit_now.is_set():
            commit_now.clear()
            commits = [TopicPartition(topic, p, o + 1) for p, o in last.items()]
            if commits:
                c.commit(offsets=commits, asynchronous=False)
            emit(ev="committed", parts=[[t.partition, t.offset] for t in commits])
        m = c.poll(0.2)
        if m is None:
            continue
        if m.error():
            emit(ev="error", text=str(m.error()))
            continue
        last[m.partition()] = m.offset()
        emit(ev="msg", p=m.partition(), o=m.offset())
    c.close()
    emit(ev="closed")


if __name__ == "__main__":
    main()
