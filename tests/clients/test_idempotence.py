"""Idempotent producer (confluent-kafka 2.16, enable.idempotence=true: InitProducerId, then
Produce with producer id, epoch and sequence numbers) against the broker killed with SIGKILL
and restarted mid-stream, twice: the producer reconnects to the same address (fixed port),
retries what was in flight, and the log must hold every record exactly once, per partition
in produce order, at the offsets the delivery reports gave."""

from __future__ import annotations

import socket
import time
from typing import Dict, List, Optional, Tuple

import pytest

from clientlib import RDKAFKA_LOGGER, cf_consume_all, cf_create_topic

pytest.importorskip("confluent_kafka")

N = 10_000
PARTITIONS = 3


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# A fixed port (picked when the broker is set up) so the producer reconnects to the same address.
pytestmark = pytest.mark.broker_props(listeners=lambda: f"PLAINTEXT://127.0.0.1:{_free_port()}")


def test_idempotent_producer_survives_kill9_mid_stream(broker):
    from confluent_kafka import Producer

    topic = "idem-kill9"
    cf_create_topic(broker.bootstrap, topic, PARTITIONS)
    bootstrap = broker.bootstrap
    p = Producer({
        "bootstrap.servers": bootstrap,
        "logger": RDKAFKA_LOGGER,
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": 60_000,  # = delivery.timeout.ms
        "retries": 1_000_000,
        "retry.backoff.ms": 50,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        "linger.ms": 5,
        "batch.num.messages": 200,
        "max.in.flight.requests.per.connection": 5,
    })
    reports: List[Optional[Tuple[int, int]]] = [None] * N
    errors: List[str] = []
    acked = [0]

    def on_delivery(err, msg):
        i = int(msg.value()[4:10])
        if err is not None:
            errors.append(f"record {i}: {err}")
        else:
            reports[i] = (msg.partition(), msg.offset())
            acked[0] += 1

    kills = {3000: 6000, 7500: 9000}  # kill -9 when record i is produced, restart at record j
    BURST = 300
    restart_at: Dict[int, float] = {}
    delivered_at_kill = []
    for i in range(N):
        if i + BURST in kills:
            # Make sure the producer is running steadily (initialised, acknowledgements coming
            # back), then produce the last BURST records before the kill without waiting, so
            # that at the kill some are acknowledged and the rest queued or in flight.
            deadline = time.monotonic() + 30
            while acked[0] < i - 200:
                assert time.monotonic() < deadline, f"only {acked[0]} of {i} records acknowledged; {errors[:3]}"
                p.poll(0.01)
        value = b"seq-%06d-" % i + b"p" * (i % 50)
        while True:
            try:
                p.produce(topic, key=b"key-%d" % (i % 13), value=value, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        in_burst = any(k - BURST <= i < k for k in kills)
        # Otherwise pace the stream (about 100 records per 10 ms).
        p.poll(0.01 if i % 100 == 99 and not in_burst else 0)
        if i in kills:
            broker.kill9()
            delivered_at_kill.append((i + 1, acked[0]))
            restart_at[kills[i]] = time.monotonic() + 1.0
        if i in restart_at:
            # Records keep being produced into the client's queue while the broker is down;
            # it comes back about a second after the kill, on the same port.
            time.sleep(max(0.0, restart_at.pop(i) - time.monotonic()))
            broker.restart()
            assert broker.bootstrap == bootstrap, f"broker came back on {broker.bootstrap}, not {bootstrap}"
    left = p.flush(90)
    assert left == 0, f"{left} records undelivered after flush(90); errors: {errors[:3]}"
    assert not errors, f"{len(errors)} delivery failures, first: {errors[:3]}"
    assert all(r is not None for r in reports)
    # The kills really were mid-stream: records were still waiting for their acknowledgement.
    assert all(0 < acked < produced for produced, acked in delivered_at_kill), delivered_at_kill
    print("\nidempotence: (produced, acknowledged) when the broker was killed: "
          f"{delivered_at_kill}, of {N}")

    got = cf_consume_all(broker.bootstrap, topic, PARTITIONS)
    seqs = [int(c.value[4:10]) for c in got]
    dup = sorted(s for s in set(seqs) if seqs.count(s) > 1) if len(seqs) != len(set(seqs)) else []
    assert not dup, f"{len(seqs) - len(set(seqs))} duplicate records in the log, first sequences {dup[:10]}"
    assert sorted(seqs) == list(range(N)), f"log holds {len(seqs)} records, missing {sorted(set(range(N)) - set(seqs))[:10]}"
    by_part: Dict[int, List[Tuple[int, int]]] = {}
    for c, s in zip(got, seqs):
        by_part.setdefault(c.partition, []).append((c.offset, s))
        assert c.key == b"key-%d" % (s % 13)
    for part, rows in by_part.items():
        offsets = [o for o, _ in rows]
        order = [s for _, s in rows]
        assert offsets == list(range(len(rows))), f"partition {part}: offsets not contiguous from 0"
        assert order == sorted(order), (
            f"partition {part}: records out of produce order, first inversion at "
            f"{next(k for k in range(1, len(order)) if order[k] < order[k - 1])}"
        )
    # Every delivery report names the offset where that record is.
    at = {(c.partition, c.offset): s for c, s in zip(got, seqs)}
    wrong = [(i, r, at.get(r)) for i, r in enumerate(reports) if at.get(r) != i]
    assert not wrong, f"{len(wrong)} delivery reports point at another record, first {wrong[:5]}"


def test_idempotent_retry_of_a_written_batch_is_deduplicated(broker):
    """SIGSTOP the broker while Produce requests are in flight: librdkafka times them out,
    drops the connection and retries the same batches (same producer id, epoch and sequence
    numbers) on a new one. On SIGCONT the broker still reads the original requests from the
    closed connection and appends them, so the retries arrive as duplicates and must not be
    appended again."""
    import signal

    from confluent_kafka import Producer

    n = 3000
    topic = "idem-stop"
    cf_create_topic(broker.bootstrap, topic, PARTITIONS)
    p = Producer({
        "bootstrap.servers": broker.bootstrap,
        "logger": RDKAFKA_LOGGER,
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": 60_000,
        "request.timeout.ms": 1000,
        "socket.timeout.ms": 1000,
        "retry.backoff.ms": 50,
        "reconnect.backoff.ms": 50,
        "reconnect.backoff.max.ms": 500,
        "linger.ms": 5,
        "batch.num.messages": 100,
    })
    reports: List[Optional[Tuple[int, int]]] = [None] * n
    errors: List[str] = []
    acked = [0]

    def on_delivery(err, msg):
        i = int(msg.value()[4:10])
        if err is not None:
            errors.append(f"record {i}: {err}")
        else:
            reports[i] = (msg.partition(), msg.offset())
            acked[0] += 1

    stopped_at = None
    for i in range(n):
        p.produce(topic, key=b"key-%d" % (i % 13), value=b"seq-%06d-" % i + b"s" * (i % 40), on_delivery=on_delivery)
        p.poll(0.01 if i % 100 == 99 else 0)
        if i == 1000:
            deadline = time.monotonic() + 30
            while acked[0] < 500:
                assert time.monotonic() < deadline, f"only {acked[0]} acknowledged; {errors[:3]}"
                p.poll(0.01)
            broker.proc.send_signal(signal.SIGSTOP)
            stopped_at = (i + 1, acked[0])
            try:
                # Keep producing into the queue while the broker is frozen, then wait past the
                # request timeout so the in-flight requests are given up and retried.
                end = time.monotonic() + 2.5
                while time.monotonic() < end:
                    p.poll(0.05)
            finally:
                broker.proc.send_signal(signal.SIGCONT)
    left = p.flush(60)
    assert left == 0, f"{left} undelivered; errors {errors[:3]}"
    assert not errors, f"{len(errors)} delivery failures, first: {errors[:3]}"
    assert stopped_at is not None and stopped_at[1] < stopped_at[0], stopped_at
    print(f"\nidempotence (SIGSTOP): (produced, acknowledged) when stopped: {stopped_at}")

    got = cf_consume_all(broker.bootstrap, topic, PARTITIONS)
    seqs = [int(c.value[4:10]) for c in got]
    assert len(seqs) == len(set(seqs)), f"{len(seqs) - len(set(seqs))} duplicate records in the log"
    assert sorted(seqs) == list(range(n))
    for part in range(PARTITIONS):
        order = [s for c, s in zip(got, seqs) if c.partition == part]
        assert order == sorted(order), f"partition {part}: records out of produce order"
    at = {(c.partition, c.offset): s for c, s in zip(got, seqs)}
    assert all(at.get(r) == i for i, r in enumerate(reports)), "delivery reports point at other records"
