"""Security with real clients: kcat, kafka-python and confluent-kafka over SSL, mTLS,
SASL_PLAINTEXT (PLAIN and SCRAM-SHA-512) and SASL_SSL, each producing, consuming and running a
consumer group with commits; a wrong password and an untrusted certificate refused with the
client's authentication error; SCRAM users created and listed with confluent-kafka's
AdminClient, surviving a restart; the plaintext listener working beside the secure ones.

Certificates are made with ``openssl`` (tests/run_all.sh installs it) once per module.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import pytest

from clientlib import RDKAFKA_LOGGER
from conftest import wait_until

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
        'user_alice="alice-secret" user_admin="admin-secret";')
SCRAM_USER, SCRAM_PASSWORD = "scrammy", "scram-secret"

_CERTS: Dict[str, str] = {}


def _openssl(d: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)


def certs() -> Dict[str, str]:
    """A CA, a server certificate for localhost/127.0.0.1 (key and chain in one PEM), a
    client certificate from the CA and a CA nobody trusts (with its own client)."""
    if _CERTS:
        return _CERTS
    d = Path(tempfile.mkdtemp(prefix="kafka-broker-certs-"))
    (d / "server.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    (d / "client.ext").write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    for ca in ("ca", "rogue-ca"):
        _openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{ca}.key",
                 "-out", f"{ca}.pem", "-days", "2", "-subj", f"/CN={ca}")
    for name, subject, ca, ext in (("server", "/CN=localhost", "ca", "server.ext"),
                                   ("client", "/O=Example/CN=alice", "ca", "client.ext"),
                                   ("rogue", "/CN=mallory", "rogue-ca", "client.ext")):
        _openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                 "-out", f"{name}.csr", "-subj", subject)
        _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", ext)
    (d / "keystore.pem").write_text((d / "server.key").read_text() + (d / "server.pem").read_text())
    _CERTS.update({k: str(d / f"{k}") for k in (
        "keystore.pem", "ca.pem", "client.pem", "client.key", "rogue.pem", "rogue.key", "rogue-ca.pem")})
    return _CERTS


SECURE = pytest.mark.broker_props(**{
    "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,"
                 "SASL_SSL://127.0.0.1:0,MTLS://127.0.0.1:0",
    # A second TLS listener, one that requires client certificates.
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,"
                                      "SASL_SSL:SASL_SSL,MTLS:SSL",
    "listener.name.mtls.ssl.client.auth": "required",
    "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
    "listener.name.sasl_ssl.plain.sasl.jaas.config": JAAS,
    "connection.failed.authentication.delay.ms": "20",
    "ssl.keystore.type": "PEM",
    "ssl.keystore.location": lambda: certs()["keystore.pem"],
    "ssl.truststore.type": "PEM",
    "ssl.truststore.location": lambda: certs()["ca.pem"],
    "listener.name.ssl.ssl.client.auth": "requested",
    "num.partitions": 2,
    "group.initial.rebalance.delay.ms": 0,
})

pytestmark = [SECURE]


def listener(broker, name: str) -> str:
    """host:port of a listener, from the broker's `listener NAME (PROTOCOL) on ADDR` line."""
    pattern = re.compile(rf"listener {name} \(\w+\) on (\S+)")

    def found():
        text = broker.log_path.read_text(errors="replace")
        m = pattern.findall(text)
        return m[-1] if m else None

    return wait_until(found, 10, what=f"listener {name}")


# Client settings per transport, in librdkafka's words (kcat, confluent-kafka); kafka-python's
# are derived from them.
def rdkafka_conf(kind: str, password: str = None) -> Dict[str, str]:
    c = certs()
    return {
        "ssl": {"security.protocol": "SSL", "ssl.ca.location": c["ca.pem"]},
        "mtls": {"security.protocol": "SSL", "ssl.ca.location": c["ca.pem"],
                 "ssl.certificate.location": c["client.pem"], "ssl.key.location": c["client.key"]},
        "sasl_plain": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
                       "sasl.username": "alice", "sasl.password": password or "alice-secret"},
        "sasl_scram512": {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "SCRAM-SHA-512",
                          "sasl.username": SCRAM_USER, "sasl.password": password or SCRAM_PASSWORD},
        "sasl_ssl": {"security.protocol": "SASL_SSL", "sasl.mechanisms": "PLAIN",
                     "ssl.ca.location": c["ca.pem"],
                     "sasl.username": "alice", "sasl.password": password or "alice-secret"},
    }[kind]


LISTENER_OF = {"ssl": "SSL", "mtls": "MTLS", "sasl_plain": "SASL_PLAINTEXT",
               "sasl_scram512": "SASL_PLAINTEXT", "sasl_ssl": "SASL_SSL"}
KINDS = list(LISTENER_OF)


def kp_conf(kind: str, password: str = None) -> dict:
    rd = rdkafka_conf(kind, password)
    out = {"security_protocol": rd["security.protocol"]}
    if "ssl.ca.location" in rd:
        out.update(ssl_cafile=rd["ssl.ca.location"], ssl_check_hostname=True)
    if "ssl.certificate.location" in rd:
        out.update(ssl_certfile=rd["ssl.certificate.location"], ssl_keyfile=rd["ssl.key.location"])
    if "sasl.mechanisms" in rd:
        out.update(sasl_mechanism=rd["sasl.mechanisms"], sasl_plain_username=rd["sasl.username"],
                   sasl_plain_password=rd["sasl.password"])
    return out


def create_scram_user(broker) -> None:
    """SCRAM-SHA-512 user through confluent-kafka's AdminClient, on the plaintext listener."""
    from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "logger": RDKAFKA_LOGGER})
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(SCRAM_USER, info, SCRAM_PASSWORD.encode())])
    for f in futures.values():
        assert f.result(timeout=20) is None


def values(n: int, tag: str) -> List[bytes]:
    return [f"{tag}-{i:04d}".encode() for i in range(n)]


# ---------------------------------------------------------------------------------------------
# confluent-kafka
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_confluent_produce_consume_group(broker, kind):
    from confluent_kafka import Consumer, Producer, TopicPartition

    if kind == "sasl_scram512":
        create_scram_user(broker)
    conf = {"bootstrap.servers": listener(broker, LISTENER_OF[kind]), "logger": RDKAFKA_LOGGER,
            **rdkafka_conf(kind)}
    topic = f"cf-sec-{kind}"
    sent = values(40, kind)
    p = Producer({**conf, "acks": "all", "linger.ms": 5})
    errors = []
    for v in sent:
        p.produce(topic, value=v, key=v[-2:], on_delivery=lambda e, m: e and errors.append(e))
    assert p.flush(60) == 0 and not errors, errors
    c = Consumer({**conf, "group.id": f"g-{kind}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False})
    try:
        c.subscribe([topic])
        got = []
        deadline = time.monotonic() + 60
        while len(got) < len(sent):
            assert time.monotonic() < deadline, f"consumed {len(got)} of {len(sent)}"
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got.append(m.value())
        c.commit(asynchronous=False)
        assert sorted(got) == sorted(sent)
        committed = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=20)
        assert sum(tp.offset for tp in committed) == len(sent), committed
    finally:
        c.close()


def cf_errors_until(conf: dict, want, timeout: float = 15):
    """The errors a producer's error_cb reports until one satisfies ``want``."""
    from confluent_kafka import Producer

    errors = []
    p = Producer({**conf, "logger": RDKAFKA_LOGGER, "error_cb": errors.append})
    p.produce("never-delivered", b"x")
    deadline = time.monotonic() + timeout
    while not any(want(e) for e in errors):
        assert time.monotonic() < deadline, f"no such error within {timeout}s: {errors}"
        p.poll(0.2)
    p.purge()
    return errors


def test_confluent_wrong_password_is_an_authentication_error(broker):
    from confluent_kafka import KafkaError

    create_scram_user(broker)
    for kind, message in (("sasl_plain", "Authentication failed: Invalid username or password"),
                          ("sasl_ssl", "Authentication failed: Invalid username or password"),
                          ("sasl_scram512", "Authentication failed during authentication due to "
                                            "invalid credentials with SASL mechanism SCRAM-SHA-512")):
        conf = {"bootstrap.servers": listener(broker, LISTENER_OF[kind]),
                **rdkafka_conf(kind, password="wrong")}
        errors = cf_errors_until(conf, lambda e: e.code() == KafkaError._AUTHENTICATION)
        auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
        assert message in auth[0].str(), auth[0].str()


def test_confluent_untrusted_certificates_are_refused(broker):
    import logging

    c = certs()
    # The client does not trust the broker's CA; the broker (requiring a certificate) does not
    # trust the client's: librdkafka then sends none and is refused for that.
    for addr, conf, text in ((listener(broker, "SSL"),
                              {"security.protocol": "SSL", "ssl.ca.location": c["rogue-ca.pem"]},
                              "certificate verify failed"),
                             (listener(broker, "MTLS"),
                              {"security.protocol": "SSL", "ssl.ca.location": c["ca.pem"],
                               "ssl.certificate.location": c["rogue.pem"], "ssl.key.location": c["rogue.key"]},
                              "certificate required")):
        seen: List[str] = []

        class Keep(logging.Handler):
            def emit(self, record):
                seen.append(record.getMessage())

        logger = logging.getLogger(f"rdkafka-untrusted-{len(text)}")
        logger.addHandler(Keep())
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": addr, "logger": logger, **conf})
        p.produce("never-delivered", b"x")
        deadline = time.monotonic() + 15
        while not any(text in m.lower() for m in seen):
            assert time.monotonic() < deadline, f"no {text!r} within 15s: {seen}"
            p.poll(0.2)
        p.purge()


def test_scram_users_listed_through_the_admin_api_survive_a_restart(broker):
    from confluent_kafka.admin import AdminClient, ScramMechanism, UserScramCredentialDeletion

    create_scram_user(broker)

    def describe():
        admin = AdminClient({"bootstrap.servers": broker.bootstrap, "logger": RDKAFKA_LOGGER})
        described = admin.describe_user_scram_credentials().result(timeout=20)
        return {u: [(i.mechanism, i.iterations) for i in d.scram_credential_infos]
                for u, d in described.items()}

    assert describe() == {SCRAM_USER: [(ScramMechanism.SCRAM_SHA_512, 8192)]}
    broker.restart()
    assert describe() == {SCRAM_USER: [(ScramMechanism.SCRAM_SHA_512, 8192)]}
    # The credential still authenticates after the restart.
    from confluent_kafka.admin import AdminClient as Admin
    md = Admin({"bootstrap.servers": listener(broker, "SASL_PLAINTEXT"), "logger": RDKAFKA_LOGGER,
                **rdkafka_conf("sasl_scram512")}).list_topics(timeout=20)
    assert md.brokers[1].port == int(listener(broker, "SASL_PLAINTEXT").rsplit(":", 1)[1])
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "logger": RDKAFKA_LOGGER})
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialDeletion(SCRAM_USER, ScramMechanism.SCRAM_SHA_512)])
    for f in futures.values():
        assert f.result(timeout=20) is None
    assert describe() == {}


# ---------------------------------------------------------------------------------------------
# kafka-python
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_kafka_python_produce_consume_group(broker, kind):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    if kind == "sasl_scram512":
        create_scram_user(broker)
    bootstrap = listener(broker, LISTENER_OF[kind])
    conf = kp_conf(kind)
    topic = f"kp-sec-{kind}"
    sent = values(40, kind)
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **conf)
    futures = [p.send(topic, value=v) for v in sent]
    p.flush(60)
    assert all(f.get(timeout=30).offset >= 0 for f in futures)
    p.close()
    c = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"kg-{kind}",
                      auto_offset_reset="earliest", enable_auto_commit=False, **conf)
    try:
        got = []
        deadline = time.monotonic() + 60
        while len(got) < len(sent):
            assert time.monotonic() < deadline, f"consumed {len(got)} of {len(sent)}"
            for msgs in c.poll(timeout_ms=500).values():
                got.extend(m.value for m in msgs)
        c.commit()
        assert sorted(got) == sorted(sent)
        committed = sum(c.committed(TopicPartition(topic, p)) or 0 for p in (0, 1))
        assert committed == len(sent)
    finally:
        c.close()


def test_kafka_python_refusals_are_authentication_and_ssl_errors(broker, caplog):
    import logging

    import kafka.errors as Errors
    from kafka import KafkaAdminClient

    create_scram_user(broker)
    c = certs()
    # kafka-python 3.0.12 sees the broker close the connection after its SaslAuthenticate
    # (the SASL_AUTHENTICATION_FAILED answer and the close arrive together, after
    # connection.failed.authentication.delay.ms, and it handles the close first); a bad
    # certificate is its ssl module's verification error.
    cases = (
        ("sasl_plain", kp_conf("sasl_plain", password="wrong"), "SaslAuthenticateRequest"),
        ("sasl_scram512", kp_conf("sasl_scram512", password="wrong"), "SaslAuthenticateRequest"),
        ("ssl", {"security_protocol": "SSL", "ssl_cafile": c["rogue-ca.pem"]}, "CERTIFICATE_VERIFY_FAILED"),
    )
    for kind, conf, message in cases:
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="kafka"):
            # kafka-python gives up bootstrapping and logs why each connection failed.
            with pytest.raises(Errors.KafkaTimeoutError):
                KafkaAdminClient(bootstrap_servers=listener(broker, LISTENER_OF[kind]),
                                 request_timeout_ms=3000, **conf)
        assert message in caplog.text, f"{kind}: {caplog.text[-2000:]}"
        # Never authenticated: no request past the SASL exchange was answered.
        assert "MetadataResponse" not in caplog.text, kind
    # The right password works on the same listener.
    KafkaAdminClient(bootstrap_servers=listener(broker, "SASL_PLAINTEXT"), request_timeout_ms=10000,
                     **kp_conf("sasl_plain")).close()


# ---------------------------------------------------------------------------------------------
# kcat
# ---------------------------------------------------------------------------------------------


def kcat(*args: str, conf: Dict[str, str], input: bytes = None, timeout: float = 60):
    x = [a for k, v in conf.items() for a in ("-X", f"{k}={v}")]
    return subprocess.run([KCAT, *x, *args], input=input, capture_output=True, timeout=timeout)


@pytest.mark.skipif(KCAT is None, reason="kcat is not installed")
@pytest.mark.parametrize("kind", KINDS)
def test_kcat_produce_consume_group(broker, kind):
    if kind == "sasl_scram512":
        create_scram_user(broker)
    bootstrap = listener(broker, LISTENER_OF[kind])
    conf = rdkafka_conf(kind)
    topic = f"kc-sec-{kind}"
    sent = values(30, kind)
    out = kcat("-P", "-b", bootstrap, "-t", topic, conf=conf, input=b"\n".join(sent) + b"\n")
    assert out.returncode == 0, out.stderr
    out = kcat("-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", conf=conf)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == sorted(sent)
    # A balanced consumer in a group: it commits what it read.
    group = f"kcg-{kind}"
    out = kcat("-G", group, "-b", bootstrap, "-e", "-q", "-X", "auto.offset.reset=earliest", topic,
               conf=conf)
    assert out.returncode == 0, out.stderr
    assert sorted(out.stdout.split()) == sorted(sent)
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "logger": RDKAFKA_LOGGER})
    from confluent_kafka import ConsumerGroupTopicPartitions
    res = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(timeout=20)
    assert sum(tp.offset for tp in res.topic_partitions if tp.topic == topic) == len(sent)


@pytest.mark.skipif(KCAT is None, reason="kcat is not installed")
def test_kcat_refusals_say_why(broker):
    out = kcat("-L", "-b", listener(broker, "SASL_PLAINTEXT"), "-m", "5",
               conf=rdkafka_conf("sasl_plain", password="wrong"))
    assert out.returncode != 0
    assert b"SASL authentication error: Authentication failed: Invalid username or password" in out.stderr, out.stderr
    c = certs()
    out = kcat("-L", "-b", listener(broker, "MTLS"), "-m", "5",
               conf={"security.protocol": "SSL", "ssl.ca.location": c["ca.pem"],
                     "ssl.certificate.location": c["rogue.pem"], "ssl.key.location": c["rogue.key"]})
    assert out.returncode != 0
    assert b"unknown ca" in out.stderr.lower() or b"certificate required" in out.stderr.lower(), out.stderr
    # The plaintext listener beside them needs nothing.
    out = kcat("-L", "-b", broker.bootstrap, "-m", "5", conf={})
    assert out.returncode == 0, out.stderr


def test_acl_admin_calls_are_refused_as_security_disabled(broker):
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                       ResourcePatternType, ResourceType)

    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "logger": RDKAFKA_LOGGER})
    binding = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:alice", "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    (future,) = admin.create_acls([binding]).values()
    with pytest.raises(KafkaException) as info:
        future.result(timeout=20)
    assert info.value.args[0].code() == KafkaError.SECURITY_DISABLED, info.value
    assert "No Authorizer is configured." in info.value.args[0].str()
