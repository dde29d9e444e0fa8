"""Helpers for the consumer-group tests: broker properties that make groups fast, uniquely keyed
test records, and per-client group members (confluent-kafka and kafka-python) that record every
record they consume and commit synchronously after each poll batch, the way an application
that wants no duplicates does.

A member never swallows a commit failure silently: failures are counted (``commit_failures``)
and the member keeps polling (as real applications do); the exactly-once assertions then show
whether the records of a failed commit came back."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple

from clientlib import RDKAFKA_LOGGER

# group.initial.rebalance.delay.ms=0: the first rebalance of a group completes as soon as every
# member joined; offsets.topic.num.partitions=5: a smaller __consumer_offsets than Kafka's 50.
GROUP_PROPS = {"group.initial.rebalance.delay.ms": 0, "offsets.topic.num.partitions": 5}

GROUP_PARTITIONS = 4


def unique_records(n: int, prefix: str = "k", start: int = 0) -> List[Tuple[bytes, bytes]]:
    """``n`` (key, value) pairs with unique keys ``<prefix>-000123``; the value repeats the
    sequence number so a record can be identified from either."""
    return [((f"{prefix}-{i:06d}").encode(), (f"value-{i:06d}-" + "x" * (i % 97)).encode())
            for i in range(start, start + n)]


def cf_produce_keyed(bootstrap: str, topic: str, records: Sequence[Tuple[bytes, bytes]]) -> Dict[bytes, Tuple[int, int]]:
    """Produces (key, value) pairs with confluent-kafka (acks=all, not idempotent) and returns
    {key: (partition, offset)} from the delivery reports."""
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "logger": RDKAFKA_LOGGER, "acks": "all",
                  "enable.idempotence": False, "linger.ms": 5})
    where: Dict[bytes, Tuple[int, int]] = {}
    errors: List[str] = []

    def cb(err, msg):
        if err is not None:
            errors.append(f"{msg.key()!r}: {err}")
        else:
            where[msg.key()] = (msg.partition(), msg.offset())

    for k, v in records:
        while True:
            try:
                p.produce(topic, key=k, value=v, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    assert p.flush(60) == 0, "records still undelivered after flush(60)"
    assert not errors, f"{len(errors)} delivery failures, first: {errors[:3]}"
    assert len(where) == len(records)
    return where


def assert_exactly_once(produced: Iterable[bytes], consumed_keys: Sequence[bytes], what: str = "") -> None:
    produced = set(produced)
    counts = Counter(consumed_keys)
    dups = sorted(k for k, c in counts.items() if c > 1)
    missing = sorted(produced - set(counts))
    extra = sorted(set(counts) - produced)
    assert not dups and not missing and not extra, (
        f"{what}: {len(consumed_keys)} records consumed for {len(produced)} produced; "
        f"{len(dups)} consumed more than once (first {[(k, counts[k]) for k in dups[:5]]}), "
        f"{len(missing)} never consumed (first {missing[:5]}), {len(extra)} unexpected (first {extra[:5]})"
    )


# ---------------------------------------------------------------------------------------------
# confluent-kafka group member
# ---------------------------------------------------------------------------------------------


class CfMember:
    """A confluent-kafka Consumer in a group: manual commits after every poll batch."""

    def __init__(self, name: str, bootstrap: str, group: str, topics: Sequence[str],
                 subscribe: bool = True, **extra):
        from confluent_kafka import Consumer

        self.name = name
        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "logger": RDKAFKA_LOGGER,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "heartbeat.interval.ms": 500,
            "session.timeout.ms": 6000,
        }
        conf.update(extra)
        self.c = Consumer(conf)
        self.topics = list(topics)
        self.records: List[Tuple[int, int, bytes]] = []  # (partition, offset, key)
        self.commit_failures: List[str] = []
        self.closed = False
        if subscribe:
            self.subscribe()

    def subscribe(self) -> None:
        self.c.subscribe(self.topics)

    def assignment(self) -> Set[int]:
        return {tp.partition for tp in self.c.assignment()}

    def poll_batch(self, timeout: float = 0.1, max_records: int = 50):
        """One consume() call; returns the records (not yet committed)."""
        out = []
        for m in self.c.consume(num_messages=max_records, timeout=timeout):
            if m.error() is not None:
                raise AssertionError(f"{self.name}: consumer error {m.error()}")
            out.append(m)
        return out

    def process(self, msgs) -> None:
        for m in msgs:
            self.records.append((m.partition(), m.offset(), m.key()))

    def commit(self, msgs) -> bool:
        """Synchronous commit of the position after each partition's last record in ``msgs``."""
        from confluent_kafka import KafkaException, TopicPartition

        if not msgs:
            return True
        last: Dict[Tuple[str, int], int] = {}
        for m in msgs:
            last[(m.topic(), m.partition())] = m.offset()
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in sorted(last.items())]
        try:
            res = self.c.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            self.commit_failures.append(f"{self.name}: {e.args[0]}")
            return False
        bad = [f"{tp.partition}: {tp.error}" for tp in res or [] if tp.error is not None]
        if bad:
            self.commit_failures.append(f"{self.name}: partition errors {bad}")
            return False
        return True

    paused = False

    def step(self, timeout: float = 0.1, max_records: int = 50) -> int:
        if self.paused:
            time.sleep(timeout)
            return 0
        msgs = self.poll_batch(timeout, max_records)
        self.process(msgs)
        self.commit(msgs)
        return len(msgs)

    def pause(self) -> None:
        """The application stops polling (it stays in the group)."""
        self.paused = True

    def arm_hold(self) -> None:
        pass

    def wait_held(self, timeout: float = 10):
        """Polls until a non-empty batch arrives and keeps it, not yet processed nor committed,
        until :meth:`release_batch`. Returns the batch."""
        deadline = time.monotonic() + timeout
        self._held = []
        while not self._held:
            assert time.monotonic() < deadline, f"{self.name}: polled no records to hold within {timeout}s"
            self._held = self.poll_batch()
        return self._held

    def release_batch(self) -> None:
        self.process(self._held)
        self.commit(self._held)
        self._held = []

    def keys(self) -> List[bytes]:
        return [k for _, _, k in self.records]

    def committed(self, topic: str, partitions: Iterable[int]) -> Dict[int, int]:
        from confluent_kafka import TopicPartition

        res = self.c.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return {tp.partition: tp.offset for tp in res}

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.c.close()


# ---------------------------------------------------------------------------------------------
# kafka-python group member
# ---------------------------------------------------------------------------------------------


class KpMember:
    """A kafka-python KafkaConsumer in a group, driven by its own thread (one consumer per
    thread, as kafka-python applications run): poll, process, commit synchronously, repeat.

    Why a thread: kafka-python 3.0.12 drops the result of a JoinGroup/SyncGroup round that
    completes while no poll() is waiting for it (``join_group_async`` starts a new join when it
    finds the previous task done), so a member whose poll() returns before its join completes
    rejoins again and again. A single test thread alternating short polls over several members
    hits that constantly (the group then rebalances every heartbeat interval); a member that is
    almost always inside poll() does not. This is a client bug, seen against any broker.

    Everything touching the consumer runs on the member's thread; the test thread talks to it
    through :meth:`call`, :meth:`hold_batch` / :meth:`release_batch` and :meth:`close`."""

    POLL_TIMEOUT = 0.2

    def __init__(self, name: str, bootstrap: str, group: str, topics: Sequence[str],
                 subscribe: bool = True, **extra):
        from kafka import KafkaConsumer

        self.name = name
        conf = dict(
            bootstrap_servers=bootstrap,
            group_id=group,
            client_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            heartbeat_interval_ms=500,
            session_timeout_ms=6000,
            request_timeout_ms=30000,
        )
        conf.update(extra)
        self.c = KafkaConsumer(**conf)
        self.topics = list(topics)
        self.records: List[Tuple[int, int, bytes]] = []
        self.commit_failures: List[str] = []
        self.closed = False
        self.error: Optional[BaseException] = None
        self._assignment: Set[int] = set()
        self._subscribed = False
        self._calls: "queue.Queue" = queue.Queue()
        self._stop = threading.Event()
        self._hold = threading.Event()
        self._paused = threading.Event()
        self._held_ready = threading.Event()
        self._release = threading.Event()
        self._held: list = []
        self._thread = threading.Thread(target=self._run, name=f"kp-{name}", daemon=True)
        self._thread.start()
        if subscribe:
            self.subscribe()

    # -- the member's thread --

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._run_calls()
                if not self._subscribed or self._paused.is_set():
                    time.sleep(0.005)
                    continue
                msgs = self._poll(self.POLL_TIMEOUT)
                if msgs and self._hold.is_set():
                    self._held = msgs
                    self._hold.clear()
                    self._held_ready.set()
                    while not self._release.wait(0.05):
                        if self._stop.is_set():
                            return
                    self._release.clear()
                self.process(msgs)
                self.commit(msgs)
        except BaseException as e:  # noqa: BLE001 - reported to the test thread by step()
            self.error = e
        finally:
            self._run_calls()
            try:
                self.c.close(autocommit=False)
            except Exception as e:  # noqa: BLE001
                if self.error is None:
                    self.error = e

    def _run_calls(self) -> None:
        while True:
            try:
                fn, box, done = self._calls.get_nowait()
            except queue.Empty:
                return
            try:
                box.append((True, fn()))
            except BaseException as e:  # noqa: BLE001
                box.append((False, e))
            done.set()

    def _poll(self, timeout: float, max_records: int = 50):
        batch = self.c.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        self._assignment = {tp.partition for tp in self.c.assignment()}
        return [m for msgs in batch.values() for m in msgs]

    # -- the test thread --

    def call(self, fn, timeout: float = 30):
        """Runs ``fn()`` on the member's thread (between two polls) and returns its result."""
        box: list = []
        done = threading.Event()
        self._calls.put((fn, box, done))
        if not done.wait(timeout):
            raise AssertionError(f"{self.name}: call did not run within {timeout}s (error: {self.error!r})")
        ok, value = box[0]
        if not ok:
            raise value
        return value

    def subscribe(self) -> None:
        def do():
            # Load the topic's metadata first so the first join already assigns partitions;
            # otherwise the leader rejoins at once when its metadata changes (more exposure
            # to the client bug described above).
            for t in self.topics:
                assert self.c.partitions_for_topic(t), f"{self.name}: no metadata for topic {t}"
            self.c.subscribe(self.topics)
            self._subscribed = True
        self.call(do)

    def assignment(self) -> Set[int]:
        return set(self._assignment)

    def step(self, timeout: float = 0.1, max_records: int = 50) -> int:
        if self.error is not None:
            raise AssertionError(f"{self.name}: consumer thread failed: {self.error!r}") from self.error
        time.sleep(timeout)
        return 0

    def pause(self) -> None:
        """The application stops polling (it stays in the group; calls still run). Returns once
        the member's thread has finished the poll it may be in (processing and committing what
        that poll returned), so the records and commits seen afterwards are final."""
        self._paused.set()
        self.call(lambda: None)

    def arm_hold(self) -> None:
        """The next non-empty batch the member polls is kept there, not yet processed nor
        committed, until :meth:`release_batch`."""
        self._held_ready.clear()
        self._hold.set()

    def wait_held(self, timeout: float = 10):
        """Waits for the batch :meth:`arm_hold` asked for; returns it."""
        if not self._held_ready.wait(timeout):
            raise AssertionError(f"{self.name}: polled no records to hold within {timeout}s")
        return self._held

    def release_batch(self) -> None:
        self._release.set()

    def process(self, msgs) -> None:
        for m in msgs:
            self.records.append((m.partition, m.offset, m.key))

    def commit(self, msgs) -> bool:
        from kafka import OffsetAndMetadata, TopicPartition
        from kafka.errors import CommitFailedError, KafkaError

        if not msgs:
            return True
        last: Dict[Tuple[str, int], int] = {}
        for m in msgs:
            last[(m.topic, m.partition)] = m.offset
        offsets = {TopicPartition(t, p): OffsetAndMetadata(o + 1, "", -1) for (t, p), o in last.items()}
        try:
            self.c.commit(offsets)
        except (CommitFailedError, KafkaError) as e:
            self.commit_failures.append(f"{self.name}: {type(e).__name__}: {e}")
            return False
        return True

    def keys(self) -> List[bytes]:
        return [k for _, _, k in self.records]

    def committed(self, topic: str, partitions: Iterable[int]) -> Dict[int, Optional[int]]:
        from kafka import TopicPartition

        parts = list(partitions)
        return self.call(lambda: {p: self.c.committed(TopicPartition(topic, p)) for p in parts})

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._stop.set()
            self._thread.join(30)
            assert not self._thread.is_alive(), f"{self.name}: consumer thread did not stop"
            if self.error is not None:
                raise AssertionError(f"{self.name}: consumer thread failed: {self.error!r}") from self.error


# ---------------------------------------------------------------------------------------------
# Scenarios shared by both clients
# ---------------------------------------------------------------------------------------------


def poll_until(members, pred, timeout: float, what: str, step_timeout: float = 0.1):
    """Polls every open member in turn (processing and committing what they return) until
    ``pred()`` holds."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            state = {m.name: (sorted(m.assignment()), len(m.records), m.commit_failures[-3:])
                     for m in members if not m.closed}
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; members: {state}")
        for m in members:
            if not m.closed:
                m.step(step_timeout)


def wait_split(a, b, partitions: int, timeout: float = 30) -> Tuple[float, Set[int], Set[int]]:
    """Polls both until both have a non-empty assignment; returns (seconds, a's, b's)."""
    t0 = time.monotonic()
    poll_until([a, b], lambda: a.assignment() and b.assignment(), timeout,
               "both members to have partitions")
    return time.monotonic() - t0, a.assignment(), b.assignment()


def run_split_and_handoff(make_member, bootstrap: str, topic: str, group: str, n: int = 2000):
    """Two members split a 4-partition topic 2/2. Records produced once the group is stable
    are consumed with a synchronous commit after every batch. Then member ``a`` stops polling
    and more records arrive; ``b`` polls a batch of them and, while it holds that batch
    unprocessed, ``a`` leaves (its last commit was synchronous, right after its last batch)
    and the group starts rebalancing; ``b`` processes and commits the batch and keeps
    polling. ``b`` must end up with all 4 partitions, starting on ``a``'s at ``a``'s committed
    offsets, and every record must have been consumed exactly once across the two members."""
    a = make_member("member-a")
    b = make_member("member-b")
    try:
        _, pa, pb = wait_split(a, b, GROUP_PARTITIONS)
        assert len(pa) == 2 and len(pb) == 2 and pa | pb == set(range(GROUP_PARTITIONS)), (
            f"stable group split {GROUP_PARTITIONS} partitions as a={sorted(pa)} b={sorted(pb)}"
        )
        first = unique_records(n // 2, prefix="k")
        where = cf_produce_keyed(bootstrap, topic, first)
        assert len({p for p, _ in where.values()}) == GROUP_PARTITIONS, "keys did not spread over every partition"
        poll_until([a, b], lambda: len(a.records) + len(b.records) >= len(first), 60,
                   "the first records to be consumed")
        # The split held while consuming: each member only saw its own partitions.
        assert {p for p, _, _ in a.records} == pa and {p for p, _, _ in b.records} == pb

        a.pause()
        b.arm_hold()
        second = unique_records(n - n // 2, prefix="k", start=n // 2)
        where2 = cf_produce_keyed(bootstrap, topic, second)
        assert {p for p, _ in where2.values()} & pa, "no new records for member-a's partitions"
        b.wait_held()
        a_positions = {}
        for p, off, _ in a.records:
            a_positions[p] = off + 1
        a.close()
        b.release_batch()

        records = first + second
        where.update(where2)
        poll_until([b], lambda: len(a.records) + len(b.records) >= n and b.assignment() == set(range(GROUP_PARTITIONS)),
                   60, "member-b to take over every partition and consume the rest")
        # Let b poll a little more: a record delivered twice would show up now.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            b.step(0.1)
        assert b.assignment() == set(range(GROUP_PARTITIONS)), f"survivor holds {sorted(b.assignment())}"
        failures = a.commit_failures + b.commit_failures
        assert_exactly_once([k for k, _ in records], a.keys() + b.keys(),
                            f"two members with a handoff (commit failures: {len(failures)}, first {failures[:3]})")
        # The survivor's committed offsets are the end of every partition.
        ends = Counter(p for p, _ in where.values())
        assert b.committed(topic, range(GROUP_PARTITIONS)) == {p: ends[p] for p in range(GROUP_PARTITIONS)}
        # b took over a's partitions at a's committed positions.
        firsts: Dict[int, int] = {}
        for p, off, _ in b.records:
            firsts.setdefault(p, off)
        for p in pa:
            assert firsts.get(p) == a_positions[p], (
                f"partition {p}: member-a committed {a_positions[p]}, member-b started at {firsts.get(p)}"
            )
        return failures
    finally:
        a.close()
        b.close()


def run_resume_after_restart(make_member, broker, topic: str, how: str, n: int = 1000):
    """A member consumes the first half of ``n`` records (commit after every batch) and closes;
    the second half is produced; the broker restarts (``how``: "restart" = SIGTERM, "kill9" =
    SIGKILL); a new member of the same group must see the same committed offsets and consume
    exactly the second half, each partition starting at its committed offset (with
    auto.offset.reset=earliest, lost commits would show up as records consumed twice)."""
    first_half = unique_records(n // 2, prefix="r")
    second_half = unique_records(n - n // 2, prefix="r", start=n // 2)
    where = cf_produce_keyed(broker.bootstrap, topic, first_half)
    first = make_member("before-restart")
    try:
        poll_until([first], lambda: len(first.records) >= len(first_half), 60, "the first half")
        assert not first.commit_failures, first.commit_failures
        positions = Counter(p for p, _ in where.values())
        committed = first.committed(topic, range(GROUP_PARTITIONS))
        assert committed == {p: positions[p] for p in range(GROUP_PARTITIONS)}, \
            f"committed {committed}, consumed up to {dict(positions)}"
    finally:
        first.close()
    where.update(cf_produce_keyed(broker.bootstrap, topic, second_half))
    ends = Counter(p for p, _ in where.values())
    assert all(ends[p] > positions[p] for p in range(GROUP_PARTITIONS)), "second half missed a partition"

    if how == "kill9":
        broker.kill9()
    broker.restart()

    second = make_member("after-restart", subscribe=False)
    try:
        # Asked before subscribing, so the member has not consumed (and committed) anything yet.
        again = second.committed(topic, range(GROUP_PARTITIONS))
        assert again == committed, f"committed offsets before the restart {committed}, after {again}"
        second.subscribe()
        poll_until([second], lambda: len(first.records) + len(second.records) >= n, 60, "the second half")
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            second.step(0.1)
        assert not second.commit_failures, second.commit_failures
        assert_exactly_once([k for k, _ in first_half + second_half], first.keys() + second.keys(),
                            f"consume, commit, close, broker {how}, resume")
        firsts: Dict[int, int] = {}
        for p, off, _ in second.records:
            firsts.setdefault(p, off)
        assert firsts == {p: positions[p] for p in range(GROUP_PARTITIONS)}, (
            f"resumed at {firsts}, committed before the restart {dict(positions)}"
        )
        assert second.committed(topic, range(GROUP_PARTITIONS)) == {p: ends[p] for p in range(GROUP_PARTITIONS)}
    finally:
        second.close()


def measure_rebalance(make_member, scenario: str, timeout: float = 60) -> float:
    """Seconds from the second member's subscribe() until both hold 2 of the 4 partitions.
    ``cold``: both subscribe to a group that does not exist yet, one right after the other;
    ``join-stable``: the first member already holds all 4 partitions of a stable group."""
    a = make_member("timing-a")
    b = make_member("timing-b", subscribe=False)
    try:
        if scenario == "join-stable":
            poll_until([a], lambda: len(a.assignment()) == GROUP_PARTITIONS, timeout, "member a alone to own every partition")
        t0 = time.monotonic()
        b.subscribe()
        poll_until([a, b], lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2, timeout,
                   "both members to hold 2 partitions", step_timeout=0.02)
        return time.monotonic() - t0
    finally:
        a.close()
        b.close()


def rebalance_timing_params():
    """(scenario, group.initial.rebalance.delay.ms, consumer heartbeat interval ms) cases."""
    import pytest

    delay3000 = pytest.mark.broker_props(**{"group.initial.rebalance.delay.ms": 3000})
    return [
        pytest.param("cold", 3000, 3000, marks=delay3000, id="cold-delay3000-hb3000"),
        pytest.param("cold", 0, 3000, id="cold-delay0-hb3000"),
        pytest.param("cold", 0, 500, id="cold-delay0-hb500"),
        pytest.param("join-stable", 0, 3000, id="join-stable-delay0-hb3000"),
    ]
