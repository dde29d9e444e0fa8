"""Client-side helpers shared by the test modules: confluent-kafka and kafka-python producers and
assign()-based consumers (no consumer groups: the broker does not implement them yet), with
idempotence disabled (no InitProducerId yet)."""

from __future__ import annotations

import logging
import time
from typing import Dict, List, Optional, Sequence, Tuple

from conftest import NUM_PARTITIONS, Consumed, Rec, consumed, wait_until

# librdkafka's own log lines (e.g. "Connect ... failed" after a deliberate kill -9) go through
# Python logging, so pytest captures them per test instead of printing them on stderr.
RDKAFKA_LOGGER = logging.getLogger("rdkafka")

# ---------------------------------------------------------------------------------------------
# confluent-kafka (librdkafka 2.16)
# ---------------------------------------------------------------------------------------------


def cf_admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "logger": RDKAFKA_LOGGER})


def cf_topic_ready(admin, topic: str, partitions: int):
    md = admin.list_topics(timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None or len(t.partitions) != partitions:
        return None
    if any(p.leader < 0 or p.error is not None for p in t.partitions.values()):
        return None
    return md


def cf_create_topic(bootstrap: str, topic: str, partitions: int = NUM_PARTITIONS):
    """CreateTopics through the admin client, then wait (as with any Kafka) until metadata
    shows the topic with a leader for every partition. Returns that metadata."""
    from confluent_kafka.admin import NewTopic

    admin = cf_admin(bootstrap)
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)],
        operation_timeout=30,
        request_timeout=30,
    )
    assert futures[topic].result(timeout=40) is None
    return wait_until(lambda: cf_topic_ready(admin, topic, partitions), 15, what=f"topic {topic} in metadata")


def cf_delete_topic_and_check_gone(bootstrap: str, topic: str):
    admin = cf_admin(bootstrap)
    futures = admin.delete_topics([topic], operation_timeout=30, request_timeout=30)
    assert futures[topic].result(timeout=40) is None
    wait_until(lambda: topic not in admin.list_topics(timeout=10).topics, 15,
               what=f"deleted topic {topic} to leave metadata")
    # Describing it by name (Metadata without auto-creation) must say it does not exist.
    from confluent_kafka import KafkaError, KafkaException, TopicCollection

    fut = admin.describe_topics(TopicCollection([topic]), request_timeout=10)[topic]
    try:
        desc = fut.result(timeout=20)
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, e
    else:
        raise AssertionError(f"deleted topic still described: {desc}")


def cf_producer(bootstrap: str, **extra):
    from confluent_kafka import Producer

    conf = {
        "bootstrap.servers": bootstrap,
        "logger": RDKAFKA_LOGGER,
        "acks": "all",
        "enable.idempotence": False,
        "linger.ms": 5,
    }
    conf.update(extra)
    return Producer(conf)


def cf_produce(
    bootstrap: str,
    topic: str,
    records: Sequence[Rec],
    compression: str = "none",
    timestamps: Optional[Sequence[int]] = None,
    **extra,
) -> List[Tuple[int, int]]:
    """Produces every record (acks=all; CreateTime ``timestamps[i]`` when given), waits for
    every delivery report and asserts none failed. Returns (partition, offset) per record, in
    produce order."""
    p = cf_producer(bootstrap, **{"compression.type": compression}, **extra)
    reports: List[Optional[Tuple[int, int]]] = [None] * len(records)
    errors: List[str] = []

    def on_delivery(i):
        def cb(err, msg):
            if err is not None:
                errors.append(f"record {i}: {err}")
            else:
                reports[i] = (msg.partition(), msg.offset())
        return cb

    for i, r in enumerate(records):
        while True:
            try:
                kw = {} if timestamps is None else {"timestamp": timestamps[i]}
                p.produce(topic, value=r.value, key=r.key, headers=list(r.headers),
                          on_delivery=on_delivery(i), **kw)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    left = p.flush(60)
    assert left == 0, f"{left} records still undelivered after flush(60)"
    assert not errors, f"{len(errors)} delivery failures, first: {errors[:3]}"
    assert all(rep is not None for rep in reports)
    return reports  # type: ignore[return-value]


def check_delivery_offsets(reports: Sequence[Tuple[int, int]], num_partitions: int = NUM_PARTITIONS) -> Dict[int, int]:
    """Delivery reports of a fresh topic: per partition, offsets 0, 1, 2, ... in produce order."""
    per: Dict[int, List[int]] = {}
    for part, off in reports:
        per.setdefault(part, []).append(off)
    assert set(per) <= set(range(num_partitions)), sorted(per)
    for part, offs in per.items():
        assert offs == list(range(len(offs))), (
            f"partition {part}: acknowledged offsets are not 0..{len(offs) - 1} in produce order: "
            f"{offs[:10]}..."
        )
    return {part: len(offs) for part, offs in per.items()}


def cf_consumer(bootstrap: str, **extra):
    from confluent_kafka import Consumer

    # confluent-kafka insists on a group.id; it is never used: only assign(), no commits.
    conf = {
        "bootstrap.servers": bootstrap,
        "logger": RDKAFKA_LOGGER,
        "group.id": "e2e-assign-only",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }
    conf.update(extra)
    return Consumer(conf)


def cf_consume_all(bootstrap: str, topic: str, partitions: int = NUM_PARTITIONS, timeout: float = 60,
                   consumer_conf: Optional[dict] = None) -> List[Consumed]:
    """assign() every partition from the beginning and read until each partition reports EOF
    (the high watermark) after its last record."""
    from confluent_kafka import OFFSET_BEGINNING, TIMESTAMP_CREATE_TIME, KafkaError, TopicPartition

    c = cf_consumer(bootstrap, **(consumer_conf or {}))
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        out: List[Consumed] = []
        at_eof = {p: False for p in range(partitions)}
        deadline = time.monotonic() + timeout
        while not all(at_eof.values()):
            assert time.monotonic() < deadline, (
                f"consume timed out after {timeout}s with {len(out)} records; at EOF: {at_eof}"
            )
            for m in c.consume(num_messages=1000, timeout=0.5):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_eof[m.partition()] = True
                        continue
                    raise AssertionError(f"consumer error: {err}")
                at_eof[m.partition()] = False
                ts_type, ts = m.timestamp()
                assert ts_type == TIMESTAMP_CREATE_TIME, f"timestamp type {ts_type} at {m.partition()}/{m.offset()}"
                out.append(consumed(m.partition(), m.offset(), m.key(), m.value(), m.headers(), ts))
        return out
    finally:
        c.close()


# ---------------------------------------------------------------------------------------------
# kafka-python 3.0
# ---------------------------------------------------------------------------------------------


def kp_producer(bootstrap: str, **extra):
    from kafka import KafkaProducer

    conf = dict(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        request_timeout_ms=30000,
    )
    conf.update(extra)
    return KafkaProducer(**conf)


def kp_produce(bootstrap: str, topic: str, records: Sequence[Rec], compression: Optional[str] = None,
               timestamps: Optional[Sequence[int]] = None, **extra) -> List[Tuple[int, int]]:
    p = kp_producer(bootstrap, compression_type=compression, **extra)
    try:
        futures = [
            p.send(topic, key=r.key, value=r.value, headers=list(r.headers),
                   timestamp_ms=None if timestamps is None else timestamps[i])
            for i, r in enumerate(records)
        ]
        p.flush(timeout=60)
        reports = []
        for i, f in enumerate(futures):
            try:
                md = f.get(timeout=30)
            except Exception as e:  # noqa: BLE001 - report which record failed and why
                raise AssertionError(f"record {i} not acknowledged: {e!r}") from e
            reports.append((md.partition, md.offset))
        return reports
    finally:
        p.close(timeout=10)


def kp_consumer(bootstrap: str, **extra):
    from kafka import KafkaConsumer

    conf = dict(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=30000,
    )
    conf.update(extra)
    return KafkaConsumer(**conf)


def kp_consume_all(bootstrap: str, topic: str, partitions: int = NUM_PARTITIONS, timeout: float = 60,
                   consumer_conf: Optional[dict] = None) -> List[Consumed]:
    """assign() every partition, seek to the beginning, read up to the end offsets the broker
    reports (ListOffsets latest)."""
    from kafka import TopicPartition

    c = kp_consumer(bootstrap, **(consumer_conf or {}))
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end = c.end_offsets(tps)
        out: List[Consumed] = []
        deadline = time.monotonic() + timeout
        while any(c.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, (
                f"consume timed out after {timeout}s with {len(out)} records; end offsets {end}, "
                f"positions {[c.position(tp) for tp in tps]}"
            )
            batch = c.poll(timeout_ms=500, max_records=2000)
            for tp, msgs in batch.items():
                for m in msgs:
                    assert m.timestamp_type == 0, f"timestamp type {m.timestamp_type} at {tp}/{m.offset}"
                    out.append(consumed(m.partition, m.offset, m.key, m.value, m.headers, m.timestamp))
        return out
    finally:
        c.close()


def kp_admin(bootstrap: str):
    from kafka.admin import KafkaAdminClient

    return KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30000)


def expected_offsets_for_times(reports: Sequence[Tuple[int, int]], targets: Sequence[int],
                               timestamps: Sequence[int], num_partitions: int = NUM_PARTITIONS):
    """What Kafka's ListOffsets answers for each target timestamp and partition: the offset
    of the first record whose timestamp is >= the target (timestamps increase with offsets
    here), or None when there is none. -> {target: {partition: (offset, timestamp) | None}}"""
    out = {}
    for t in targets:
        row = {}
        for p in range(num_partitions):
            hits = [(off, ts) for (part, off), ts in zip(reports, timestamps) if part == p and ts >= t]
            row[p] = min(hits) if hits else None
        out[t] = row
    return out
