"""confluent-kafka (librdkafka 2.16) consumers with ``group.protocol=consumer`` (KIP-848)
against the broker: two then three members split a 6-partition topic evenly, a member that
closes hands its partitions to the others, and every record is consumed exactly once with
synchronous commits (OffsetCommit with member id and member epoch). The group's heartbeat
interval is the broker's ``group.consumer.heartbeat.interval.ms`` (500 ms here, 5000 ms by
default); the time from a member's subscribe() to holding its share, and from a close to the
others holding everything, is measured and printed."""

from __future__ import annotations

import time
from typing import Dict, List, Sequence, Set, Tuple

import pytest

from clientlib import cf_create_topic
from grouplib import assert_exactly_once, cf_produce_keyed, unique_records

pytest.importorskip("confluent_kafka")

PARTITIONS = 6
FAST = {"group.consumer.heartbeat.interval.ms": 500, "group.consumer.session.timeout.ms": 10000,
        "offsets.topic.num.partitions": 5}


class Member:
    """A consumer of the consumer protocol: the coordinator assigns, the client reconciles."""

    def __init__(self, name: str, bootstrap: str, group: str, topics: Sequence[str], **extra):
        from confluent_kafka import Consumer

        conf = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "group.protocol": "consumer",
            "client.id": name,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
        }
        conf.update(extra)
        self.name = name
        self.c = Consumer(conf)
        self.c.subscribe(list(topics))
        self.keys: List[bytes] = []
        self.commit_failures: List[str] = []
        self.closed = False

    def assignment(self) -> Set[int]:
        return {tp.partition for tp in self.c.assignment()}

    def step(self, timeout: float = 0.05) -> int:
        from confluent_kafka import KafkaException, TopicPartition

        msgs = self.c.consume(num_messages=100, timeout=timeout)
        last: Dict[Tuple[str, int], int] = {}
        for m in msgs:
            assert m.error() is None, f"{self.name}: {m.error()}"
            self.keys.append(m.key())
            last[(m.topic(), m.partition())] = m.offset()
        if last:
            offsets = [TopicPartition(t, p, o + 1) for (t, p), o in sorted(last.items())]
            try:
                for tp in self.c.commit(offsets=offsets, asynchronous=False) or []:
                    if tp.error is not None:
                        self.commit_failures.append(f"{tp.partition}: {tp.error}")
            except KafkaException as e:
                self.commit_failures.append(str(e.args[0]))
        return len(msgs)

    def close(self) -> None:
        if not self.closed:
            self.c.close()
            self.closed = True


def poll_until(members, pred, timeout: float, what: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        for m in members:
            if not m.closed:
                m.step()
        if pred():
            return time.monotonic() - start
    sizes = {m.name: sorted(m.assignment()) for m in members if not m.closed}
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {sizes}")


def split_evenly(members, partitions: int):
    def pred():
        live = [m for m in members if not m.closed]
        owned = [m.assignment() for m in live]
        every = set().union(*owned) if owned else set()
        disjoint = sum(len(o) for o in owned) == len(every)
        even = all(len(o) == partitions // len(live) for o in owned)
        return disjoint and even and every == set(range(partitions))
    return pred


def run(broker, group: str, topic: str, timeout: float):
    cf_create_topic(broker.bootstrap, topic, PARTITIONS)
    first = unique_records(3000, prefix="a")
    produced = list(cf_produce_keyed(broker.bootstrap, topic, first))
    a = Member("cp-a", broker.bootstrap, group, [topic])
    b = Member("cp-b", broker.bootstrap, group, [topic])
    members = [a, b]
    t_two = poll_until(members, split_evenly(members, PARTITIONS), timeout, "two members 3+3")
    c = Member("cp-c", broker.bootstrap, group, [topic])
    members.append(c)
    t_three = poll_until(members, split_evenly(members, PARTITIONS), timeout, "three members 2+2+2")
    second = unique_records(3000, prefix="b")
    produced += list(cf_produce_keyed(broker.bootstrap, topic, second))
    poll_until(members, lambda: sum(len(m.keys) for m in members) >= 3000, timeout, "first batch")
    a.close()
    t_leave = poll_until(members, split_evenly(members, PARTITIONS), timeout, "b and c 3+3")
    poll_until(members, lambda: sum(len(m.keys) for m in members) >= len(produced), timeout,
               "every record")
    # A little longer: nothing more may arrive (a duplicate would show here).
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        for m in members:
            if not m.closed:
                m.step()
    consumed = [k for m in members for k in m.keys]
    failures = [f for m in members for f in m.commit_failures]
    for m in members:
        m.close()
    assert_exactly_once(produced, consumed, "consumer protocol group")
    return t_two, t_three, t_leave, failures


@pytest.mark.broker_props(**FAST)
def test_two_then_three_members_split_and_a_closing_member_hands_over(broker, capsys):
    t_two, t_three, t_leave, failures = run(broker, "cp-group", "cp-topic", 30)
    with capsys.disabled():
        print(f"\n[consumer protocol, heartbeat 500 ms] 2 members split in {t_two:.2f} s, the third "
              f"has its share in {t_three:.2f} s, a close is reassigned in {t_leave:.2f} s; "
              f"commit failures {failures[:3]}")


@pytest.mark.broker_props(**{"offsets.topic.num.partitions": 5})
def test_with_default_heartbeat_interval(broker, capsys):
    t_two, t_three, t_leave, failures = run(broker, "cp-default", "cp-default-topic", 60)
    with capsys.disabled():
        print(f"\n[consumer protocol, defaults: heartbeat 5000 ms] 2 members split in {t_two:.2f} s, "
              f"the third has its share in {t_three:.2f} s, a close is reassigned in {t_leave:.2f} s; "
              f"commit failures {failures[:3]}")


@pytest.mark.broker_props(**FAST)
def test_a_classic_group_and_a_consumer_group_side_by_side(broker):
    """A kafka-python classic consumer on one group id, a consumer-protocol one on another."""
    from kafka import KafkaConsumer

    topic = "cp-side"
    cf_create_topic(broker.bootstrap, topic, 2)
    produced = list(cf_produce_keyed(broker.bootstrap, topic, unique_records(200, prefix="s")))
    modern = Member("cp-modern", broker.bootstrap, "cp-modern-group", [topic])
    classic = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id="cp-classic-group",
                            auto_offset_reset="earliest", enable_auto_commit=False,
                            consumer_timeout_ms=20000)
    got = []
    for m in classic:
        got.append(m.key)
        if len(got) == len(produced):
            break
    classic.commit()
    classic.close()
    poll_until([modern], lambda: len(modern.keys) >= len(produced), 30, "the consumer-protocol member")
    modern.close()
    assert_exactly_once(produced, got, "classic group")
    assert_exactly_once(produced, modern.keys, "consumer group")


@pytest.mark.broker_props(**FAST)
def test_admin_lists_and_describes_a_consumer_group(broker):
    """confluent-kafka's AdminClient: list_consumer_groups by type, describe_consumer_groups
    (ConsumerGroupDescribe for the consumer group, DescribeGroups for the classic one)."""
    from confluent_kafka import ConsumerGroupState, ConsumerGroupType
    from confluent_kafka.admin import AdminClient

    topic = "cp-admin"
    cf_create_topic(broker.bootstrap, topic, 4)
    a = Member("cp-admin-a", broker.bootstrap, "cp-admin-group", [topic])
    b = Member("cp-admin-b", broker.bootstrap, "cp-admin-group", [topic])
    poll_until([a, b], split_evenly([a, b], 4), 30, "2+2")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    listed = admin.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result(timeout=10)
    assert [(g.group_id, g.type) for g in listed.valid] == [("cp-admin-group", ConsumerGroupType.CONSUMER)]
    assert listed.valid[0].state == ConsumerGroupState.STABLE
    classic_only = admin.list_consumer_groups(types={ConsumerGroupType.CLASSIC}).result(timeout=10)
    assert "cp-admin-group" not in [g.group_id for g in classic_only.valid]
    desc = admin.describe_consumer_groups(["cp-admin-group"])["cp-admin-group"].result(timeout=10)
    assert desc.type == ConsumerGroupType.CONSUMER
    assert desc.state == ConsumerGroupState.STABLE
    owned = {m.client_id: sorted(tp.partition for tp in m.assignment.topic_partitions) for m in desc.members}
    assert owned == {"cp-admin-a": sorted(a.assignment()), "cp-admin-b": sorted(b.assignment())}
    assert sorted(owned["cp-admin-a"] + owned["cp-admin-b"]) == [0, 1, 2, 3]
    a.close()
    b.close()


def topics_owned(member) -> Set[Tuple[str, int]]:
    return {(tp.topic, tp.partition) for tp in member.c.assignment()}


@pytest.mark.broker_props(**FAST)
def test_create_partitions_while_the_group_runs(broker):
    from confluent_kafka.admin import AdminClient, NewPartitions

    topic = "cp-grow"
    cf_create_topic(broker.bootstrap, topic, 2)
    a = Member("cp-grow-a", broker.bootstrap, "cp-grow-group", [topic])
    b = Member("cp-grow-b", broker.bootstrap, "cp-grow-group", [topic])
    poll_until([a, b], split_evenly([a, b], 2), 30, "1+1")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for f in admin.create_partitions([NewPartitions(topic, 6)]).values():
        f.result(timeout=10)
    poll_until([a, b], split_evenly([a, b], 6), 30, "3+3 after CreatePartitions")
    produced = list(cf_produce_keyed(broker.bootstrap, topic, unique_records(600, prefix="g")))
    poll_until([a, b], lambda: len(a.keys) + len(b.keys) >= len(produced), 30, "every record")
    assert_exactly_once(produced, a.keys + b.keys, "after CreatePartitions")
    a.close()
    b.close()


@pytest.mark.broker_props(**FAST)
def test_a_static_member_restarts_without_a_rebalance_of_the_others(broker):
    from confluent_kafka.admin import AdminClient

    topic = "cp-static"
    cf_create_topic(broker.bootstrap, topic, 4)
    group = "cp-static-group"
    a = Member("cp-static-a", broker.bootstrap, group, [topic], **{"group.instance.id": "static-a"})
    b = Member("cp-static-b", broker.bootstrap, group, [topic])
    poll_until([a, b], split_evenly([a, b], 4), 30, "2+2")
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})

    def describe():
        return admin.describe_consumer_groups([group])[group].result(timeout=10)

    before = describe()
    epochs_before = {m.client_id: m for m in before.members}
    mine, theirs = a.assignment(), b.assignment()
    a.close()
    again = Member("cp-static-a2", broker.bootstrap, group, [topic], **{"group.instance.id": "static-a"})
    poll_until([again, b], lambda: again.assignment() == mine, 30, "the static member's partitions back")
    assert b.assignment() == theirs
    after = describe()
    by_client = {m.client_id: m for m in after.members}
    assert set(by_client) == {"cp-static-a2", "cp-static-b"}
    assert by_client["cp-static-a2"].group_instance_id == "static-a"
    assert sorted(tp.partition for tp in by_client["cp-static-b"].assignment.topic_partitions) == \
        sorted(tp.partition for tp in epochs_before["cp-static-b"].assignment.topic_partitions)
    again.close()
    b.close()


@pytest.mark.broker_props(**FAST)
def test_a_regex_subscription_picks_up_a_new_topic(broker):
    cf_create_topic(broker.bootstrap, "cp-re-one", 2)
    a = Member("cp-re-a", broker.bootstrap, "cp-re-group", ["^cp-re-.*"])
    poll_until([a], lambda: topics_owned(a) == {("cp-re-one", 0), ("cp-re-one", 1)}, 30, "cp-re-one")
    cf_create_topic(broker.bootstrap, "cp-re-two", 1)
    cf_create_topic(broker.bootstrap, "other-topic", 1)
    poll_until([a], lambda: topics_owned(a) == {("cp-re-one", 0), ("cp-re-one", 1), ("cp-re-two", 0)},
               30, "cp-re-two as well")
    produced = list(cf_produce_keyed(broker.bootstrap, "cp-re-two", unique_records(100, prefix="r")))
    poll_until([a], lambda: len(a.keys) >= len(produced), 30, "cp-re-two's records")
    assert_exactly_once(produced, a.keys, "regex subscription")
    a.close()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("how", ["sigterm", "kill9"])
@pytest.mark.broker_props(**FAST, listeners=lambda: f"PLAINTEXT://127.0.0.1:{free_port()}")
def test_a_broker_restart_while_the_group_runs(broker, how):
    """The group's records bring members, epochs and assignments back: the members go on
    with the partitions they had, and nothing is consumed twice past the committed offsets."""
    from confluent_kafka.admin import AdminClient

    topic, group = f"cp-restart-{how}", f"cp-restart-{how}-group"
    cf_create_topic(broker.bootstrap, topic, 4)
    a = Member("cp-restart-a", broker.bootstrap, group, [topic])
    b = Member("cp-restart-b", broker.bootstrap, group, [topic])
    members = [a, b]
    poll_until(members, split_evenly(members, 4), 30, "2+2")
    produced = list(cf_produce_keyed(broker.bootstrap, topic, unique_records(1000, prefix="x")))
    poll_until(members, lambda: len(a.keys) + len(b.keys) >= len(produced), 30, "the first batch")
    owned = (a.assignment(), b.assignment())

    def described():
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        d = admin.describe_consumer_groups([group])[group].result(timeout=10)
        return sorted((m.member_id, sorted(tp.partition for tp in m.assignment.topic_partitions))
                      for m in d.members)

    before = described()
    if how == "kill9":
        broker.kill9()
    broker.restart()
    assert described() == before
    produced += list(cf_produce_keyed(broker.bootstrap, topic, unique_records(1000, prefix="y")))
    poll_until(members, lambda: len(a.keys) + len(b.keys) >= len(produced), 60, "the second batch")
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        for m in members:
            m.step()
    assert (a.assignment(), b.assignment()) == owned
    assert described() == before
    for m in members:
        m.close()
    assert_exactly_once(produced, a.keys + b.keys, f"broker {how} while the group runs")
