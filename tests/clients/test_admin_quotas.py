"""Client quotas end to end with real clients.

Neither kafka-python 3.0.12's KafkaAdminClient nor confluent-kafka 2.16.1's AdminClient has a
describe/alter client quotas method (librdkafka has no such admin API); kafka-python ships the
protocol messages, so its admin client's own connection manager sends them (version negotiated
from our ApiVersions, its codec decodes the answers). Enforcement is checked with librdkafka: a
producer and a consumer each held to their byte rate, within 20% over 10 s, with no error
reaching the application."""

from __future__ import annotations

import time

import pytest

from clientlib import RDKAFKA_LOGGER, cf_create_topic, kp_admin

pytest.importorskip("kafka")
pytest.importorskip("confluent_kafka")

from kafka.protocol.admin import AlterClientQuotasRequest, DescribeClientQuotasRequest  # noqa: E402

RUN_SECONDS = 10.0
QUOTA_BYTES_PER_SECOND = 100 * 1024
VALUE_BYTES = 1024


def _entry(entity, ops):
    e = AlterClientQuotasRequest.EntryData
    return e(entity=[e.EntityData(entity_type=t, entity_name=n) for t, n in entity],
             ops=[e.OpData(key=k, value=float(v if v is not None else 0), remove=v is None) for k, v in ops])


def alter(admin, entries, validate_only=False):
    """{frozenset(entity): (error_code, error_message)}"""
    req = AlterClientQuotasRequest(entries=[_entry(e, ops) for e, ops in entries], validate_only=validate_only)
    resp = admin._manager.run(admin._manager.send, req)
    return {frozenset((x.entity_type, x.entity_name) for x in r.entity): (r.error_code, r.error_message)
            for r in resp.entries}


def describe(admin, components, strict=False):
    """{frozenset(entity): {key: value}}, or raises on an error."""
    c = DescribeClientQuotasRequest.ComponentData
    req = DescribeClientQuotasRequest(strict=strict, components=[
        c(entity_type=t, match_type=m, match=v) for t, m, v in components])
    resp = admin._manager.run(admin._manager.send, req)
    if resp.error_code:
        return resp.error_code, resp.error_message
    return {frozenset((x.entity_type, x.entity_name) for x in e.entity): {v.key: v.value for v in e.values}
            for e in resp.entries}


def set_quota(bootstrap, entity, key, value):
    admin = kp_admin(bootstrap)
    try:
        assert alter(admin, [(entity, [(key, value)])]) == {frozenset(entity): (0, None)}
    finally:
        admin.close()


def test_kafka_python_alters_and_describes_client_quotas_across_a_restart(broker):
    admin = kp_admin(broker.bootstrap)
    try:
        user_client = [("user", "alice"), ("client-id", None)]
        got = alter(admin, [
            (user_client, [("producer_byte_rate", 1048576), ("consumer_byte_rate", 2097152)]),
            ([("client-id", "batch-job")], [("request_percentage", 12.5)]),
            ([("ip", "10.0.0.7")], [("connection_creation_rate", 20)]),
            ([("ip", "10.0.0.8"), ("user", "bob")], [("connection_creation_rate", 20)]),
            ([("user", "carol")], [("producer_byte_rate", -5)]),
        ])
        assert got[frozenset(user_client)] == (0, None)
        assert got[frozenset([("client-id", "batch-job")])] == (0, None)
        assert got[frozenset([("ip", "10.0.0.7")])] == (0, None)
        assert got[frozenset([("ip", "10.0.0.8"), ("user", "bob")])][0] == 42
        assert got[frozenset([("user", "carol")])] == (42, "Quota producer_byte_rate must be greater than 0")
        # validate_only changes nothing.
        assert alter(admin, [([("user", "dave")], [("producer_byte_rate", 10)])], validate_only=True) \
            == {frozenset([("user", "dave")]): (0, None)}
        # Filters: any user; the default client-id; strict on client-id alone.
        assert describe(admin, [("user", 2, None)]) == {
            frozenset(user_client): {"producer_byte_rate": 1048576.0, "consumer_byte_rate": 2097152.0}}
        assert set(describe(admin, [("client-id", 1, None)])) == {frozenset(user_client)}
        assert describe(admin, [("client-id", 2, None)], strict=True) == {
            frozenset([("client-id", "batch-job")]): {"request_percentage": 12.5}}
        assert describe(admin, [("topic", 2, None)]) == (35, "Unsupported entity type topic")
        # Remove one key.
        assert alter(admin, [(user_client, [("consumer_byte_rate", None)])]) == {frozenset(user_client): (0, None)}
    finally:
        admin.close()

    broker.restart()
    admin = kp_admin(broker.bootstrap)
    try:
        assert describe(admin, []) == {
            frozenset(user_client): {"producer_byte_rate": 1048576.0},
            frozenset([("client-id", "batch-job")]): {"request_percentage": 12.5},
            frozenset([("ip", "10.0.0.7")]): {"connection_creation_rate": 20.0},
        }
    finally:
        admin.close()


def test_confluent_producer_is_held_to_its_producer_byte_rate(broker):
    from confluent_kafka import Producer

    topic = "quota-produce"
    cf_create_topic(broker.bootstrap, topic, 1)
    set_quota(broker.bootstrap, [("client-id", "quota-producer")], "producer_byte_rate", QUOTA_BYTES_PER_SECOND)
    producer = Producer({
        "bootstrap.servers": broker.bootstrap,
        "logger": RDKAFKA_LOGGER,
        "client.id": "quota-producer",
        "acks": "all",
        "enable.idempotence": False,
        "linger.ms": 5,
        # Requests small next to the 10 s window (about 1 MB here), so it is filled evenly.
        "batch.size": 16384,
    })
    errors, delivered = [], []  # delivered: (time, bytes)

    def on_delivery(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered.append((time.monotonic(), len(msg.value())))

    value = b"q" * VALUE_BYTES
    start = time.monotonic()
    while time.monotonic() - start < RUN_SECONDS:
        # Keep a little queued, so the end of the run leaves little to flush.
        if len(producer) < 64:
            producer.produce(topic, value, on_delivery=on_delivery)
        producer.poll(0.001)
    left = producer.flush(60)
    assert left == 0 and not errors, f"{left} undelivered, errors {errors}"
    in_run = sum(n for t, n in delivered if t - start <= RUN_SECONDS)
    rate = in_run / RUN_SECONDS
    print(f"producer: {rate:.0f} B/s delivered over {RUN_SECONDS} s, quota {QUOTA_BYTES_PER_SECOND} B/s")
    assert abs(rate - QUOTA_BYTES_PER_SECOND) <= 0.2 * QUOTA_BYTES_PER_SECOND, \
        f"{rate:.0f} B/s delivered over {RUN_SECONDS} s, quota {QUOTA_BYTES_PER_SECOND} B/s"


def test_confluent_consumer_is_held_to_its_consumer_byte_rate(broker):
    from confluent_kafka import Consumer, Producer, TopicPartition

    topic = "quota-consume"
    cf_create_topic(broker.bootstrap, topic, 1)
    total = int(3 * RUN_SECONDS * QUOTA_BYTES_PER_SECOND)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "logger": RDKAFKA_LOGGER,
                         "enable.idempotence": False, "linger.ms": 20})
    value = b"c" * VALUE_BYTES
    for _ in range(total // VALUE_BYTES):
        producer.produce(topic, value)
        producer.poll(0)
    assert producer.flush(60) == 0
    set_quota(broker.bootstrap, [("client-id", "quota-consumer")], "consumer_byte_rate", QUOTA_BYTES_PER_SECOND)
    consumer = Consumer({
        "bootstrap.servers": broker.bootstrap,
        "logger": RDKAFKA_LOGGER,
        "client.id": "quota-consumer",
        "group.id": "quota-assign-only",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        # Fetches small next to the quota's 10 s window, so it is filled evenly.
        "max.partition.fetch.bytes": 16384,
        "fetch.max.bytes": 16384,
        "message.max.bytes": 16384,
    })
    consumer.assign([TopicPartition(topic, 0, 0)])
    consumed, errors, start = 0, [], None
    try:
        while start is None or time.monotonic() - start < RUN_SECONDS:
            msg = consumer.poll(0.1)
            if msg is None:
                continue
            if msg.error():
                errors.append(msg.error())
                continue
            if start is None:
                start = time.monotonic()
            consumed += len(msg.value())
    finally:
        consumer.close()
    assert not errors, errors
    rate = consumed / RUN_SECONDS
    print(f"consumer: {rate:.0f} B/s consumed over {RUN_SECONDS} s, quota {QUOTA_BYTES_PER_SECOND} B/s")
    assert consumed < total, "the whole topic was read: nothing was throttled"
    assert abs(rate - QUOTA_BYTES_PER_SECOND) <= 0.2 * QUOTA_BYTES_PER_SECOND, \
        f"{rate:.0f} B/s consumed over {RUN_SECONDS} s, quota {QUOTA_BYTES_PER_SECOND} B/s"
