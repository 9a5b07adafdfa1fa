"""TLS and SASL listeners against real clients (kcat, confluent-kafka, kafka-python) and raw
frames. Certificates are made at test time with the openssl CLI: a CA, a broker certificate for
127.0.0.1/localhost (its key encrypted with a password) and a client certificate."""

import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import uuid

from net_util import api_versions_on, connect, is_closed_by_peer, read_response
from rill_harness import RILL_BIN, Broker, free_port

KEY_PASSWORD = "broker-key-pass"
PLAIN_JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
              'username="admin" password="admin-secret" user_admin="admin-secret" '
              'user_alice="{}";')


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certs(d):
    """CA, broker (SAN 127.0.0.1 and localhost, key PKCS#8-encrypted) and client certificates."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
            "ca.pem", "-days", "2", "-subj", "/CN=Rill Test CA", cwd=d)
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, subj in [("broker", "/CN=localhost"), ("client", "/O=Rill/CN=client")]:
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", subj, cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext",
                cwd=d)
    openssl("pkcs8", "-topk8", "-in", "broker.key", "-out", "broker-enc.key", "-passout",
            f"pass:{KEY_PASSWORD}", "-v2", "aes-256-cbc", cwd=d)
    # Kafka's PEM key store file: the private key and the certificate chain in one file.
    with open(os.path.join(d, "broker-keystore.pem"), "w") as f:
        for part in ("broker-enc.key", "broker.pem"):
            with open(os.path.join(d, part)) as p:
                f.write(p.read())
    return {k: os.path.join(d, v) for k, v in {
        "ca": "ca.pem", "keystore": "broker-keystore.pem", "broker_cert": "broker.pem",
        "broker_key": "broker.key", "client_cert": "client.pem", "client_key": "client.key"}.items()}


class SecurityCase(unittest.TestCase):
    """A broker per class with a PLAINTEXT listener (the harness waits on it) and the class's
    secure listeners on `ports`."""

    listener_names = []
    extra_args = []

    @classmethod
    def overrides_for(cls, certs, ports):
        raise NotImplementedError

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="rill-security-")
        cls.certs = make_certs(cls.dir)
        cls.ports = {n: free_port() for n in cls.listener_names}
        port = free_port()
        listeners = [f"PLAINTEXT://127.0.0.1:{port}"] + [
            f"{n}://127.0.0.1:{p}" for n, p in cls.ports.items()]
        overrides = {"listeners": ",".join(listeners), "rill.log.level": "debug"}
        overrides.update(cls.overrides_for(cls.certs, cls.ports))
        cls.broker = Broker(overrides=overrides, port=port, extra_args=cls.extra_args).start()
        for p in cls.ports.values():  # every listener is bound once the first one is
            socket.create_connection(("127.0.0.1", p), timeout=5).close()

    @classmethod
    def tearDownClass(cls):
        rc = cls.broker.stop()
        log = cls.broker.tail()
        cls.broker.cleanup()
        shutil.rmtree(cls.dir, ignore_errors=True)
        if rc != 0:
            raise AssertionError(f"rill exited with {rc} on SIGTERM:\n{log}")

    def kcat(self, listener, *args, props=(), input=None, check=True, timeout=60):
        cmd = ["kcat", "-b", f"127.0.0.1:{self.ports[listener]}", "-m", "10"]
        for p in props:
            cmd += ["-X", p]
        p = subprocess.run(cmd + list(args), input=input, capture_output=True, timeout=timeout)
        if check and p.returncode != 0:
            self.fail(f"kcat {args} failed: {p.stderr.decode(errors='replace')}\n"
                      f"broker log:\n{self.broker.tail()}")
        return p

    def kcat_roundtrip(self, listener, props):
        topic = "sec-" + uuid.uuid4().hex[:8]
        lines = "".join(f"k{i}:v{i}\n" for i in range(500)).encode()
        self.kcat(listener, "-P", "-t", topic, "-K:", props=props, input=lines)
        out = self.kcat(listener, "-C", "-t", topic, "-e", "-o", "beginning", "-f", "%k:%s\n",
                        props=props).stdout
        self.assertEqual(sorted(out.decode().splitlines()), sorted(lines.decode().splitlines()))

    def confluent_roundtrip(self, listener, conf):
        from confluent_kafka import Consumer, Producer
        topic = "sec-ck-" + uuid.uuid4().hex[:8]
        base = {"bootstrap.servers": f"127.0.0.1:{self.ports[listener]}", **conf}
        p = Producer(base)
        for i in range(200):
            p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
        self.assertEqual(p.flush(30), 0)
        c = Consumer({**base, "group.id": "g-" + topic, "auto.offset.reset": "earliest"})
        c.subscribe([topic])
        got = set()
        deadline = time.time() + 30
        while len(got) < 200 and time.time() < deadline:
            m = c.poll(1.0)
            if m is not None and not m.error():
                got.add(m.value())
        c.close()
        self.assertEqual(got, {b"v%d" % i for i in range(200)})

    def kafka_python_roundtrip(self, listener, **conf):
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition
        topic = "sec-kp-" + uuid.uuid4().hex[:8]
        bs = f"127.0.0.1:{self.ports[listener]}"
        producer = KafkaProducer(bootstrap_servers=bs, acks="all", **conf)
        futures = [producer.send(topic, value=b"v%d" % i, partition=0) for i in range(100)]
        producer.flush()
        self.assertEqual(sorted(f.get(timeout=10).offset for f in futures), list(range(100)))
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=bs, consumer_timeout_ms=5000,
                                 enable_auto_commit=False, **conf)
        consumer.assign([TopicPartition(topic, 0)])
        consumer.seek_to_beginning()
        self.assertEqual(sorted(int(m.value[1:]) for m in consumer), list(range(100)))
        consumer.close()


class SslListenerTest(SecurityCase):
    listener_names = ["SSL"]

    @classmethod
    def overrides_for(cls, certs, ports):
        return {"ssl.keystore.type": "PEM", "ssl.keystore.location": certs["keystore"],
                "ssl.key.password": KEY_PASSWORD, "ssl.truststore.type": "PEM",
                "ssl.truststore.location": certs["ca"]}

    def props(self):
        return ["security.protocol=ssl", f"ssl.ca.location={self.certs['ca']}"]

    def test_kcat_produce_consume(self):
        self.kcat_roundtrip("SSL", self.props())

    def test_metadata_advertises_the_listener_connected_on(self):
        md = json.loads(self.kcat("SSL", "-L", "-J", props=self.props()).stdout)
        self.assertEqual(md["brokers"][0]["name"], f"127.0.0.1:{self.ports['SSL']}")
        md = json.loads(subprocess.run(["kcat", "-b", self.broker.bootstrap, "-L", "-J"],
                                       capture_output=True, check=True).stdout)
        self.assertEqual(md["brokers"][0]["name"], self.broker.bootstrap)

    def test_confluent_kafka(self):
        self.confluent_roundtrip("SSL", {"security.protocol": "SSL",
                                         "ssl.ca.location": self.certs["ca"]})

    def test_kafka_python(self):
        self.kafka_python_roundtrip("SSL", security_protocol="SSL", ssl_cafile=self.certs["ca"])

    def test_untrusted_server_refused_by_client(self):
        # A client that trusts another CA refuses the broker's certificate.
        other = tempfile.mkdtemp(prefix="rill-other-ca-")
        try:
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "o.key", "-out",
                    "o.pem", "-days", "1", "-subj", "/CN=Other", cwd=other)
            p = self.kcat("SSL", "-L", props=["security.protocol=ssl",
                                              f"ssl.ca.location={other}/o.pem"], check=False)
            self.assertNotEqual(p.returncode, 0)
        finally:
            shutil.rmtree(other, ignore_errors=True)

    def test_plaintext_bytes_on_the_tls_port_are_refused(self):
        with connect(self.ports["SSL"]) as s:
            s.sendall(struct.pack(">i", 10) + b"\0" * 10)
            self.assertTrue(is_closed_by_peer(s, timeout=5))
        self.kcat_roundtrip("SSL", self.props())  # the listener still serves


class MutualTlsNamedListenerTest(SecurityCase):
    """A named listener (CLIENTS:SSL in listener.security.protocol.map) with an inline PEM key
    store and ssl.client.auth=required, all through listener.name.clients.* keys."""

    listener_names = ["CLIENTS"]

    @classmethod
    def overrides_for(cls, certs, ports):
        pfx = "listener.name.clients."

        def read(path):
            with open(path) as f:
                return f.read()
        return {"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CLIENTS:SSL",
                pfx + "ssl.keystore.certificate.chain": read(certs["broker_cert"]),
                pfx + "ssl.keystore.key": read(certs["broker_key"]),
                pfx + "ssl.truststore.location": certs["ca"],
                pfx + "ssl.client.auth": "required",
                "ssl.client.auth": "none"}

    def props(self, with_cert=True):
        p = ["security.protocol=ssl", f"ssl.ca.location={self.certs['ca']}"]
        if with_cert:
            p += [f"ssl.certificate.location={self.certs['client_cert']}",
                  f"ssl.key.location={self.certs['client_key']}"]
        return p

    def test_client_certificate_accepted_and_principal_named(self):
        self.kcat_roundtrip("CLIENTS", self.props())
        with open(self.broker.log_path, "rb") as f:
            self.assertIn(b"principal User:CN=client,O=Rill", f.read())

    def test_no_client_certificate_refused(self):
        p = self.kcat("CLIENTS", "-L", props=self.props(with_cert=False), check=False)
        self.assertNotEqual(p.returncode, 0)
        with open(self.broker.log_path, "rb") as f:
            self.assertIn(b"TLS handshake failed", f.read())

    def test_confluent_kafka_mtls(self):
        self.confluent_roundtrip("CLIENTS", {
            "security.protocol": "SSL", "ssl.ca.location": self.certs["ca"],
            "ssl.certificate.location": self.certs["client_cert"],
            "ssl.key.location": self.certs["client_key"]})


class SaslTest(SecurityCase):
    """SASL_PLAINTEXT (users from its listener-prefixed JAAS value) and SASL_SSL (users from
    sasl.jaas.config), PLAIN and SCRAM."""

    listener_names = ["SASL_PLAINTEXT", "SASL_SSL"]
    extra_args = ["--add-scram", "SCRAM-SHA-256=[name=alice,password=alice-scram]",
                  "--add-scram", "SCRAM-SHA-512=[name=bob,iterations=8192,password=bob-scram]"]

    @classmethod
    def overrides_for(cls, certs, ports):
        return {"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config":
                    PLAIN_JAAS.format("alice-secret"),
                "sasl.jaas.config": PLAIN_JAAS.format("alice-ssl-secret"),
                "listener.name.sasl_ssl.ssl.keystore.location": certs["keystore"],
                "listener.name.sasl_ssl.ssl.key.password": KEY_PASSWORD}

    def sasl_props(self, listener, user, password, mechanism="PLAIN"):
        p = [f"security.protocol={listener.lower()}", f"sasl.mechanisms={mechanism}",
             f"sasl.username={user}", f"sasl.password={password}"]
        if listener == "SASL_SSL":
            p.append(f"ssl.ca.location={self.certs['ca']}")
        return p

    def test_plain_right_password(self):
        self.kcat_roundtrip("SASL_PLAINTEXT", self.sasl_props("SASL_PLAINTEXT", "alice",
                                                              "alice-secret"))
        self.kcat_roundtrip("SASL_SSL", self.sasl_props("SASL_SSL", "alice", "alice-ssl-secret"))

    def test_plain_wrong_password_refused(self):
        for listener, pw in [("SASL_PLAINTEXT", "alice-ssl-secret"), ("SASL_SSL", "nope")]:
            with self.subTest(listener=listener):
                p = self.kcat(listener, "-L", props=self.sasl_props(listener, "alice", pw),
                              check=False)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(b"Invalid username or password", p.stderr)
        with open(self.broker.log_path, "rb") as f:
            log = f.read()
        self.assertIn(b"failed authentication with PLAIN", log)
        self.assertNotIn(b"alice-ssl-secret", log)  # credentials never logged
        self.assertNotIn(b"nope)", log)

    def test_scram(self):
        self.kcat_roundtrip("SASL_PLAINTEXT", self.sasl_props("SASL_PLAINTEXT", "alice",
                                                              "alice-scram", "SCRAM-SHA-256"))
        self.kcat_roundtrip("SASL_SSL", self.sasl_props("SASL_SSL", "bob", "bob-scram",
                                                        "SCRAM-SHA-512"))
        p = self.kcat("SASL_PLAINTEXT", "-L", props=self.sasl_props(
            "SASL_PLAINTEXT", "alice", "wrong", "SCRAM-SHA-256"), check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"invalid credentials with SASL mechanism SCRAM-SHA-256", p.stderr)

    def test_confluent_kafka(self):
        from confluent_kafka import KafkaError, Producer
        self.confluent_roundtrip("SASL_SSL", {
            "security.protocol": "SASL_SSL", "ssl.ca.location": self.certs["ca"],
            "sasl.mechanisms": "PLAIN", "sasl.username": "alice",
            "sasl.password": "alice-ssl-secret"})
        errors = []
        p = Producer({"bootstrap.servers": f"127.0.0.1:{self.ports['SASL_PLAINTEXT']}",
                      "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
                      "sasl.username": "alice", "sasl.password": "wrong",
                      "error_cb": errors.append})
        deadline = time.time() + 15
        while not errors and time.time() < deadline:
            p.poll(0.5)
        self.assertTrue(errors)
        self.assertEqual(errors[0].code(), KafkaError._AUTHENTICATION)
        self.assertIn("Invalid username or password", errors[0].str())

    def test_kafka_python(self):
        self.kafka_python_roundtrip("SASL_PLAINTEXT", security_protocol="SASL_PLAINTEXT",
                                    sasl_mechanism="PLAIN", sasl_plain_username="alice",
                                    sasl_plain_password="alice-secret")
        self.kafka_python_roundtrip("SASL_SSL", security_protocol="SASL_SSL",
                                    ssl_cafile=self.certs["ca"], sasl_mechanism="SCRAM-SHA-256",
                                    sasl_plain_username="alice",
                                    sasl_plain_password="alice-scram")

    def test_kafkajs(self):
        js_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients", "js")
        if not shutil.which("node") or not os.path.isdir(os.path.join(js_dir, "node_modules",
                                                                       "kafkajs")):
            self.skipTest("node or kafkajs (tests/compat/clients/js/node_modules) missing")
        script = r"""
const { Kafka, logLevel } = require('kafkajs')
const fs = require('fs')
const [bootstrap, ca, user, password, mechanism, topic] = process.argv.slice(1)
const kafka = new Kafka({ clientId: 'sec-kafkajs', brokers: [bootstrap], logLevel: logLevel.NOTHING,
  ssl: { ca: [fs.readFileSync(ca, 'utf8')] }, sasl: { mechanism, username: user, password },
  retry: { retries: 1 } })
;(async () => {
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, acks: -1, messages: [...Array(50).keys()].map(i => ({ value: 'v' + i })) })
  await producer.disconnect()
  const admin = kafka.admin()
  await admin.connect()
  const offs = await admin.fetchTopicOffsets(topic)
  await admin.disconnect()
  console.log(JSON.stringify({ ok: true, high: offs.reduce((a, p) => a + Number(p.high), 0) }))
})().catch(e => { console.log(JSON.stringify({ ok: false, name: e.name, message: e.message })) })
"""
        bs = f"127.0.0.1:{self.ports['SASL_SSL']}"

        def run(user, password, mechanism):
            topic = "sec-js-" + uuid.uuid4().hex[:8]
            p = subprocess.run(["node", "-e", script, bs, self.certs["ca"], user, password,
                                mechanism, topic], cwd=js_dir, capture_output=True, timeout=90)
            return json.loads(p.stdout.decode().strip().splitlines()[-1])

        self.assertEqual(run("alice", "alice-ssl-secret", "plain"), {"ok": True, "high": 50})
        self.assertEqual(run("alice", "alice-scram", "scram-sha-256"), {"ok": True, "high": 50})
        bad = run("alice", "wrong", "plain")
        self.assertFalse(bad["ok"])
        self.assertIn("Invalid username or password", bad["message"])

    def test_requests_before_authentication(self):
        port = self.ports["SASL_PLAINTEXT"]
        metadata_v0 = struct.pack(">hhih", 3, 0, 5, -1) + struct.pack(">i", 0)
        # ApiVersions is allowed; anything else closes the connection.
        with connect(port) as s:
            self.assertEqual(api_versions_on(s), 0)
            s.sendall(struct.pack(">i", len(metadata_v0)) + metadata_v0)
            self.assertTrue(is_closed_by_peer(s, timeout=5))
        # An unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the enabled list, then closed.
        with connect(port) as s:
            body = struct.pack(">hhih", 17, 1, 9, -1) + struct.pack(">h", 6) + b"GSSAPI"
            s.sendall(struct.pack(">i", len(body)) + body)
            resp = read_response(s)
            corr, err, n = struct.unpack(">ihi", resp[:10])
            self.assertEqual((corr, err, n), (9, 33, 3))
            self.assertTrue(is_closed_by_peer(s, timeout=5))
        # SaslAuthenticate before SaslHandshake: ILLEGAL_SASL_STATE.
        with connect(port) as s:
            body = struct.pack(">hhih", 36, 0, 4, -1) + struct.pack(">i", 0)
            s.sendall(struct.pack(">i", len(body)) + body)
            corr, err = struct.unpack(">ih", read_response(s)[:6])
            self.assertEqual((corr, err), (4, 34))

    def test_handshake_v0_raw_tokens(self):
        port = self.ports["SASL_PLAINTEXT"]
        for password, ok in [(b"alice-secret", True), (b"bad", False)]:
            with self.subTest(ok=ok), connect(port) as s:
                body = struct.pack(">hhih", 17, 0, 1, -1) + struct.pack(">h", 5) + b"PLAIN"
                s.sendall(struct.pack(">i", len(body)) + body)
                corr, err = struct.unpack(">ih", read_response(s)[:6])
                self.assertEqual((corr, err), (1, 0))
                token = b"\0alice\0" + password
                s.sendall(struct.pack(">i", len(token)) + token)  # no request header
                if not ok:
                    self.assertTrue(is_closed_by_peer(s, timeout=5))
                    continue
                self.assertEqual(read_response(s), b"")  # PLAIN's empty server token
                metadata_v0 = struct.pack(">hhih", 3, 0, 5, -1) + struct.pack(">i", 0)
                s.sendall(struct.pack(">i", len(metadata_v0)) + metadata_v0)
                self.assertEqual(struct.unpack(">i", read_response(s)[:4])[0], 5)

    def test_describe_configs_hides_secrets(self):
        from confluent_kafka.admin import AdminClient, ConfigResource
        admin = AdminClient({"bootstrap.servers": self.broker.bootstrap})
        res = ConfigResource(ConfigResource.Type.BROKER, "0")
        entries = admin.describe_configs([res])[res].result(timeout=20)
        self.assertTrue(entries["sasl.jaas.config"].is_sensitive)
        self.assertIsNone(entries["sasl.jaas.config"].value)
        self.assertTrue(entries["ssl.key.password"].is_sensitive)
        self.assertIsNone(entries["ssl.key.password"].value)


class StartupErrorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="rill-security-start-")
        cls.certs = make_certs(cls.dir)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def start(self, **overrides):
        args = [RILL_BIN, "--override", f"listeners=SSL://127.0.0.1:{free_port()}",
                "--override", f"log.dirs={self.dir}/data", "--override", "admin.listeners="]
        for k, v in overrides.items():
            args += ["--override", f"{k}={v}"]
        return subprocess.run(args, capture_output=True, timeout=30)

    def test_bad_key_stores_stop_the_start(self):
        cases = [
            ({"ssl.keystore.location": self.certs["keystore"], "ssl.key.password": "wrong"},
             b"wrong ssl.key.password"),
            ({"ssl.keystore.location": self.certs["keystore"]}, b"ssl.keystore.location"),
            ({"ssl.keystore.location": self.dir + "/missing.pem"}, b"missing.pem"),
            ({}, b"needs a key store"),
            ({"ssl.keystore.location": self.certs["keystore"], "ssl.key.password": KEY_PASSWORD,
              "ssl.truststore.location": self.certs["broker_key"]}, b"no PEM certificate"),
            ({"ssl.keystore.location": self.certs["keystore"], "ssl.key.password": KEY_PASSWORD,
              "ssl.cipher.suites": "TLS_NOT_A_SUITE"}, b"unknown cipher suite"),
        ]
        for overrides, message in cases:
            with self.subTest(overrides=list(overrides)):
                p = self.start(**overrides)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn(message, p.stderr)
                self.assertNotIn(b"wrong\n", p.stderr)

    def test_listener_and_sasl_errors(self):
        p = self.start(listeners=f"EXTERNAL://127.0.0.1:{free_port()}")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"no security protocol defined for listener EXTERNAL", p.stderr)
        port = free_port()
        p = self.start(listeners=f"SASL_PLAINTEXT://127.0.0.1:{port}",
                       **{"sasl.jaas.config": "org.example.Nope required;"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"PlainLoginModule", p.stderr)
        p = self.start(listeners=f"SASL_PLAINTEXT://127.0.0.1:{port}",
                       **{"sasl.jaas.config": PLAIN_JAAS.format("x"),
                          "sasl.enabled.mechanisms": "GSSAPI"})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"GSSAPI", p.stderr)
        p = self.start(listeners=f"SASL_PLAINTEXT://127.0.0.1:{port}",
                       **{"advertised.listeners": f"SSL://127.0.0.1:{port}",
                          "sasl.jaas.config": PLAIN_JAAS.format("x")})
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"advertised.listeners", p.stderr)


if __name__ == "__main__":
    unittest.main()
