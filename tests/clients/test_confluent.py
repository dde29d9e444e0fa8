"""confluent-kafka (librdkafka 2.16) against the broker: metadata, CreateTopics, Produce with
every codec, assign()-based Fetch, ListOffsets (watermarks, offsets_for_times), DeleteTopics."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("confluent_kafka")

from clientlib import (
    cf_admin,
    cf_consume_all,
    cf_consumer,
    cf_create_topic,
    cf_delete_topic_and_check_gone,
    cf_produce,
    check_delivery_offsets,
    expected_offsets_for_times,
)
from confluent_kafka import KafkaError

from conftest import BASE_TS, NUM_PARTITIONS, RECORD_COUNT, assert_partitioned_match, consumed, make_records


CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]


def test_metadata_lists_broker_and_topics(broker):
    admin = cf_admin(broker.bootstrap)
    md = admin.list_topics(timeout=10)
    assert len(md.brokers) == 1, md.brokers
    (b,) = md.brokers.values()
    assert f"{b.host}:{b.port}" == broker.bootstrap
    assert md.controller_id == b.id
    assert md.cluster_id, "cluster id should be set"

    cf_create_topic(broker.bootstrap, "cf-meta-a", 3)
    cf_create_topic(broker.bootstrap, "cf-meta-b", 1)
    md = admin.list_topics(timeout=10)
    assert {"cf-meta-a", "cf-meta-b"} <= set(md.topics)
    for name, count in (("cf-meta-a", 3), ("cf-meta-b", 1)):
        t = md.topics[name]
        assert t.error is None
        assert sorted(t.partitions) == list(range(count))
        for p in t.partitions.values():
            assert p.error is None
            assert p.leader == b.id
            assert p.replicas == [b.id]
            assert p.isrs == [b.id]

    # A single-topic request (Metadata with a topic list) answers for that topic only.
    one = admin.list_topics(topic="cf-meta-a", timeout=10)
    assert set(one.topics) == {"cf-meta-a"}
    assert len(one.topics["cf-meta-a"].partitions) == 3

    # DescribeTopics (the admin API, Metadata without auto-creation) agrees.
    from confluent_kafka import TopicCollection

    desc = admin.describe_topics(TopicCollection(["cf-meta-a"]), request_timeout=10)["cf-meta-a"].result(20)
    assert desc.name == "cf-meta-a"
    assert [p.id for p in desc.partitions] == [0, 1, 2]
    assert all(p.leader.id == b.id for p in desc.partitions)
    assert not desc.is_internal


def test_create_existing_topic_fails(broker):
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic

    cf_create_topic(broker.bootstrap, "cf-dup", 3)
    admin = cf_admin(broker.bootstrap)
    fut = admin.create_topics([NewTopic("cf-dup", num_partitions=3, replication_factor=1)])["cf-dup"]
    with pytest.raises(KafkaException) as ei:
        fut.result(timeout=30)
    assert ei.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_roundtrip(broker, codec):
    from confluent_kafka import TopicPartition

    topic = f"cf-{codec}"
    # Full-size records (up to 64 KiB) uncompressed; smaller ones for the codec rounds.
    records = make_records(RECORD_COUNT, max_size=64 * 1024 if codec == "none" else 4096)
    timestamps = [BASE_TS + i for i in range(len(records))]
    cf_create_topic(broker.bootstrap, topic, NUM_PARTITIONS)

    reports = cf_produce(broker.bootstrap, topic, records, compression=codec, timestamps=timestamps)
    counts = check_delivery_offsets(reports)
    assert len(counts) == NUM_PARTITIONS, f"keys did not spread over 3 partitions: {counts}"

    got = cf_consume_all(broker.bootstrap, topic)
    assert_partitioned_match(records, got, produced_partitions=[p for p, _ in reports],
                             timestamps=timestamps)

    # ListOffsets: earliest 0, latest = records in the partition; by timestamp: 0 for a time
    # before every record, -1 (none) for one after all (exact lookups: test_offsets_for_times).
    c = cf_consumer(broker.bootstrap)
    try:
        for p in range(NUM_PARTITIONS):
            low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            assert (low, high) == (0, counts[p]), f"partition {p} watermarks"
        for t, want in ((0, 0), (int(time.time() * 1000) + 24 * 3600 * 1000, -1)):
            res = c.offsets_for_times([TopicPartition(topic, p, t) for p in range(NUM_PARTITIONS)], timeout=10)
            assert [(tp.partition, tp.offset, tp.error) for tp in res] == [
                (p, want, None) for p in range(NUM_PARTITIONS)
            ], f"offsets_for_times({t})"
    finally:
        c.close()

    cf_delete_topic_and_check_gone(broker.bootstrap, topic)


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_offsets_for_times(broker, codec):
    """ListOffsets by timestamp answers, like Kafka, the offset of the first record whose
    timestamp is at or after the target, also when that record is inside a (compressed)
    multi-record batch; -1 when there is none."""
    from confluent_kafka import TopicPartition

    topic = f"cf-times-{codec}"
    records = make_records(3000, max_size=1024)
    timestamps = [BASE_TS + i for i in range(len(records))]
    cf_create_topic(broker.bootstrap, topic, NUM_PARTITIONS)
    reports = cf_produce(broker.bootstrap, topic, records, compression=codec, timestamps=timestamps,
                         **{"linger.ms": 50})
    targets = [0, BASE_TS, BASE_TS + 1, BASE_TS + 777, BASE_TS + 1501, BASE_TS + 2998, BASE_TS + 2999,
               BASE_TS + 3000, int(time.time() * 1000) + 24 * 3600 * 1000]
    expected = expected_offsets_for_times(reports, targets, timestamps)
    c = cf_consumer(broker.bootstrap)
    try:
        wrong = []
        for t in targets:
            res = c.offsets_for_times([TopicPartition(topic, p, t) for p in range(NUM_PARTITIONS)], timeout=10)
            assert all(tp.error is None for tp in res), res
            got_offsets = {tp.partition: tp.offset for tp in res}
            want = {p: (-1 if e is None else e[0]) for p, e in expected[t].items()}
            if got_offsets != want:
                wrong.append(f"ts {t}: got {got_offsets}, Kafka answers {want}")
        assert not wrong, "offsets_for_times differs from Kafka:\n" + "\n".join(wrong)
    finally:
        c.close()


def test_fetch_from_middle_offset(broker):
    """assign() at an explicit offset: the consumer starts exactly there (a fetch offset inside
    a stored batch must still yield that record first)."""
    from confluent_kafka import TopicPartition

    topic = "cf-mid"
    records = make_records(2000, max_size=2048)
    cf_create_topic(broker.bootstrap, topic, 1)
    reports = cf_produce(broker.bootstrap, topic, records, compression="lz4", **{"linger.ms": 50})
    assert [o for _, o in reports] == list(range(2000))
    c = cf_consumer(broker.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, 1234)])
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 2000 - 1234 and time.monotonic() < deadline:
            for m in c.consume(500, timeout=0.5):
                if m.error() is None:
                    got.append((m.offset(), m.key(), m.value()))
        assert [o for o, _, _ in got] == list(range(1234, 2000))
        assert [(k, v) for _, k, v in got] == [(r.key, r.value) for r in records[1234:]]
    finally:
        c.close()


def test_fetch_limits_smaller_than_records(broker):
    """Fetch limits far below the record sizes: like Kafka (KIP-74), the broker still returns
    the first batch whole, so the consumer makes progress through 64 KiB records."""
    topic = "cf-small-fetch"
    records = make_records(1500, max_size=64 * 1024, seed=5)
    cf_create_topic(broker.bootstrap, topic, NUM_PARTITIONS)
    reports = cf_produce(broker.bootstrap, topic, records, compression="none")
    got = cf_consume_all(broker.bootstrap, topic, consumer_conf={
        "fetch.max.bytes": 1024, "max.partition.fetch.bytes": 1024, "message.max.bytes": 1000,
    })
    assert_partitioned_match(records, got, produced_partitions=[p for p, _ in reports])


def test_consumer_receives_records_produced_while_polling(broker):
    """A consumer parked at the end of empty partitions (Fetch long poll) receives records
    produced afterwards, in order."""
    from confluent_kafka import TopicPartition

    topic = "cf-live"
    records = make_records(600, max_size=2048, seed=9)
    cf_create_topic(broker.bootstrap, topic, NUM_PARTITIONS)
    c = cf_consumer(broker.bootstrap, **{"fetch.wait.max.ms": 500})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(NUM_PARTITIONS)])
        got = []

        def drain(seconds):
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                for m in c.consume(500, timeout=0.2):
                    if m.error() is None:
                        got.append(consumed(m.partition(), m.offset(), m.key(), m.value(), m.headers()))
                    else:
                        assert m.error().code() == KafkaError._PARTITION_EOF, m.error()

        drain(1.0)
        assert got == []
        reports = []
        for i in range(0, len(records), 200):
            reports += cf_produce(broker.bootstrap, topic, records[i:i + 200])
            drain(0.5)
        deadline = time.monotonic() + 15
        while len(got) < len(records) and time.monotonic() < deadline:
            drain(0.2)
        assert_partitioned_match(records, got, produced_partitions=[p for p, _ in reports])
    finally:
        c.close()


@pytest.mark.parametrize("acks", ["0", "1"])
def test_other_acks_settings(broker, acks):
    """acks=1 is acknowledged like acks=all; acks=0 gets no response at all (a response would
    desynchronise the client's correlation ids). Either way every record is stored, and two
    topics produced through one producer keep their records apart."""
    topics = [f"cf-acks{acks}-a", f"cf-acks{acks}-b"]
    for t in topics:
        cf_create_topic(broker.bootstrap, t, NUM_PARTITIONS)
    records = make_records(2000, max_size=2048, seed=21)
    from clientlib import cf_producer

    p = cf_producer(broker.bootstrap, acks=acks)
    errors = []

    def cb(err, msg):
        if err is not None:
            errors.append(str(err))

    for i, r in enumerate(records):
        p.produce(topics[i % 2], value=r.value, key=r.key, headers=list(r.headers), on_delivery=cb)
        p.poll(0)
    assert p.flush(30) == 0
    assert not errors, errors[:3]
    for k, t in enumerate(topics):
        got = cf_consume_all(broker.bootstrap, t)
        assert_partitioned_match(records[k::2], got)
