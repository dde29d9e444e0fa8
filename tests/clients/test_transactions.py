"""Transactions with real clients (the broker is the transaction coordinator):

* confluent-kafka 2.16: a transactional producer commits records to 3 partitions, a second
  transaction aborts (after its records were delivered); a read_committed consumer sees
  exactly the committed records, a read_uncommitted one both; kcat with
  ``-X isolation.level=read_committed`` agrees.
* Fencing: a second producer with the same transactional.id fences the first, whose next
  commit fails with the fenced error; only the second one's records are committed.
* A transaction left open past its timeout is aborted by the broker (its records never
  reach a read_committed consumer) and its producer is fenced.
* Consume-transform-produce with send_offsets_to_transaction, confluent-kafka and
  kafka-python 3.0.12, in a separate process that crashes (``os._exit``) inside a
  transaction after its output was delivered and its offsets sent; a second instance with
  the same transactional.id finishes the work. Every input record is in the committed
  output exactly once, the aborted attempt's output is in the log (read_uncommitted) but
  never committed, and the group's committed offsets are the input's end offsets.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Dict, List

import pytest

from clientlib import RDKAFKA_LOGGER, cf_consume_all, cf_create_topic
from conftest import wait_until

pytest.importorskip("confluent_kafka")

PARTITIONS = 3
KCAT = shutil.which("kcat") or shutil.which("kafkacat")

pytestmark = pytest.mark.broker_props(**{"group.initial.rebalance.delay.ms": 0})


def txn_producer(bootstrap: str, transactional_id: str, **extra):
    from confluent_kafka import Producer

    conf = {
        "bootstrap.servers": bootstrap,
        "logger": RDKAFKA_LOGGER,
        "transactional.id": transactional_id,
        "linger.ms": 5,
    }
    conf.update(extra)
    return Producer(conf)


def values(records) -> List[bytes]:
    return sorted(r.value for r in records)


def committed_and_all(bootstrap: str, topic: str):
    committed = cf_consume_all(bootstrap, topic, PARTITIONS, consumer_conf={"isolation.level": "read_committed"})
    everything = cf_consume_all(bootstrap, topic, PARTITIONS, consumer_conf={"isolation.level": "read_uncommitted"})
    return committed, everything


def test_confluent_commit_and_abort_read_committed_and_kcat(broker):
    topic = "txn-basic"
    cf_create_topic(broker.bootstrap, topic, PARTITIONS)
    p = txn_producer(broker.bootstrap, "txn-basic-producer")
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(90):
        p.produce(topic, key=b"k%d" % i, value=b"committed-%03d" % i, partition=i % PARTITIONS)
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(60):
        p.produce(topic, key=b"k%d" % i, value=b"aborted-%03d" % i, partition=i % PARTITIONS)
    # Delivered first, so the aborted records really are in the log.
    assert p.flush(30) == 0
    p.abort_transaction(30)
    # A third, committed after the aborted one: read_committed reads past the aborted data.
    p.begin_transaction()
    for i in range(30):
        p.produce(topic, key=b"k%d" % i, value=b"later-%03d" % i, partition=i % PARTITIONS)
    p.commit_transaction(30)

    committed, everything = committed_and_all(broker.bootstrap, topic)
    expected = sorted([b"committed-%03d" % i for i in range(90)] + [b"later-%03d" % i for i in range(30)])
    assert values(committed) == expected
    assert values(everything) == sorted(expected + [b"aborted-%03d" % i for i in range(60)])
    # Per partition, read_committed keeps produce order.
    for part in range(PARTITIONS):
        got = [r.value for r in committed if r.partition == part]
        want = [b"committed-%03d" % i for i in range(part, 90, PARTITIONS)] + \
               [b"later-%03d" % i for i in range(part, 30, PARTITIONS)]
        assert got == want, f"partition {part}"

    if KCAT is not None:
        out = subprocess.run(
            [KCAT, "-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
             "-X", "isolation.level=read_committed", "-f", "%s\\n"],
            capture_output=True, timeout=60, check=True)
        assert sorted(out.stdout.split()) == expected
        out = subprocess.run(
            [KCAT, "-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q",
             "-X", "isolation.level=read_uncommitted", "-f", "%s\\n"],
            capture_output=True, timeout=60, check=True)
        assert len(out.stdout.split()) == 180


def test_a_second_producer_fences_the_first(broker):
    from confluent_kafka import KafkaError, KafkaException

    topic = "txn-fencing"
    cf_create_topic(broker.bootstrap, topic, PARTITIONS)
    first = txn_producer(broker.bootstrap, "txn-fenced")
    first.init_transactions(30)
    first.begin_transaction()
    for i in range(10):
        first.produce(topic, value=b"zombie-%d" % i, partition=i % PARTITIONS)
    assert first.flush(30) == 0
    # The second instance: its init aborts the first's transaction and bumps the epoch.
    second = txn_producer(broker.bootstrap, "txn-fenced")
    second.init_transactions(30)
    second.begin_transaction()
    for i in range(10):
        second.produce(topic, value=b"live-%d" % i, partition=i % PARTITIONS)
    second.commit_transaction(30)
    # The first one's commit fails, fenced (fatal).
    with pytest.raises(KafkaException) as raised:
        first.produce(topic, value=b"zombie-late", partition=0)
        first.commit_transaction(30)
    err = raised.value.args[0]
    assert err.fatal() or err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED,
                                         KafkaError.INVALID_PRODUCER_EPOCH), err
    committed, everything = committed_and_all(broker.bootstrap, topic)
    assert values(committed) == sorted(b"live-%d" % i for i in range(10))
    assert len([r for r in everything if r.value.startswith(b"zombie")]) == 10


@pytest.mark.broker_props(**{"transaction.abort.timed.out.transaction.cleanup.interval.ms": 100})
def test_a_transaction_open_past_its_timeout_is_aborted(broker):
    from confluent_kafka import KafkaException

    topic = "txn-timeout"
    cf_create_topic(broker.bootstrap, topic, PARTITIONS)
    p = txn_producer(broker.bootstrap, "txn-slow", **{
        "transaction.timeout.ms": 2000,
        "socket.timeout.ms": 1500,
        "message.timeout.ms": 1500,
    })
    p.init_transactions(30)
    p.begin_transaction()
    for i in range(6):
        p.produce(topic, value=b"abandoned-%d" % i, partition=i % PARTITIONS)
    assert p.flush(30) == 0
    wait_until(lambda: "open longer than its timeout of 2000 ms" in broker.log_path.read_text(),
               timeout=30, what="the broker's timeout abort")
    with pytest.raises(KafkaException):
        p.commit_transaction(30)
    committed, everything = committed_and_all(broker.bootstrap, topic)
    assert committed == []
    assert len(everything) == 6
    # The id works again for a new producer.
    q = txn_producer(broker.bootstrap, "txn-slow")
    q.init_transactions(30)
    q.begin_transaction()
    q.produce(topic, value=b"fresh", partition=0)
    q.commit_transaction(30)
    committed, _ = committed_and_all(broker.bootstrap, topic)
    assert values(committed) == [b"fresh"]


# ---- consume-transform-produce ----

APP = textwrap.dedent('''
    import os, sys, time
    client, bootstrap, src, dst, group, txid, crash_after = sys.argv[1:8]
    crash_after = int(crash_after)
    PARTITIONS = 3

    def finished(positions, ends):
        return len(positions) == PARTITIONS and all(positions[p] >= ends[p] for p in ends)

    if client == "confluent":
        from confluent_kafka import Consumer, Producer, TopicPartition
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                      "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                      "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
        p = Producer({"bootstrap.servers": bootstrap, "transactional.id": txid, "linger.ms": 5})
        p.init_transactions(60)
        c.subscribe([src])
        ends = {i: c.get_watermark_offsets(TopicPartition(src, i), timeout=10)[1] for i in range(PARTITIONS)}
        done = 0
        deadline = time.time() + 120
        while time.time() < deadline:
            msgs = [m for m in c.consume(num_messages=25, timeout=0.5) if m.error() is None]
            if msgs:
                p.begin_transaction()
                for m in msgs:
                    p.produce(dst, key=m.key(), value=b"out-" + m.value(), partition=m.partition())
                p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), 60)
                if done == crash_after:
                    p.flush(60)
                    os._exit(3)
                p.commit_transaction(60)
                done += 1
            positions = {tp.partition: tp.offset for tp in c.position(c.assignment())}
            if finished(positions, ends):
                c.close()
                sys.exit(0)
        sys.exit(2)
    else:
        from kafka import KafkaConsumer, KafkaProducer, TopicPartition
        from kafka.structs import OffsetAndMetadata
        c = KafkaConsumer(src, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                          auto_offset_reset="earliest", isolation_level="read_committed",
                          session_timeout_ms=6000, heartbeat_interval_ms=500)
        p = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txid, linger_ms=5)
        p.init_transactions()
        tps = [TopicPartition(src, i) for i in range(PARTITIONS)]
        ends = {tp.partition: o for tp, o in c.end_offsets(tps).items()}
        done = 0
        deadline = time.time() + 120
        while time.time() < deadline:
            polled = c.poll(timeout_ms=500, max_records=25)
            if polled:
                p.begin_transaction()
                for tp, records in polled.items():
                    for r in records:
                        p.send(dst, key=r.key, value=b"out-" + r.value, partition=tp.partition)
                offsets = {tp: OffsetAndMetadata(c.position(tp), "", -1) for tp in c.assignment()}
                p.send_offsets_to_transaction(offsets, c.group_metadata())
                if done == crash_after:
                    p.flush()
                    os._exit(3)
                p.commit_transaction()
                done += 1
            positions = {tp.partition: c.position(tp) for tp in c.assignment()}
            if finished(positions, ends):
                c.close()
                sys.exit(0)
        sys.exit(2)
''')


def run_app(tmp_path: Path, client: str, broker, src: str, dst: str, group: str, txid: str,
            crash_after: int) -> int:
    script = tmp_path / "ctp_app.py"
    script.write_text(APP)
    proc = subprocess.run([sys.executable, str(script), client, broker.bootstrap, src, dst, group, txid,
                           str(crash_after)], capture_output=True, timeout=180)
    if proc.returncode not in (0, 3):
        raise AssertionError(f"{client} app exited {proc.returncode}: {proc.stderr.decode()[-3000:]}")
    return proc.returncode


def committed_offsets(bootstrap: str, group: str, topic: str) -> Dict[int, int]:
    """The group's committed offsets. read_uncommitted, so librdkafka does not ask for stable
    offsets (which a transaction still open would make it wait for: UNSTABLE_OFFSET_COMMIT)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "isolation.level": "read_uncommitted"})
    try:
        got = c.committed([TopicPartition(topic, i) for i in range(PARTITIONS)], timeout=10)
        return {tp.partition: tp.offset for tp in got}
    finally:
        c.close()


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_consume_transform_produce_exactly_once_across_an_app_crash(broker, tmp_path, client):
    from confluent_kafka import Producer

    src, dst = f"ctp-in-{client}", f"ctp-out-{client}"
    group, txid = f"ctp-group-{client}", f"ctp-app-{client}"
    cf_create_topic(broker.bootstrap, src, PARTITIONS)
    cf_create_topic(broker.bootstrap, dst, PARTITIONS)
    n = 300
    plain = Producer({"bootstrap.servers": broker.bootstrap, "logger": RDKAFKA_LOGGER})
    for i in range(n):
        plain.produce(src, key=b"k%d" % i, value=b"in-%04d" % i, partition=i % PARTITIONS)
    assert plain.flush(30) == 0

    # The first instance commits 2 transactions, then dies inside the third.
    assert run_app(tmp_path, client, broker, src, dst, group, txid, crash_after=2) == 3
    after_crash = committed_offsets(broker.bootstrap, group, src)
    assert 0 < sum(o for o in after_crash.values() if o > 0) < n, after_crash
    # The second instance (same transactional.id) fences it and finishes the input.
    assert run_app(tmp_path, client, broker, src, dst, group, txid, crash_after=-1) == 0

    committed, everything = committed_and_all(broker.bootstrap, dst)
    assert values(committed) == sorted(b"out-in-%04d" % i for i in range(n)), \
        f"duplicates: {[v for v, c in collections.Counter(values(committed)).items() if c > 1][:5]}"
    assert len(everything) > len(committed), "the crashed transaction's output is in the log, aborted"
    assert committed_offsets(broker.bootstrap, group, src) == {p: n // PARTITIONS for p in range(PARTITIONS)}


# ---- kill -9 of the broker while transactions run ----


def _free_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


KILL_CYCLES = 4  # CI keeps it short; each cycle is two kills.


@pytest.mark.broker_props(listeners=lambda: f"PLAINTEXT://127.0.0.1:{_free_port()}",
                          **{"transaction.abort.timed.out.transaction.cleanup.interval.ms": 200})
def test_transactions_survive_kill9_of_the_broker(broker):
    """Each cycle: a transaction's records are delivered, the broker is killed (-9) and
    restarted before the commit (the transaction is undecided and durable: the commit after
    the restart completes it); another is committed and the broker killed right after the
    commit returned (its markers are on disk). A transaction a client gives up on is
    aborted. read_committed then holds exactly the committed transactions' records."""
    from confluent_kafka import KafkaException

    topic = "txn-kill9"
    cf_create_topic(broker.bootstrap, topic, PARTITIONS)
    bootstrap = broker.bootstrap
    p = txn_producer(bootstrap, "txn-kill9", **{
        "transaction.timeout.ms": 60000,
        "message.timeout.ms": 30000,
        "retry.backoff.ms": 50,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
    })
    p.init_transactions(60)
    committed: List[bytes] = []
    aborted: List[bytes] = []

    def run(txn: int, kill_before_commit: bool, kill_after_commit: bool) -> None:
        batch = [b"t%03d-%02d" % (txn, i) for i in range(20)]
        p.begin_transaction()
        for i, v in enumerate(batch):
            p.produce(topic, value=v, partition=i % PARTITIONS)
        assert p.flush(60) == 0
        if kill_before_commit:
            broker.kill9()
            broker.restart()
            assert broker.bootstrap == bootstrap
        for attempt in range(20):
            try:
                p.commit_transaction(60)
                committed.extend(batch)
                break
            except KafkaException as e:
                err = e.args[0]
                if err.retriable():
                    continue
                assert err.txn_requires_abort(), f"transaction {txn}: {err}"
                p.abort_transaction(60)
                aborted.extend(batch)
                break
        else:
            raise AssertionError(f"transaction {txn} never committed")
        if kill_after_commit:
            broker.kill9()
            broker.restart()
            assert broker.bootstrap == bootstrap

    txn = 0
    for _ in range(KILL_CYCLES):
        for kill_before, kill_after in [(False, False), (True, False), (False, True)]:
            run(txn, kill_before, kill_after)
            txn += 1
    got, everything = committed_and_all(broker.bootstrap, topic)
    assert values(got) == sorted(committed), (
        f"{len(got)} records read_committed, {len(committed)} committed; "
        f"aborted transactions: {len(aborted) // 20}")
    assert len(committed) >= 20 * KILL_CYCLES * 2, f"only {len(committed) // 20} of {txn} transactions committed"
    assert all(v in set(r.value for r in everything) for v in aborted)
    print(f"\ntransactions across kill -9: {len(committed) // 20} committed, {len(aborted) // 20} aborted")
