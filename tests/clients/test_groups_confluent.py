"""confluent-kafka (librdkafka 2.16) consumer groups against the broker: two members split a
4-partition topic, a member leaving hands its partitions to the survivor with every record
consumed exactly once (manual synchronous commits), committed offsets survive a broker restart
(SIGTERM and kill -9), and the time a two-member rebalance takes with the initial rebalance
delay at its default (3000 ms) and at 0."""

from __future__ import annotations

import pytest

from clientlib import cf_create_topic
from grouplib import (
    GROUP_PARTITIONS,
    GROUP_PROPS,
    CfMember,
    measure_rebalance,
    rebalance_timing_params,
    run_resume_after_restart,
    run_split_and_handoff,
)

pytest.importorskip("confluent_kafka")
pytestmark = pytest.mark.broker_props(**GROUP_PROPS)


def test_two_members_split_then_handoff_exactly_once(broker):
    topic, group = "grp-cf-split", "cf-split-group"
    cf_create_topic(broker.bootstrap, topic, GROUP_PARTITIONS)
    failures = run_split_and_handoff(
        lambda name, **kw: CfMember(name, broker.bootstrap, group, [topic], **kw),
        broker.bootstrap, topic, group)
    print(f"handoff: {len(failures)} commit failures (continued polling after each) {failures[:2]}")


@pytest.mark.parametrize("how", ["restart", "kill9"])
def test_committed_offsets_survive_broker_restart(broker, how):
    topic, group = f"grp-cf-resume-{how}", f"cf-resume-{how}"
    cf_create_topic(broker.bootstrap, topic, GROUP_PARTITIONS)
    run_resume_after_restart(
        lambda name, **kw: CfMember(name, broker.bootstrap, group, [topic], **kw),
        broker, topic, how)


@pytest.mark.parametrize("scenario,delay_ms,hb_ms", rebalance_timing_params())
def test_rebalance_time(broker, scenario, delay_ms, hb_ms, capsys):
    """Measured and printed, not asserted (besides completing): seconds from the second
    member's subscribe() until both hold 2 of the 4 partitions. ``cold``: both subscribe to a
    new group one right after the other; ``join-stable``: the first already owns every
    partition. Session timeout 45 s (client default); heartbeat interval 3 s (client default)
    or 500 ms."""
    topic = f"grp-cf-timing-{scenario}"
    cf_create_topic(broker.bootstrap, topic, GROUP_PARTITIONS)
    secs = measure_rebalance(
        lambda name, **kw: CfMember(name, broker.bootstrap, f"cf-timing-{scenario}", [topic],
                                    **{"heartbeat.interval.ms": hb_ms, "session.timeout.ms": 45000}, **kw),
        scenario)
    with capsys.disabled():
        print(f"\n[rebalance timing] confluent-kafka {scenario} group.initial.rebalance.delay.ms={delay_ms} "
              f"heartbeat.interval.ms={hb_ms}: {secs:.2f} s from the second subscribe() until both hold 2 partitions")


def test_admin_delete_consumer_groups(broker):
    """AdminClient.delete_consumer_groups (DeleteGroups): refused with NON_EMPTY_GROUP while a
    member consumes, then, after it left, the group and its committed offsets are deleted;
    an unknown group fails with GROUP_ID_NOT_FOUND."""
    from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition

    from clientlib import cf_admin
    from grouplib import cf_produce_keyed, poll_until, unique_records

    topic, group = "grp-cf-delete", "cf-delete-group"
    cf_create_topic(broker.bootstrap, topic, GROUP_PARTITIONS)
    cf_produce_keyed(broker.bootstrap, topic, unique_records(40, prefix="del"))
    admin = cf_admin(broker.bootstrap)

    def delete(name):
        future = admin.delete_consumer_groups([name], request_timeout=15)[name]
        try:
            future.result()
            return None
        except KafkaException as e:
            return e.args[0].code()

    def committed():
        request = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(GROUP_PARTITIONS)])]
        result = admin.list_consumer_group_offsets(request, request_timeout=15)[group].result()
        return sorted(tp.offset for tp in result.topic_partitions)

    m = CfMember("delete-member", broker.bootstrap, group, [topic])
    try:
        poll_until([m], lambda: len(m.records) >= 40, 30, "every record")
        assert not m.commit_failures, m.commit_failures
        assert delete(group) == KafkaError.NON_EMPTY_GROUP
    finally:
        m.close()
    assert sum(committed()) == 40
    assert delete(group) is None
    assert all(offset < 0 for offset in committed()), committed()
    assert delete("cf-no-such-group") == KafkaError.GROUP_ID_NOT_FOUND


def test_admin_list_consumer_groups_by_state(broker):
    """AdminClient.list_consumer_groups with a state filter (ListGroups v4+ states_filter):
    a group with a live member is Stable, a group whose only member left (its offsets kept)
    is Empty; each filter returns exactly its groups, no filter returns both; and
    describe_consumer_groups reports each state, the live member and its partitions."""
    from confluent_kafka import ConsumerGroupState

    from clientlib import cf_admin
    from grouplib import cf_produce_keyed, poll_until, unique_records

    topic = "grp-cf-states"
    live, empty = "cf-states-live", "cf-states-empty"
    cf_create_topic(broker.bootstrap, topic, GROUP_PARTITIONS)
    cf_produce_keyed(broker.bootstrap, topic, unique_records(20, prefix="st"))
    admin = cf_admin(broker.bootstrap)

    def listed(states=None):
        kwargs = {"states": states} if states is not None else {}
        result = admin.list_consumer_groups(request_timeout=15, **kwargs).result()
        assert not result.errors, result.errors
        return {g.group_id: g.state for g in result.valid if g.group_id in (live, empty)}

    gone = CfMember("states-gone", broker.bootstrap, empty, [topic])
    try:
        poll_until([gone], lambda: len(gone.records) >= 20, 30, "every record (empty group)")
    finally:
        gone.close()
    m = CfMember("states-live", broker.bootstrap, live, [topic])
    try:
        poll_until([m], lambda: len(m.records) >= 20, 30, "every record (live group)")
        assert listed() == {live: ConsumerGroupState.STABLE, empty: ConsumerGroupState.EMPTY}
        assert listed({ConsumerGroupState.STABLE}) == {live: ConsumerGroupState.STABLE}
        assert listed({ConsumerGroupState.EMPTY}) == {empty: ConsumerGroupState.EMPTY}
        assert listed({ConsumerGroupState.PREPARING_REBALANCING}) == {}
        described = {g: f.result() for g, f in admin.describe_consumer_groups([live, empty], request_timeout=15).items()}
        assert described[live].state == ConsumerGroupState.STABLE
        assert described[empty].state == ConsumerGroupState.EMPTY and described[empty].members == []
        (member,) = described[live].members
        assert member.client_id == "states-live"
        assert sorted(tp.partition for tp in member.assignment.topic_partitions) == list(range(GROUP_PARTITIONS))
    finally:
        m.close()
