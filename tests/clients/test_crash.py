"""Durability of acknowledged writes across kill -9: produce with acks=all, wait for every
delivery report, SIGKILL the broker at once, restart it on the same log dir, and read back
every acknowledged record exactly, at the partition and offset it was acknowledged with."""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from clientlib import (
    cf_consume_all,
    cf_consumer,
    cf_create_topic,
    cf_produce,
    cf_producer,
    kp_admin,
    kp_consume_all,
    kp_produce,
)
from conftest import NUM_PARTITIONS, Consumed, Rec, assert_partitioned_match, make_records


def assert_acked_at_reported_offsets(records: Sequence[Rec], reports, got: Sequence[Consumed]) -> None:
    """Every acknowledged record i with report (partition, offset) is the consumed record at
    that partition and offset (key, value, headers exact)."""
    at = {(c.partition, c.offset): c for c in got}
    for i, (r, rep) in enumerate(zip(records, reports)):
        if rep is None:
            continue
        c = at.get(rep)
        assert c is not None, f"acknowledged record {i} at {rep} is missing after restart"
        assert (c.key, c.value, c.headers) == (r.key, r.value, r.headers), (
            f"record at {rep} after restart is not acknowledged record {i}: {r.short()}"
        )


def _watermarks(bootstrap: str, topic: str) -> Dict[int, Tuple[int, int]]:
    from confluent_kafka import TopicPartition

    c = cf_consumer(bootstrap)
    try:
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
                for p in range(NUM_PARTITIONS)}
    finally:
        c.close()


@pytest.mark.parametrize("codec", ["none", "zstd"])
def test_confluent_kill9_after_flush(broker, codec):
    topic = f"crash-cf-{codec}"
    records = make_records(10_000, max_size=64 * 1024 if codec == "none" else 4096, seed=7)
    cf_create_topic(broker.bootstrap, topic)
    reports = cf_produce(broker.bootstrap, topic, records, compression=codec)
    broker.kill9()  # right after the last delivery report
    broker.restart()

    got = cf_consume_all(broker.bootstrap, topic)
    counts = assert_partitioned_match(records, got, produced_partitions=[p for p, _ in reports])
    assert_acked_at_reported_offsets(records, reports, got)
    assert _watermarks(broker.bootstrap, topic) == {p: (0, counts[p]) for p in range(NUM_PARTITIONS)}


def test_confluent_kill9_repeated(broker):
    """Three rounds of produce / kill -9 / restart: offsets continue after each restart and
    nothing acknowledged in any round is lost."""
    topic = "crash-cf-rounds"
    cf_create_topic(broker.bootstrap, topic)
    all_records: List[Rec] = []
    all_reports = []
    for rnd, codec in enumerate(["none", "lz4", "gzip"]):
        records = make_records(3000, max_size=16 * 1024, seed=100 + rnd)
        reports = cf_produce(broker.bootstrap, topic, records, compression=codec)
        all_records += records
        all_reports += reports
        broker.kill9()
        broker.restart()
    got = cf_consume_all(broker.bootstrap, topic)
    assert_partitioned_match(all_records, got, produced_partitions=[p for p, _ in all_reports])
    assert_acked_at_reported_offsets(all_records, all_reports, got)


def test_confluent_kill9_mid_produce(broker):
    """kill -9 while records are in flight: every acknowledged record survives at its offset,
    and each partition's log is an exact prefix of what was sent to it (no hole, no garbage,
    no torn batch served)."""
    topic = "crash-cf-inflight"
    records = make_records(10_000, max_size=4096, seed=11)
    cf_create_topic(broker.bootstrap, topic)
    p = cf_producer(broker.bootstrap, **{"message.timeout.ms": 5000, "linger.ms": 2,
                                         "compression.type": "lz4", "reconnect.backoff.ms": 1000,
                                         "log.connection.close": False})
    reports: List[Optional[Tuple[int, int]]] = [None] * len(records)
    failed_partition: Dict[int, int] = {}
    acked = [0]

    def on_delivery(i):
        def cb(err, msg):
            if err is None:
                reports[i] = (msg.partition(), msg.offset())
                acked[0] += 1
            else:
                failed_partition[i] = msg.partition()
        return cb

    killed = False
    for i, r in enumerate(records):
        while True:
            try:
                p.produce(topic, value=r.value, key=r.key, headers=list(r.headers), on_delivery=on_delivery(i))
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
        if acked[0] >= 3000:
            broker.kill9()
            killed = True
            break
    if not killed:
        # Everything produced before 3000 acks arrived: wait for them, then kill.
        deadline = time.monotonic() + 30
        while acked[0] < 3000:
            assert time.monotonic() < deadline, f"only {acked[0]} records acknowledged"
            p.poll(0.01)
        broker.kill9()
    sent = i + 1
    p.flush(20)  # the rest fails (message.timeout.ms) since the broker is gone
    assert p.flush(0) == 0
    broker.restart()

    n_acked = sum(rep is not None for rep in reports)
    assert n_acked >= 3000

    got = cf_consume_all(broker.bootstrap, topic)
    print(f"sent {sent}, acknowledged {n_acked}, failed {len(failed_partition)}, in the log after restart {len(got)}")
    assert_acked_at_reported_offsets(records, reports, got)

    acked_per_part = {}
    for rep in reports:
        if rep is not None:
            acked_per_part[rep[0]] = acked_per_part.get(rep[0], 0) + 1
    print(f"acknowledged per partition {sorted(acked_per_part.items())}")
    # The partition of each record: from its delivery report (failed ones carry it too).
    key_part = {}
    for i, (r, rep) in enumerate(zip(records[:sent], reports)):
        part = rep[0] if rep is not None else failed_partition.get(i, -1)
        if part >= 0:
            assert key_part.setdefault(r.key, part) == part, f"key {r.key!r} in two partitions"
    assert len(key_part) == len({r.key for r in records}), "some key's partition is unknown"
    by_part: Dict[int, List[Consumed]] = {}
    for c in got:
        by_part.setdefault(c.partition, []).append(c)
    for part in range(NUM_PARTITIONS):
        sent_here = [r for r in records[:sent] if key_part[r.key] == part]
        log = by_part.get(part, [])
        assert [c.offset for c in log] == list(range(len(log))), f"partition {part}: offset gaps"
        assert len(log) <= len(sent_here), f"partition {part}: more records than were sent"
        acked_max = max((rep[1] for rep in reports if rep is not None and rep[0] == part), default=-1)
        assert len(log) >= acked_max + 1
        for j, (c, r) in enumerate(zip(log, sent_here)):
            assert (c.key, c.value, c.headers) == (r.key, r.value, r.headers), (
                f"partition {part} offset {j}: not the {j}th record sent to it: {r.short()}"
            )


def test_kafka_python_kill9_after_flush(broker):
    topic = "crash-kp"
    records = make_records(10_000, max_size=4096, seed=13)
    admin = kp_admin(broker.bootstrap)
    try:
        admin.create_topics({topic: {"num_partitions": NUM_PARTITIONS, "replication_factor": 1}},
                            wait_for_metadata=True)
    finally:
        admin.close()
    reports = kp_produce(broker.bootstrap, topic, records, compression="gzip")
    broker.kill9()
    broker.restart()
    got = kp_consume_all(broker.bootstrap, topic)
    assert_partitioned_match(records, got, produced_partitions=[p for p, _ in reports])
    assert_acked_at_reported_offsets(records, reports, got)


def test_topic_metadata_survives_kill9(broker):
    """Topics created and deleted before a kill -9 are exactly as they were after the restart
    (names, partition counts, topic ids), and producing continues at the right offsets."""
    from confluent_kafka import TopicCollection

    from clientlib import cf_admin, cf_delete_topic_and_check_gone

    layout = {"keep-3": 3, "gone-1": 1, "keep-2": 2}
    for name, parts in layout.items():
        cf_create_topic(broker.bootstrap, name, parts)
    cf_delete_topic_and_check_gone(broker.bootstrap, "gone-1")
    records = make_records(500, max_size=512, seed=3)
    first = cf_produce(broker.bootstrap, "keep-3", records)

    def describe():
        admin = cf_admin(broker.bootstrap)
        names = ["keep-3", "keep-2"]
        futs = admin.describe_topics(TopicCollection(names), request_timeout=10)
        return {n: futs[n].result(20) for n in names}, set(admin.list_topics(timeout=10).topics)

    before, listed_before = describe()
    broker.kill9()
    broker.restart()
    after, listed_after = describe()
    assert listed_after == listed_before == {"keep-3", "keep-2"}
    for name in ("keep-3", "keep-2"):
        assert len(after[name].partitions) == layout[name]
        assert str(after[name].topic_id) == str(before[name].topic_id), f"{name} topic id changed"

    second = cf_produce(broker.bootstrap, "keep-3", records)
    per_first = {}
    for p, o in first:
        per_first[p] = max(per_first.get(p, -1), o)
    for p, o in second:
        assert o > per_first.get(p, -1), f"partition {p}: offset {o} reused after restart"
    got = cf_consume_all(broker.bootstrap, "keep-3")
    assert_partitioned_match(records + records, got, produced_partitions=[p for p, _ in first + second])


def test_graceful_stop_and_restart(broker):
    """SIGTERM, restart on the same log dir: same cluster id, every record still there."""
    from clientlib import cf_admin

    topic = "restart-term"
    cluster_id = cf_admin(broker.bootstrap).list_topics(timeout=10).cluster_id
    cf_create_topic(broker.bootstrap, topic)
    records = make_records(2000, max_size=8192, seed=17)
    reports = cf_produce(broker.bootstrap, topic, records, compression="snappy")
    broker.stop()
    assert broker.proc.returncode in (0, -15), f"exit status {broker.proc.returncode} on SIGTERM"
    assert (broker.log_dir / "meta.properties").is_file()
    broker.restart()
    assert cf_admin(broker.bootstrap).list_topics(timeout=10).cluster_id == cluster_id
    got = cf_consume_all(broker.bootstrap, topic)
    assert_partitioned_match(records, got, produced_partitions=[p for p, _ in reports])
