"""The admin HTTP endpoint against the real binary: every route through urllib, cross-checked
with kcat and confluent-kafka; the web console in headless Chromium (screenshot kept under
<build>/test-artifacts/)."""

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

from rill_harness import RILL_BIN, Broker, BrokerTestCase


def http(base, method, path, body=None, token=None, raw=None, timeout=30):
    """Returns (status, parsed JSON or text, headers)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, text, headers = r.status, r.read().decode(), r.headers
    except urllib.error.HTTPError as e:
        status, text, headers = e.code, e.read().decode(), e.headers
    try:
        return status, json.loads(text) if text else None, headers
    except ValueError:
        return status, text, headers


def parse_metrics(text):
    """{'name{labels}': value} from Prometheus text; checks every line is well-formed."""
    out = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')
    for line in text.splitlines():
        if not line or line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        m = line_re.match(line)
        if not m:
            raise AssertionError("malformed metrics line: " + line)
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


class AdminApiTest(BrokerTestCase):
    overrides = {"metrics.partition.level.enable": "true"}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.base = cls.broker.admin_url
        st, body, _ = http(cls.base, "GET", "/v3/clusters")
        assert st == 200, body
        cls.cid = body["data"][0]["cluster_id"]
        cls.v3 = f"/v3/clusters/{cls.cid}"

    def get(self, path, expect=200):
        st, body, _ = http(self.base, "GET", path)
        self.assertEqual(st, expect, f"GET {path}: {body}")
        return body

    def call(self, method, path, body=None, expect=200, raw=None):
        st, resp, _ = http(self.base, method, path, body, raw=raw)
        self.assertEqual(st, expect, f"{method} {path}: {resp}\n{self.broker.tail()}")
        return resp

    def kcat(self, *args, input=None):
        return self.run_cmd(["kcat", "-b", self.broker.bootstrap, *args], input=input, timeout=60)

    def create_topic(self, name, partitions=1, configs=None):
        body = {"topic_name": name, "partitions_count": partitions, "replication_factor": 1}
        if configs:
            body["configs"] = [{"name": k, "value": v} for k, v in configs.items()]
        return self.call("POST", self.v3 + "/topics", body, expect=201)

    # ---- operations routes ----

    def test_status_health_brokers(self):
        self.assertEqual(self.get("/v1/status/live"), {"status": "live"})
        self.assertEqual(self.get("/v1/status/ready"), {"status": "ready"})
        h = self.get("/v1/cluster/health_overview")
        self.assertTrue(h["is_healthy"], h)
        self.assertEqual(h["controller_id"], 0)
        self.assertEqual(h["nodes_down"], [])
        self.assertEqual(h["leaderless_count"], 0)
        self.assertEqual(h["under_replicated_count"], 0)
        brokers = self.get("/v1/brokers")
        self.assertEqual([b["node_id"] for b in brokers], [0])
        self.assertTrue(brokers[0]["is_alive"])
        self.assertEqual(brokers[0]["kafka_endpoints"][0]["port"], self.broker.port)
        self.assertGreater(brokers[0]["disk_space"][0]["total"], 0)
        self.assertEqual(self.get("/v1/brokers/0")["node_id"], 0)
        self.assertEqual(self.get("/v1/brokers/7", 404)["error_code"], 40401)
        self.get("/v1/brokers/x", 404)
        cluster = self.get(self.v3)
        self.assertEqual(cluster["kind"], "KafkaCluster")
        self.assertEqual(cluster["cluster_id"], self.cid)
        self.assertEqual(self.get(self.v3 + "/brokers")["data"][0]["broker_id"], 0)

    def test_partitions_routes(self):
        t = "adm-parts-" + uuid.uuid4().hex[:6]
        self.create_topic(t, 3)
        self.kcat("-P", "-t", t, "-p", "1", input=b"a\nb\nc\n")
        parts = self.get(f"/v1/partitions/kafka/{t}")
        self.assertEqual([p["partition_id"] for p in parts], [0, 1, 2])
        p1 = self.get(f"/v1/partitions/kafka/{t}/1")
        self.assertEqual(p1["leader_id"], 0)
        self.assertEqual(p1["replicas"][0]["node_id"], 0)
        self.assertEqual(p1["isr"], [0])
        self.assertEqual((p1["log_start_offset"], p1["high_watermark"], p1["log_end_offset"]),
                         (0, 3, 3))
        self.assertGreater(p1["size_bytes"], 0)
        self.get(f"/v1/partitions/kafka/{t}/3", 404)
        self.get(f"/v1/partitions/kafka/no-such-topic", 404)
        self.get(f"/v1/partitions/redpanda/{t}", 404)
        v3parts = self.get(f"{self.v3}/topics/{t}/partitions")
        self.assertEqual(v3parts["kind"], "KafkaPartitionList")
        self.assertEqual(v3parts["data"][1]["high_watermark"], 3)
        self.assertEqual(self.get(f"{self.v3}/topics/{t}/partitions/2")["partition_id"], 2)
        self.get(f"{self.v3}/topics/{t}/partitions/9", 404)

    def test_cluster_and_node_config(self):
        cfg = self.get("/v1/cluster_config")
        self.assertIn("log.retention.ms", cfg)
        self.assertNotIn("broker.id", cfg)  # read-only keys are node config
        # dry_run validates without changing anything.
        bad = self.call("PUT", "/v1/cluster_config?dry_run=true",
                        {"upsert": {"log.retention.ms": "soon"}}, expect=400)
        self.assertIn("log.retention.ms", bad["errors"])
        self.call("PUT", "/v1/cluster_config?dry_run=true", {"upsert": {"log.retention.ms": 3600000}})
        self.assertNotEqual(self.get("/v1/cluster_config?key=log.retention.ms")["log.retention.ms"],
                            3600000)
        r = self.call("PUT", "/v1/cluster_config", {"upsert": {"log.retention.ms": 3600000}})
        self.assertIn("config_version", r)
        self.assertEqual(self.get("/v1/cluster_config?key=log.retention.ms")["log.retention.ms"],
                         3600000)
        self.assertEqual(self.get("/v1/cluster_config?include_defaults=false"),
                         {"log.retention.ms": 3600000})
        self.call("PUT", "/v1/cluster_config", {"remove": ["log.retention.ms"]})
        self.assertEqual(self.get("/v1/cluster_config?include_defaults=false"), {})
        # A read-only key cannot change at runtime.
        self.call("PUT", "/v1/cluster_config", {"upsert": {"broker.id": 5}}, expect=400)
        self.get("/v1/cluster_config?key=nope", 404)
        node = self.get("/v1/node_config")
        self.assertEqual(node["node_id"], 0)
        self.assertEqual(node["listeners"], f"PLAINTEXT://127.0.0.1:{self.broker.port}")
        schema = self.get("/v1/cluster_config/schema")
        self.assertTrue(schema["properties"]["broker.id"]["needs_restart"])

    def test_loggers(self):
        names = {l["name"]: l["level"] for l in self.get("/v1/loggers")}
        self.assertIn("admin", names)
        self.assertIn("broker", names)
        r = self.call("PUT", "/v1/config/log_level/broker?level=debug&expires=1")
        self.assertEqual(r["level"], "debug")
        self.assertEqual({l["name"]: l["level"] for l in self.get("/v1/loggers")}["broker"], "debug")
        deadline = time.time() + 10
        while time.time() < deadline:
            if {l["name"]: l["level"] for l in self.get("/v1/loggers")}["broker"] == names["broker"]:
                break
            time.sleep(0.2)
        else:
            self.fail("log level was not reverted after expires")
        self.call("PUT", "/v1/config/log_level/broker?level=loud", expect=400)
        self.call("PUT", "/v1/config/log_level/broker", expect=400)
        self.call("PUT", "/v1/config/log_level/no-such-logger?level=info", expect=404)

    # ---- topics ----

    def test_topic_crud_visible_to_kcat(self):
        t = "adm-crud-" + uuid.uuid4().hex[:6]
        created = self.create_topic(t, 3, {"retention.ms": "7200000"})
        self.assertEqual(created["kind"], "KafkaTopic")
        self.assertEqual(created["partitions_count"], 3)
        self.assertEqual(created["metadata"]["resource_name"], f"crn:///kafka={self.cid}/topic={t}")
        md = json.loads(self.kcat("-L", "-J", "-t", t).stdout)
        self.assertEqual(len(md["topics"][0]["partitions"]), 3)
        self.assertIn(t, [x["topic_name"] for x in self.get(self.v3 + "/topics")["data"]])
        self.assertEqual(self.get(f"{self.v3}/topics/{t}")["replication_factor"], 1)

        # Conflicts and validation shared with CreateTopics.
        dup = self.call("POST", self.v3 + "/topics", {"topic_name": t}, expect=409)
        self.assertIn("already exists", dup["message"])
        self.call("POST", self.v3 + "/topics", {"topic_name": "bad/name"}, expect=400)
        self.call("POST", self.v3 + "/topics", {"topic_name": "x" + t, "partitions_count": 0},
                  expect=400)
        self.call("POST", self.v3 + "/topics", {"topic_name": "x" + t,
                                                "configs": [{"name": "retention.ms", "value": "x"}]},
                  expect=400)
        self.call("POST", self.v3 + "/topics", {"partitions_count": 1}, expect=400)
        self.get(f"{self.v3}/topics/x{t}", 404)  # nothing was created by the failures

        # Configs.
        cfgs = {c["name"]: c for c in self.get(f"{self.v3}/topics/{t}/configs")["data"]}
        self.assertEqual(cfgs["retention.ms"]["value"], "7200000")
        self.assertEqual(cfgs["retention.ms"]["source"], "DYNAMIC_TOPIC_CONFIG")
        self.assertTrue(cfgs["cleanup.policy"]["is_default"])
        self.call("POST", f"{self.v3}/topics/{t}/configs:alter",
                  {"data": [{"name": "cleanup.policy", "value": "compact"},
                            {"name": "retention.ms", "operation": "DELETE"}]}, expect=204)
        one = self.get(f"{self.v3}/topics/{t}/configs/cleanup.policy")
        self.assertEqual(one["value"], "compact")
        self.assertTrue(self.get(f"{self.v3}/topics/{t}/configs/retention.ms")["is_default"])
        self.call("POST", f"{self.v3}/topics/{t}/configs:alter",
                  {"data": [{"name": "no.such.config", "value": "1"}]}, expect=400)
        self.call("PUT", f"{self.v3}/topics/{t}/configs/retention.ms", {"value": "60000"},
                  expect=204)
        self.assertEqual(self.get(f"{self.v3}/topics/{t}/configs/retention.ms")["value"], "60000")
        self.call("DELETE", f"{self.v3}/topics/{t}/configs/retention.ms", expect=204)

        # Delete: gone for kcat too.
        self.call("DELETE", f"{self.v3}/topics/{t}", expect=204)
        self.get(f"{self.v3}/topics/{t}", 404)
        self.call("DELETE", f"{self.v3}/topics/{t}", expect=404)
        md = json.loads(self.kcat("-L", "-J").stdout)
        self.assertNotIn(t, [x["topic"] for x in md["topics"]])

    # ---- records ----

    def test_produce_over_http_then_kcat(self):
        t = "adm-produce-" + uuid.uuid4().hex[:6]
        self.create_topic(t, 2)
        recs = [
            {"partition_id": 1, "key": {"type": "STRING", "data": "k1"},
             "value": {"type": "STRING", "data": "hello"},
             "headers": [{"name": "h1", "value": base64.b64encode(b"v1").decode()}]},
            {"partition_id": 1, "key": {"type": "BINARY", "data": base64.b64encode(b"k2").decode()},
             "value": {"type": "JSON", "data": {"n": 1, "s": "x"}}},
            {"partition_id": 1, "value": {"type": "BINARY", "data": base64.b64encode(b"\x00\xff").decode()}},
        ]
        offsets = []
        for r in recs:
            resp = self.call("POST", f"{self.v3}/topics/{t}/records", r)
            self.assertEqual(resp["partition_id"], 1)
            self.assertEqual(resp["topic_name"], t)
            offsets.append(resp["offset"])
        self.assertEqual(offsets, [0, 1, 2])
        out = self.kcat("-C", "-t", t, "-p", "1", "-e", "-o", "beginning", "-f", "%o|%k|%s|%h\n")
        rows = out.stdout.split(b"\n")[:3]
        self.assertEqual(rows[0], b"0|k1|hello|h1=v1")
        self.assertEqual(rows[1], b'1|k2|{"n":1,"s":"x"}|')
        self.assertEqual(rows[2], b"2||\x00\xff|")

        # Without a partition: keyed records go to the same partition every time.
        parts = {self.call("POST", f"{self.v3}/topics/{t}/records",
                           {"key": {"type": "STRING", "data": "same"},
                            "value": {"type": "STRING", "data": str(i)}})["partition_id"]
                 for i in range(5)}
        self.assertEqual(len(parts), 1)

        # Browse what was produced.
        page = self.get(f"{self.v3}/topics/{t}/partitions/1/records?offset=0&limit=2")
        self.assertEqual(page["kind"], "KafkaRecordList")
        self.assertEqual([r["offset"] for r in page["data"]], [0, 1])
        self.assertEqual(page["data"][0]["key"], {"type": "STRING", "data": "k1", "size": 2})
        self.assertEqual(page["data"][0]["value"]["data"], "hello")
        self.assertEqual(page["data"][0]["headers"], [{"name": "h1", "value": "djE="}])
        self.assertIsNotNone(page["metadata"]["next"])
        self.assertEqual(page["next_offset"], 2)
        rest = self.get(f"{self.v3}/topics/{t}/partitions/1/records?offset=2")
        self.assertEqual(rest["data"][0]["value"], {"type": "BINARY", "data": "AP8=", "size": 2})
        self.assertIsNone(rest["data"][0]["key"])
        latest = self.get(f"{self.v3}/topics/{t}/partitions/1/records?limit=1")
        self.assertEqual([r["offset"] for r in latest["data"]], [latest["high_watermark"] - 1])
        self.assertEqual(self.get(f"{self.v3}/topics/{t}/partitions/0/records?offset=99")["data"], [])

        # Bad input.
        self.call("POST", f"{self.v3}/topics/{t}/records", {"partition_id": 5}, expect=404)
        self.call("POST", f"{self.v3}/topics/{t}/records",
                  {"value": {"type": "AVRO", "data": "x"}}, expect=400)
        self.call("POST", f"{self.v3}/topics/{t}/records",
                  {"value": {"type": "BINARY", "data": "%%%"}}, expect=400)
        self.call("POST", f"{self.v3}/topics/nope/records", {"value": None}, expect=404)
        self.get(f"{self.v3}/topics/{t}/partitions/1/records?limit=zero", 400)

    def test_metrics(self):
        t = "adm-metrics-" + uuid.uuid4().hex[:6]
        self.create_topic(t, 1)
        self.kcat("-P", "-t", t, input=b"one\n")
        st, text, headers = http(self.base, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain"))
        before = parse_metrics(text)
        key = f'kafka_server_brokertopicmetrics_messagesin_total{{topic="{t}"}}'
        self.assertEqual(before[key], 1)
        for i in range(5):
            self.call("POST", f"{self.v3}/topics/{t}/records", {"value": {"type": "STRING", "data": str(i)}})
        self.kcat("-C", "-t", t, "-e", "-o", "beginning")
        _, text, _ = http(self.base, "GET", "/metrics")
        after = parse_metrics(text)
        self.assertEqual(after[key], 6)
        bytes_key = f'kafka_server_brokertopicmetrics_bytesin_total{{topic="{t}"}}'
        self.assertGreater(after[bytes_key], before[bytes_key])
        self.assertGreater(after[f'kafka_server_brokertopicmetrics_bytesout_total{{topic="{t}"}}'], 0)
        self.assertGreater(after[f'kafka_server_brokertopicmetrics_totalfetchrequests_total{{topic="{t}"}}'], 0)
        self.assertEqual(after[f'kafka_server_brokertopicmetrics_failedproducerequests_total{{topic="{t}"}}'], 0)
        self.assertGreaterEqual(after["kafka_server_brokertopicmetrics_messagesin_total"], 6)
        produce = [k for k in after if k.startswith('kafka_network_requestmetrics_requests_total{request="Produce"')]
        self.assertTrue(produce, "no Produce request counter")
        self.assertGreater(after['kafka_network_requestmetrics_totaltimems_count{request="Produce"}'], 0)
        self.assertEqual(after['kafka_network_requestmetrics_totaltimems_bucket{request="Produce",le="+Inf"}'],
                         after['kafka_network_requestmetrics_totaltimems_count{request="Produce"}'])
        self.assertGreater(after['kafka_network_requestmetrics_totaltimems_count{request="FetchConsumer"}'], 0)
        self.assertGreaterEqual(after["kafka_server_replicamanager_partitioncount"], 1)
        self.assertEqual(after["kafka_server_replicamanager_partitioncount"],
                         after["kafka_server_replicamanager_leadercount"])
        self.assertEqual(after["kafka_server_replicamanager_underreplicatedpartitions"], 0)
        self.assertEqual(after["kafka_server_replicamanager_underminisrpartitioncount"], 0)
        self.assertEqual(after["kafka_controller_kafkacontroller_offlinepartitionscount"], 0)
        self.assertEqual(after["kafka_controller_kafkacontroller_activecontrollercount"], 1)
        self.assertEqual(after["kafka_brokers"], 1)
        self.assertEqual(after[f'kafka_topic_partitions{{topic="{t}"}}'], 1)
        self.assertEqual(after[f'kafka_log_log_logendoffset{{topic="{t}",partition="0"}}'], 6)
        self.assertGreater(after[f'kafka_log_log_size{{topic="{t}",partition="0"}}'], 0)
        self.assertGreaterEqual(after["kafka_server_socket_server_metrics_connection_count"], 0)
        self.assertEqual(after['rill_build_info{version="0.1.0"}'], 1)
        self.assertGreater(after["rill_uptime_seconds"], 0)
        # Deleted topics leave the output.
        self.call("DELETE", f"{self.v3}/topics/{t}", expect=204)
        _, text, _ = http(self.base, "GET", "/metrics")
        self.assertNotIn(f'topic="{t}"', text)

    def test_errors(self):
        st, body, _ = http(self.base, "POST", self.v3 + "/topics", raw=b"{not json")
        self.assertEqual(st, 400)
        self.assertIn("Malformed JSON", body["message"])
        self.assertEqual(body["error_code"], 40001)
        st, body, _ = http(self.base, "POST", self.v3 + "/topics", raw=b"[1,2]")
        self.assertEqual(st, 400)
        st, body, _ = http(self.base, "PUT", "/v1/cluster_config", raw=b"")
        self.assertEqual(st, 400)
        st, body, _ = http(self.base, "GET", "/no/such/route")
        self.assertEqual(st, 404)
        self.assertEqual(body["error_code"], 40401)
        self.assertIn("message", body)
        self.assertEqual(http(self.base, "DELETE", "/v1/brokers")[0], 405)
        self.assertEqual(http(self.base, "GET", "/v3/clusters/not-this-one/topics")[0], 404)
        self.assertEqual(http(self.base, "GET", self.v3 + "/topics/a%zz")[0], 400)
        # Oversized bodies are refused from the headers, before the body is read.
        with socket.create_connection(("127.0.0.1", self.broker.admin_port), timeout=10) as s:
            s.sendall(f"POST {self.v3}/topics HTTP/1.1\r\nHost: x\r\n"
                      f"Content-Type: application/json\r\nContent-Length: {5 << 20}\r\n\r\n".encode())
            reply = s.recv(4096).decode()
        self.assertTrue(reply.startswith("HTTP/1.1 413"), reply)
        # Garbage instead of HTTP is answered 400 and closed.
        with socket.create_connection(("127.0.0.1", self.broker.admin_port), timeout=10) as s:
            s.sendall(b"\x16\x03\x01 not http\r\n\r\n")
            reply = s.recv(4096).decode(errors="replace")
        self.assertTrue(reply.startswith("HTTP/1.1 400"), reply)
        self.assertEqual(self.get("/v1/status/ready"), {"status": "ready"})

    def test_body_fields_of_the_wrong_type_are_bad_requests(self):
        # Fields of the wrong type once threw inside the route (answered 500, "Internal error").
        self.create_topic("typed")
        cases = [
            ("POST", self.v3 + "/topics", {"topic_name": "typed2", "validate_only": "yes"}),
            ("POST", self.v3 + "/topics/typed/configs:alter",
             {"data": [{"name": "retention.ms", "value": "1000"}], "validate_only": 1}),
            ("POST", self.v3 + "/topics/typed/configs:alter",
             {"data": [{"name": "retention.ms", "operation": 7}]}),
            ("POST", self.v3 + "/topics/typed/records", {"value": {"data": "x"}, "timestamp": "now"}),
        ]
        for method, path, body in cases:
            st, resp, _ = http(self.base, method, path, body)
            self.assertEqual(st, 400, f"{method} {path} {body}: {resp}")
            self.assertEqual(resp["error_code"], 40001)
        # Deep nesting is refused before it is parsed or serialized.
        deep = b'{"topic_name": "typed3", "configs": [{"name": "x", "value": ' + \
            b"[" * 100000 + b"]" * 100000 + b"}]}"
        st, resp, _ = http(self.base, "POST", self.v3 + "/topics", raw=deep)
        self.assertEqual(st, 400)
        self.assertIn("nests deeper", resp["message"])
        self.assertEqual(self.get("/v1/status/ready"), {"status": "ready"})

    # ---- consumer groups and the console ----

    def test_groups_lag_and_console(self):
        from confluent_kafka import Consumer, TopicPartition

        t = "adm-lag-" + uuid.uuid4().hex[:6]
        group = "adm-group-" + uuid.uuid4().hex[:6]
        self.create_topic(t, 1)
        for i in range(10):
            self.call("POST", f"{self.v3}/topics/{t}/records",
                      {"partition_id": 0, "value": {"type": "STRING", "data": f"m{i}"}})
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": group,
                      "client.id": "adm-test-client", "auto.offset.reset": "earliest",
                      "enable.auto.commit": False})
        try:
            c.subscribe([t])
            got = 0
            deadline = time.time() + 30
            while got < 4 and time.time() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    got += 1
            self.assertEqual(got, 4)
            c.commit(offsets=[TopicPartition(t, 0, 4)], asynchronous=False)

            groups = self.get(self.v3 + "/consumer-groups")
            self.assertIn(group, [g["consumer_group_id"] for g in groups["data"]])
            g = self.get(f"{self.v3}/consumer-groups/{group}")
            self.assertEqual(g["state"], "Stable")
            self.assertFalse(g["is_simple"])
            consumers = self.get(f"{self.v3}/consumer-groups/{group}/consumers")["data"]
            self.assertEqual(len(consumers), 1)
            self.assertEqual(consumers[0]["client_id"], "adm-test-client")
            self.assertEqual(consumers[0]["assigned_partitions"], [{"topic_name": t, "partition_id": 0}])
            hw = self.get(f"/v1/partitions/kafka/{t}/0")["high_watermark"]
            self.assertEqual(hw, 10)
            lags = self.get(f"{self.v3}/consumer-groups/{group}/lags")["data"]
            self.assertEqual([(l["topic_name"], l["partition_id"], l["current_offset"],
                               l["log_end_offset"], l["lag"]) for l in lags], [(t, 0, 4, 10, 6)])
            summary = self.get(f"{self.v3}/consumer-groups/{group}/lag-summary")
            self.assertEqual(summary["total_lag"], hw - 4)
            self.assertEqual(summary["max_lag"], hw - 4)
            self.assertEqual(summary["max_lag_topic_name"], t)
            self.assertEqual(summary["max_lag_client_id"], "adm-test-client")
            metrics = parse_metrics(http(self.base, "GET", "/metrics")[1])
            self.assertEqual(metrics[f'kafka_consumergroup_lag{{consumergroup="{group}",topic="{t}",partition="0"}}'], 6)
            self.assertEqual(metrics[f'kafka_consumergroup_lag_sum{{consumergroup="{group}"}}'], 6)
            # A group with members cannot be deleted.
            self.call("DELETE", f"{self.v3}/consumer-groups/{group}", expect=409)

            self.check_console(t, group)
        finally:
            c.close()
        deadline = time.time() + 15
        while self.get(f"{self.v3}/consumer-groups/{group}")["state"] != "Empty":
            self.assertLess(time.time(), deadline, "group did not become Empty")
            time.sleep(0.2)
        self.call("DELETE", f"{self.v3}/consumer-groups/{group}", expect=204)
        self.get(f"{self.v3}/consumer-groups/{group}", 404)
        self.get(f"{self.v3}/consumer-groups/{group}/lag-summary", 404)

    def chromium(self, url, *extra):
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if not browser:
            self.skipTest("chromium is not installed (scripts/setup installs it)")
        profile = tempfile.mkdtemp(prefix="rill-chromium-")
        try:
            args = [browser, "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-dev-shm-usage",
                    "--no-first-run", f"--user-data-dir={profile}",
                    "--virtual-time-budget=8000", *extra, url]
            p = subprocess.run(args, capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr.decode(errors="replace")[-2000:])
            return p.stdout.decode(errors="replace")
        finally:
            shutil.rmtree(profile, ignore_errors=True)

    def check_console(self, topic, group):
        dom = self.chromium(self.base + "/#/overview", "--dump-dom")
        self.assertIn('data-loaded="overview"', dom)
        self.assertIn(topic, dom)
        self.assertIn(group, dom)
        self.assertIn("healthy", dom)
        dom = self.chromium(self.base + f"/#/group/{group}", "--dump-dom")
        self.assertIn('data-loaded="group"', dom)
        self.assertIn("adm-test-client", dom)   # the member
        self.assertIn('id="lag-chart"', dom)     # the lag chart
        self.assertIn("<polyline", dom)
        self.assertRegex(dom, r'<td class="num">6</td>')  # lag of the partition
        dom = self.chromium(self.base + f"/#/topic/{topic}", "--dump-dom")
        self.assertIn('data-loaded="topic"', dom)
        self.assertIn("m9", dom)  # the message browser shows the latest records
        artifacts = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(RILL_BIN))),
                                 "test-artifacts")
        os.makedirs(artifacts, exist_ok=True)
        shot = os.path.join(artifacts, "admin-console-group.png")
        if os.path.exists(shot):
            os.remove(shot)
        self.chromium(self.base + f"/#/group/{group}", f"--screenshot={shot}",
                      "--window-size=1280,900", "--hide-scrollbars")
        self.assertTrue(os.path.getsize(shot) > 10_000, "screenshot missing or empty")
        print(f"\nconsole screenshot: {shot}")


class AdminAuthTest(unittest.TestCase):
    """admin.auth.token: mutating calls need the bearer token; reads and status stay open."""

    TOKEN = "s3cret-token"

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker(overrides={"admin.auth.token": cls.TOKEN}).start()
        cls.base = cls.broker.admin_url
        cls.cid = http(cls.base, "GET", "/v3/clusters")[1]["data"][0]["cluster_id"]

    @classmethod
    def tearDownClass(cls):
        rc = cls.broker.stop()
        cls.broker.cleanup()
        assert rc == 0, rc

    def test_token_enforcement(self):
        v3 = f"/v3/clusters/{self.cid}"
        for path in ["/v1/status/ready", "/v1/status/live", "/v1/cluster/health_overview",
                     "/metrics", v3 + "/topics", "/"]:
            self.assertEqual(http(self.base, "GET", path)[0], 200, path)
        body = {"topic_name": "auth-topic", "partitions_count": 1}
        st, resp, headers = http(self.base, "POST", v3 + "/topics", body)
        self.assertEqual(st, 401)
        self.assertEqual(resp["error_code"], 40101)
        self.assertEqual(headers["WWW-Authenticate"], "Bearer")
        self.assertEqual(http(self.base, "POST", v3 + "/topics", body, token="wrong")[0], 401)
        self.assertEqual(http(self.base, "PUT", "/v1/config/log_level/admin?level=info")[0], 401)
        self.assertEqual(http(self.base, "PUT", "/v1/cluster_config",
                              {"upsert": {"log.retention.ms": 1000}})[0], 401)
        self.assertEqual(http(self.base, "POST", v3 + "/topics", body, token=self.TOKEN)[0], 201)
        self.assertEqual(http(self.base, "DELETE", v3 + "/topics/auth-topic")[0], 401)
        self.assertEqual(http(self.base, "DELETE", v3 + "/topics/auth-topic", token=self.TOKEN)[0], 204)
        # The token itself is never shown.
        node = http(self.base, "GET", "/v1/node_config")[1]
        self.assertEqual(node["admin.auth.token"], "[secret]")

    def test_port_in_use_fails_startup(self):
        b = Broker(overrides={"admin.listeners": self.base})
        try:
            with self.assertRaises(RuntimeError) as ctx:
                b.start(timeout=10)
            self.assertIn("rill exited with 1", str(ctx.exception))
            self.assertIn("admin.listeners: cannot listen on", str(ctx.exception))
        finally:
            b.cleanup()


if __name__ == "__main__":
    unittest.main()
