"""kafka-python 3.0 against the broker: KafkaAdminClient (Metadata, CreateTopics, DeleteTopics),
KafkaProducer with each codec it can use, KafkaConsumer with assign() (ListOffsets, Fetch)."""

from __future__ import annotations

import time

import pytest

from clientlib import (
    check_delivery_offsets,
    expected_offsets_for_times,
    kp_admin,
    kp_consume_all,
    kp_consumer,
    kp_produce,
)
from conftest import BASE_TS, NUM_PARTITIONS, RECORD_COUNT, assert_partitioned_match, make_records, wait_until

pytest.importorskip("kafka")


def _codec_params():
    """kafka-python compresses gzip with the standard library; snappy, lz4 and zstd need the
    optional python-snappy / lz4 / zstandard packages: skipped (with a reason) when absent."""
    from kafka import codec

    have = {"gzip": codec.has_gzip(), "snappy": codec.has_snappy(), "lz4": codec.has_lz4(),
            "zstd": codec.has_zstd()}
    params = [pytest.param(None, id="none")]
    for name, ok in have.items():
        marks = [] if ok else [pytest.mark.skip(reason=f"kafka-python has no {name} library installed")]
        params.append(pytest.param(name, id=name, marks=marks))
    return params


def _create(admin, topic, partitions):
    res = admin.create_topics({topic: {"num_partitions": partitions, "replication_factor": 1}},
                              wait_for_metadata=True)
    (t,) = res["topics"]
    assert t["name"] == topic and t["error_code"] == 0, res
    return res


def _describe(admin, topic):
    (t,) = admin.describe_topics([topic])
    return t


def test_metadata_lists_broker_and_topics(broker):
    admin = kp_admin(broker.bootstrap)
    try:
        cluster = admin.describe_cluster()
        assert len(cluster["brokers"]) == 1, cluster
        (b,) = cluster["brokers"]
        assert f"{b['host']}:{b['port']}" == broker.bootstrap
        assert cluster["controller_id"] == b["broker_id"]
        assert cluster["cluster_id"]

        _create(admin, "kp-meta-a", 3)
        _create(admin, "kp-meta-b", 1)
        assert {"kp-meta-a", "kp-meta-b"} <= set(admin.list_topics())
        for name, count in (("kp-meta-a", 3), ("kp-meta-b", 1)):
            t = _describe(admin, name)
            assert t["error_code"] == 0
            assert t["is_internal"] is False
            parts = sorted(t["partitions"], key=lambda p: p["partition_index"])
            assert [p["partition_index"] for p in parts] == list(range(count))
            for p in parts:
                assert p["error_code"] == 0
                assert p["leader_id"] == b["broker_id"]
                assert p["replica_nodes"] == [b["broker_id"]]
                assert p["isr_nodes"] == [b["broker_id"]]
    finally:
        admin.close()

    # The consumer's view of the same metadata.
    c = kp_consumer(broker.bootstrap)
    try:
        assert {"kp-meta-a", "kp-meta-b"} <= c.topics()
        assert c.partitions_for_topic("kp-meta-a") == {0, 1, 2}
        assert c.partitions_for_topic("kp-meta-b") == {0}
    finally:
        c.close()


def test_create_existing_topic_fails(broker):
    from kafka.errors import TopicAlreadyExistsError

    admin = kp_admin(broker.bootstrap)
    try:
        _create(admin, "kp-dup", 3)
        with pytest.raises(TopicAlreadyExistsError):
            admin.create_topics({"kp-dup": {"num_partitions": 3, "replication_factor": 1}})
    finally:
        admin.close()


@pytest.mark.parametrize("codec", _codec_params())
def test_produce_consume_roundtrip(broker, codec):
    from kafka import TopicPartition

    topic = f"kp-{codec or 'none'}"
    records = make_records(RECORD_COUNT, max_size=64 * 1024 if codec is None else 4096)
    admin = kp_admin(broker.bootstrap)
    try:
        _create(admin, topic, NUM_PARTITIONS)

        timestamps = [BASE_TS + i for i in range(len(records))]
        reports = kp_produce(broker.bootstrap, topic, records, compression=codec, timestamps=timestamps)
        counts = check_delivery_offsets(reports)
        assert len(counts) == NUM_PARTITIONS, f"keys did not spread over 3 partitions: {counts}"

        got = kp_consume_all(broker.bootstrap, topic)
        assert_partitioned_match(records, got, produced_partitions=[p for p, _ in reports],
                                 timestamps=timestamps)

        c = kp_consumer(broker.bootstrap)
        try:
            tps = [TopicPartition(topic, p) for p in range(NUM_PARTITIONS)]
            assert c.beginning_offsets(tps) == {tp: 0 for tp in tps}
            assert c.end_offsets(tps) == {tp: counts[tp.partition] for tp in tps}
            # By timestamp: offset 0 for a time before every record, None for one after all
            # (exact lookups: test_offsets_for_times).
            first = c.offsets_for_times({tp: 0 for tp in tps})
            assert {tp: o.offset for tp, o in first.items()} == {tp: 0 for tp in tps}
            future_ms = int(time.time() * 1000) + 24 * 3600 * 1000
            assert c.offsets_for_times({tp: future_ms for tp in tps}) == {tp: None for tp in tps}
        finally:
            c.close()

        res = admin.delete_topics([topic])
        assert [(t["name"], t["error_code"]) for t in res["topics"]] == [(topic, 0)], res
        wait_until(lambda: topic not in admin.list_topics(), 15, what=f"{topic} to leave metadata")
        t = _describe(admin, topic)
        assert t["error_code"] == 3, f"deleted topic described without UNKNOWN_TOPIC_OR_PARTITION: {t}"
    finally:
        admin.close()


@pytest.mark.parametrize(
    "codec", [pytest.param(None, id="none"), pytest.param("gzip", id="gzip")]
)
def test_offsets_for_times(broker, codec):
    """ListOffsets by timestamp answers, like Kafka, the first record whose timestamp is at or
    after the target: its offset and its own timestamp, also inside a (compressed)
    multi-record batch; None when there is none."""
    from kafka import TopicPartition

    topic = f"kp-times-{codec or 'none'}"
    records = make_records(3000, max_size=1024)
    timestamps = [BASE_TS + i for i in range(len(records))]
    admin = kp_admin(broker.bootstrap)
    try:
        _create(admin, topic, NUM_PARTITIONS)
    finally:
        admin.close()
    reports = kp_produce(broker.bootstrap, topic, records, compression=codec, timestamps=timestamps,
                         linger_ms=50)
    targets = [0, BASE_TS, BASE_TS + 1, BASE_TS + 777, BASE_TS + 1501, BASE_TS + 2998, BASE_TS + 2999,
               BASE_TS + 3000, int(time.time() * 1000) + 24 * 3600 * 1000]
    expected = expected_offsets_for_times(reports, targets, timestamps)
    c = kp_consumer(broker.bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in range(NUM_PARTITIONS)]
        wrong = []
        for t in targets:
            res = c.offsets_for_times({tp: t for tp in tps})
            got_ot = {tp.partition: (None if o is None else (o.offset, o.timestamp)) for tp, o in res.items()}
            if got_ot != expected[t]:
                wrong.append(f"ts {t}: got {got_ot}, Kafka answers {expected[t]}")
        assert not wrong, "offsets_for_times differs from Kafka:\n" + "\n".join(wrong)
    finally:
        c.close()


def test_fetch_from_middle_offset(broker):
    """seek() into the middle of stored batches: the first record returned is that offset."""
    from kafka import TopicPartition

    topic = "kp-mid"
    records = make_records(2000, max_size=2048)
    admin = kp_admin(broker.bootstrap)
    try:
        _create(admin, topic, 1)
    finally:
        admin.close()
    reports = kp_produce(broker.bootstrap, topic, records, linger_ms=50)
    assert [o for _, o in reports] == list(range(2000))
    c = kp_consumer(broker.bootstrap)
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, 1234)
        got = []
        deadline = time.monotonic() + 30
        while len(got) < 2000 - 1234 and time.monotonic() < deadline:
            for msgs in c.poll(timeout_ms=500).values():
                got.extend((m.offset, m.key, m.value) for m in msgs)
        assert [o for o, _, _ in got] == list(range(1234, 2000))
        assert [(k, v) for _, k, v in got] == [(r.key, r.value) for r in records[1234:]]
    finally:
        c.close()


def test_fetch_limits_smaller_than_records(broker):
    """fetch_max_bytes / max_partition_fetch_bytes far below the record sizes: like Kafka
    (KIP-74) the broker returns the first batch whole and the consumer makes progress."""
    topic = "kp-small-fetch"
    records = make_records(1500, max_size=64 * 1024, seed=5)
    admin = kp_admin(broker.bootstrap)
    try:
        _create(admin, topic, NUM_PARTITIONS)
    finally:
        admin.close()
    reports = kp_produce(broker.bootstrap, topic, records)
    got = kp_consume_all(broker.bootstrap, topic, consumer_conf={
        "fetch_max_bytes": 1024, "max_partition_fetch_bytes": 1024,
    })
    assert_partitioned_match(records, got, produced_partitions=[p for p, _ in reports])
