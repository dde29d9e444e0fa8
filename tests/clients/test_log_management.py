"""Log management with real clients: DeleteRecords through kafka-python's KafkaAdminClient and
confluent-kafka's AdminClient (the low watermark answered, a consumer from the beginning gets
exactly the records at and after it, ListOffsets earliest follows, refusals as the clients
report them, a restart keeps the new log start offset)."""

from __future__ import annotations

import pytest

from clientlib import cf_admin, cf_consumer, kp_admin, kp_consumer
from conftest import wait_until

RECORDS = 60
# Small segments, so deleting records also removes whole segment files.
SEGMENT_BYTES = 1024


def produce_numbered(bootstrap: str, topic: str, count: int):
    """``count`` records k<i>=v<i> to partition 0, one batch each (confluent-kafka, acks=all)."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
                  "linger.ms": 0})
    offsets = []
    for i in range(count):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0,
                  on_delivery=lambda err, msg: offsets.append(None if err else msg.offset()))
        p.flush(30)
    assert offsets == list(range(count)), offsets


def create_topic(bootstrap: str, topic: str, **configs):
    from confluent_kafka.admin import NewTopic

    admin = cf_admin(bootstrap)
    config = {"segment.bytes": str(SEGMENT_BYTES), **configs}
    futures = admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1, config=config)],
                                  operation_timeout=30, request_timeout=30)
    assert futures[topic].result(timeout=40) is None
    wait_until(lambda: topic in admin.list_topics(timeout=10).topics, 15, what=f"{topic} in metadata")


def kp_read_from_beginning(bootstrap: str, topic: str):
    """(earliest offset, [(offset, key, value)...]) as a kafka-python consumer sees them."""
    from kafka import TopicPartition

    c = kp_consumer(bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek_to_beginning(tp)
        begin, end = c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp]
        out = []
        while c.position(tp) < end:
            for msgs in c.poll(timeout_ms=500).values():
                out.extend((m.offset, m.key, m.value) for m in msgs)
        return begin, out
    finally:
        c.close()


def cf_read_from_beginning(bootstrap: str, topic: str):
    """(low, high watermarks, [(offset, key, value)...]) as librdkafka sees them."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

    c = cf_consumer(bootstrap)
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        out = []
        while True:
            m = c.poll(5)
            assert m is not None, f"no EOF after {len(out)} records"
            if m.error() is not None:
                assert m.error().code() == KafkaError._PARTITION_EOF, m.error()
                break
            out.append((m.offset(), m.key(), m.value()))
        return (low, high), out
    finally:
        c.close()


def numbered(start: int, end: int):
    return [(i, b"k%d" % i, b"v%d" % i) for i in range(start, end)]


def test_kafka_python_delete_records(broker):
    from kafka import TopicPartition
    from kafka.errors import OffsetOutOfRangeError, PolicyViolationError

    topic = "kp-delete-records"
    create_topic(broker.bootstrap, topic)
    produce_numbered(broker.bootstrap, topic, RECORDS)
    segments_before = sorted((broker.log_dir / f"{topic}-0").glob("*.log"))
    admin = kp_admin(broker.bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        result = admin.delete_records({tp: 25})
        assert result[tp]["low_watermark"] == 25 and result[tp]["error_code"] == 0, result
        with pytest.raises(OffsetOutOfRangeError):
            admin.delete_records({tp: RECORDS + 1})
        compacted = "kp-delete-records-compacted"
        create_topic(broker.bootstrap, compacted, **{"cleanup.policy": "compact"})
        with pytest.raises(PolicyViolationError):
            admin.delete_records({TopicPartition(compacted, 0): 0})
    finally:
        admin.close()
    segments_after = sorted((broker.log_dir / f"{topic}-0").glob("*.log"))
    assert len(segments_after) < len(segments_before), (segments_before, segments_after)
    assert kp_read_from_beginning(broker.bootstrap, topic) == (25, numbered(25, RECORDS))

    broker.kill9()
    broker.start()
    assert kp_read_from_beginning(broker.bootstrap, topic) == (25, numbered(25, RECORDS))
    admin = kp_admin(broker.bootstrap)
    try:
        result = admin.delete_records({TopicPartition(topic, 0): -1})
        assert result[TopicPartition(topic, 0)]["low_watermark"] == RECORDS, result
    finally:
        admin.close()
    assert kp_read_from_beginning(broker.bootstrap, topic) == (RECORDS, [])


def test_confluent_delete_records(broker):
    from confluent_kafka import KafkaError, KafkaException, TopicPartition

    topic = "cf-delete-records"
    create_topic(broker.bootstrap, topic)
    produce_numbered(broker.bootstrap, topic, RECORDS)
    admin = cf_admin(broker.bootstrap)
    futures = admin.delete_records([TopicPartition(topic, 0, 40)], operation_timeout=10, request_timeout=30)
    ((tp, future),) = futures.items()
    assert (tp.topic, tp.partition, future.result(timeout=30).low_watermark) == (topic, 0, 40)
    assert cf_read_from_beginning(broker.bootstrap, topic) == ((40, RECORDS), numbered(40, RECORDS))

    # Beyond the high watermark: OFFSET_OUT_OF_RANGE, and nothing changed.
    (future,) = admin.delete_records([TopicPartition(topic, 0, RECORDS + 5)], request_timeout=30).values()
    with pytest.raises(KafkaException) as refused:
        future.result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE, refused.value
    # A compact-only topic: POLICY_VIOLATION.
    compacted = "cf-delete-records-compacted"
    create_topic(broker.bootstrap, compacted, **{"cleanup.policy": "compact"})
    (future,) = admin.delete_records([TopicPartition(compacted, 0, 0)], request_timeout=30).values()
    with pytest.raises(KafkaException) as refused:
        future.result(timeout=30)
    assert refused.value.args[0].code() == KafkaError.POLICY_VIOLATION, refused.value
    assert cf_read_from_beginning(broker.bootstrap, topic) == ((40, RECORDS), numbered(40, RECORDS))

    broker.kill9()
    broker.start()
    assert cf_read_from_beginning(broker.bootstrap, topic) == ((40, RECORDS), numbered(40, RECORDS))
    admin = cf_admin(broker.bootstrap)
    (future,) = admin.delete_records([TopicPartition(topic, 0, -1)], request_timeout=30).values()
    assert future.result(timeout=30).low_watermark == RECORDS
    assert cf_read_from_beginning(broker.bootstrap, topic) == ((RECORDS, RECORDS), [])


def keyless_message(topic: str) -> str:
    return f"Compacted topic cannot accept message without key in topic partition {topic}-0."


def test_confluent_keyless_records_to_a_compacted_topic(broker):
    from confluent_kafka import KafkaError, Producer

    topic = "cf-compacted-keyless"
    create_topic(broker.bootstrap, topic, **{"cleanup.policy": "compact"})
    p = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "enable.idempotence": False,
                  "retries": 0, "linger.ms": 0})
    reports = []
    p.produce(topic, key=None, value=b"no key", partition=0,
              on_delivery=lambda err, msg: reports.append(err))
    p.flush(30)
    p.produce(topic, key=b"k", value=b"keyed", partition=0,
              on_delivery=lambda err, msg: reports.append(err if err else msg.offset()))
    p.flush(30)
    refused, accepted = reports
    assert refused is not None and refused.code() == KafkaError.INVALID_RECORD, refused
    # librdkafka reports the code with its own text (the record errors are not surfaced).
    assert refused.str() == "Broker: Broker failed to validate record", refused.str()
    assert accepted == 0, accepted
    (_, high), records = cf_read_from_beginning(broker.bootstrap, topic)
    assert (high, records) == (1, [(0, b"k", b"keyed")])


def test_kafka_python_keyless_records_to_a_compacted_topic(broker):
    from kafka import KafkaProducer
    from kafka.errors import InvalidRecordError

    topic = "kp-compacted-keyless"
    create_topic(broker.bootstrap, topic, **{"cleanup.policy": "compact,delete"})
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", enable_idempotence=False, retries=0)
    try:
        with pytest.raises(InvalidRecordError) as refused:
            p.send(topic, key=None, value=b"no key", partition=0).get(timeout=30)
        assert keyless_message(topic) in str(refused.value), str(refused.value)
        assert p.send(topic, key=b"k", value=b"keyed", partition=0).get(timeout=30).offset == 0
    finally:
        p.close(timeout=10)
    assert kp_read_from_beginning(broker.bootstrap, topic) == (0, [(0, b"k", b"keyed")])


# ---------------------------------------------------------------------------------------------
# The log cleaner
# ---------------------------------------------------------------------------------------------

CLEANER_PROPS = {"log.cleaner.backoff.ms": 50}
KEYS = 200
UPDATES = 20_000
FILLER = 400


def produce_compactable(bootstrap: str, topic: str, compression: str = "none"):
    """UPDATES records over KEYS keys (every 9th a tombstone), then FILLER records with keys
    of their own, which roll the earlier records out of the active segment (never cleaned),
    in batches compressed with ``compression``. Returns {key: latest value or None}."""
    import random

    from confluent_kafka import Producer

    rng = random.Random(9)
    latest = {}
    # Batches of about 1 KiB, several to a 4 KiB segment.
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False,
                  "linger.ms": 5, "batch.size": 1024, "compression.type": compression})
    errors = []
    cb = lambda err, msg: errors.append(err) if err else None  # noqa: E731
    for i in range(UPDATES):
        key = b"key-%d" % rng.randrange(KEYS)
        value = None if i % 9 == 0 else b"value-%d" % i
        p.produce(topic, key=key, value=value, partition=0, on_delivery=cb)
        latest[key] = value
        p.poll(0)
    assert p.flush(60) == 0
    for i in range(FILLER):
        # Values that barely compress, so the filler spans segments with every codec.
        key, value = b"filler-%d" % i, b"f%d-%s" % (i, rng.randbytes(24).hex().encode())
        p.produce(topic, key=key, value=value, partition=0, on_delivery=cb)
        latest[key] = value
    assert p.flush(60) == 0 and not errors, errors[:3]
    return latest


def live(latest):
    return {k: v for k, v in latest.items() if v is not None}


def as_latest(records):
    """The records a consumer got: {key: value}, each key once, offsets increasing."""
    offsets = [o for o, _, _ in records]
    assert offsets == sorted(set(offsets)), "offsets increase"
    keys = [k for _, k, _ in records]
    assert len(keys) == len(set(keys)), "each key once"
    return {k: v for _, k, v in records}


def create_compacted(bootstrap: str, topic: str):
    create_topic(bootstrap, topic, **{"cleanup.policy": "compact", "segment.bytes": "4096",
                                       "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0"})


@pytest.mark.broker_props(**CLEANER_PROPS)
@pytest.mark.parametrize("compression", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_compacted_topic_consumers_get_the_latest_value_of_every_live_key(broker, compression):
    """Compressed batches are decompressed, cleaned and recompressed with their codec: every
    client reads the result."""
    import shutil
    import subprocess

    topic = "compacted-" + compression
    create_compacted(broker.bootstrap, topic)
    latest = produce_compactable(broker.bootstrap, topic, compression)
    want = live(latest)

    # kafka-python: once cleaned (tombstones after delete.retention.ms=0 too), exactly the
    # latest value of every live key, with gaps in the offsets.
    def kp_view():
        _, records = kp_read_from_beginning(broker.bootstrap, topic)
        return records

    records = wait_until(lambda: (lambda r: r if len(r) == len(want) else None)(kp_view()), 60,
                         interval=0.5, what="the cleaner to compact the topic")
    assert as_latest(records) == want
    assert records[-1][0] == UPDATES + FILLER - 1 and records[0][0] > 0, "offsets kept, with gaps"

    # confluent-kafka sees the same records at the same offsets.
    (low, high), cf_records = cf_read_from_beginning(broker.bootstrap, topic)
    assert (low, high) == (0, UPDATES + FILLER)
    assert cf_records == records

    # kcat too.
    kcat = shutil.which("kcat") or shutil.which("kafkacat")
    if kcat:
        out = subprocess.run([kcat, "-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning",
                              "-e", "-q", "-f", "%o %k %s\\n"], capture_output=True, timeout=60, check=True)
        lines = [line.split(b" ", 2) for line in out.stdout.splitlines()]
        assert [(int(o), k, v) for o, k, v in lines] == records

    # A restart keeps the compacted log, and producing continues at the same end.
    broker.kill9()
    broker.start()
    assert kp_view() == records


@pytest.mark.broker_props(**CLEANER_PROPS)
def test_tombstones_stay_until_delete_retention_ms(broker):
    topic = "compacted-tombstones"
    create_topic(broker.bootstrap, topic, **{"cleanup.policy": "compact", "segment.bytes": "4096",
                                             "min.cleanable.dirty.ratio": "0.01",
                                             "delete.retention.ms": "8000"})
    latest = produce_compactable(broker.bootstrap, topic)

    # Cleaned within delete.retention.ms of the first pass: one tombstone per deleted key.
    records = wait_until(lambda: (lambda r: r if len(r) == len(latest) else None)(
        kp_read_from_beginning(broker.bootstrap, topic)[1]), 8, interval=0.2,
        what="the cleaner to compact the topic")
    assert as_latest(records) == latest
    assert any(v is None for _, _, v in records)

    # The horizon passes: a later pass removes them, and only them.
    want = live(latest)
    records = wait_until(lambda: (lambda r: r if len(r) == len(want) else None)(
        kp_read_from_beginning(broker.bootstrap, topic)[1]), 60, interval=0.5,
        what="the tombstones to go")
    assert as_latest(records) == want


# ---------------------------------------------------------------------------------------------
# Offset expiry in __consumer_offsets
# ---------------------------------------------------------------------------------------------


@pytest.mark.broker_props(**{"offsets.retention.ms": 2000, "offsets.retention.check.interval.ms": 100,
                             "group.initial.rebalance.delay.ms": 0})
def test_offsets_of_an_empty_group_expire_and_a_live_groups_stay(broker):
    import time

    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    topic = "expiry"
    create_topic(broker.bootstrap, topic)
    produce_numbered(broker.bootstrap, topic, 5)
    tp = TopicPartition(topic, 0)

    live = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id="live",
                         enable_auto_commit=False, auto_offset_reset="earliest")
    standalone = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="standalone",
                               enable_auto_commit=False)
    try:
        wait_until(lambda: live.poll(timeout_ms=200) is not None and live.assignment(), 30,
                   what="the live group's assignment")
        live.commit({tp: OffsetAndMetadata(2, "", -1)})
        standalone.assign([tp])
        standalone.commit({tp: OffsetAndMetadata(3, "", -1)})
        assert standalone.committed(tp) == 3
        # The standalone group never had members: its offset expires after the retention.
        wait_until(lambda: standalone.committed(tp) is None, 20, what="the standalone offset to expire")
        # The live group's member stays in the group past the retention: its offset stays.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            live.poll(timeout_ms=100)
        assert live.committed(tp) == 2
    finally:
        live.close()
        standalone.close()

    # The tombstone is durable across a kill -9.
    broker.kill9()
    broker.start()
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="standalone", enable_auto_commit=False)
    try:
        assert c.committed(tp) is None
    finally:
        c.close()
