"""kafka-python 3.0 consumer groups and group/config admin against the broker: two members split a
4-partition topic, a member leaving hands its partitions to the survivor with every record
consumed exactly once (manual synchronous commits), committed offsets survive a broker restart
(SIGTERM and kill -9), and the time a two-member rebalance takes with the initial rebalance
delay at its default (3000 ms) and at 0."""

from __future__ import annotations

import pytest

from clientlib import cf_create_topic, kp_admin
from grouplib import (
    GROUP_PARTITIONS,
    GROUP_PROPS,
    KpMember,
    cf_produce_keyed,
    poll_until,
    unique_records,
    measure_rebalance,
    rebalance_timing_params,
    run_resume_after_restart,
    run_split_and_handoff,
)

pytest.importorskip("kafka")
pytestmark = pytest.mark.broker_props(**GROUP_PROPS)


def test_two_members_split_then_handoff_exactly_once(broker):
    topic, group = "grp-kp-split", "kp-split-group"
    cf_create_topic(broker.bootstrap, topic, GROUP_PARTITIONS)
    failures = run_split_and_handoff(
        lambda name, **kw: KpMember(name, broker.bootstrap, group, [topic], **kw),
        broker.bootstrap, topic, group)
    print(f"handoff: {len(failures)} commit failures (continued polling after each) {failures[:2]}")


@pytest.mark.parametrize("how", ["restart", "kill9"])
def test_committed_offsets_survive_broker_restart(broker, how):
    topic, group = f"grp-kp-resume-{how}", f"kp-resume-{how}"
    cf_create_topic(broker.bootstrap, topic, GROUP_PARTITIONS)
    run_resume_after_restart(
        lambda name, **kw: KpMember(name, broker.bootstrap, group, [topic], **kw),
        broker, topic, how)


@pytest.mark.parametrize("scenario,delay_ms,hb_ms", rebalance_timing_params())
def test_rebalance_time(broker, scenario, delay_ms, hb_ms, capsys):
    """Measured and printed, not asserted (besides completing): seconds from the second
    member's subscribe() until both hold 2 of the 4 partitions. ``cold``: both subscribe to a
    new group one right after the other; ``join-stable``: the first already owns every
    partition. Session timeout 45 s (client default); heartbeat interval 3 s (client default)
    or 500 ms."""
    topic = f"grp-kp-timing-{scenario}"
    cf_create_topic(broker.bootstrap, topic, GROUP_PARTITIONS)
    secs = measure_rebalance(
        lambda name, **kw: KpMember(name, broker.bootstrap, f"kp-timing-{scenario}", [topic],
                                    heartbeat_interval_ms=hb_ms, session_timeout_ms=45000, **kw),
        scenario)
    with capsys.disabled():
        print(f"\n[rebalance timing] kafka-python {scenario} group.initial.rebalance.delay.ms={delay_ms} "
              f"heartbeat.interval.ms={hb_ms}: {secs:.2f} s from the second subscribe() until both hold 2 partitions")


def _config_values(configs):
    return {name: (c["value"], c["config_source"]) for name, c in configs.items()}


def test_admin_groups_offsets_and_configs(broker):
    """KafkaAdminClient: list_groups / describe_groups / list_group_offsets while a member is
    in the group and after it left, and describe_configs of a topic with retention.ms set at
    creation. (kafka-python 3.0 names them list_groups, describe_groups, list_group_offsets;
    2.x called them list_consumer_groups, describe_consumer_groups, list_consumer_group_offsets.)"""
    from kafka.admin import ConfigResource

    topic, plain, group = "grp-kp-admin", "grp-kp-admin-plain", "kp-admin-group"
    admin = kp_admin(broker.bootstrap)
    try:
        res = admin.create_topics({topic: {"num_partitions": GROUP_PARTITIONS, "replication_factor": 1,
                                           "configs": {"retention.ms": "123456789"}},
                                   plain: {"num_partitions": 1, "replication_factor": 1}},
                                  wait_for_metadata=True)
        assert all(t["error_code"] == 0 for t in res["topics"]), res
        where = cf_produce_keyed(broker.bootstrap, topic, unique_records(80, prefix="adm"))
        ends = {p: sum(1 for q, _ in where.values() if q == p) for p in range(GROUP_PARTITIONS)}

        assert admin.list_groups() == []
        m = KpMember("admin-member", broker.bootstrap, group, [topic])
        try:
            poll_until([m], lambda: len(m.records) >= 80, 30, "every record")
            assert not m.commit_failures, m.commit_failures

            groups = admin.list_groups()
            assert [(g["group_id"], g["protocol_type"], g.get("group_state")) for g in groups] == \
                [(group, "consumer", "Stable")], groups
            d = admin.describe_groups([group])[group]
            assert (d["error"], d["group_state"], d["protocol_type"]) == (None, "Stable", "consumer"), d
            assert d["protocol_data"] in ("range", "roundrobin"), d
            (member,) = d["members"]
            assert member["client_id"] == "admin-member" and member["member_id"], member
            assert member["member_metadata"]["topics"] == [topic], member
            assert member["member_assignment"]["assigned_partitions"] == \
                [{"topic": topic, "partitions": list(range(GROUP_PARTITIONS))}], member
            # delete_group_offsets (OffsetDelete) spares a topic a live member subscribes to.
            from kafka import TopicPartition as TP
            from kafka.errors import GroupSubscribedToTopicError
            kept = admin.delete_group_offsets(group, [TP(topic, 0)])
            assert kept == {TP(topic, 0): GroupSubscribedToTopicError}, kept
        finally:
            m.close()

        offsets = admin.list_group_offsets(group)
        assert {g: {(tp.topic, tp.partition): om.offset for tp, om in o.items()} for g, o in offsets.items()} == \
            {group: {(topic, p): ends[p] for p in range(GROUP_PARTITIONS)}}
        # Only some partitions, by request.
        from kafka import TopicPartition
        some = admin.list_group_offsets({group: [TopicPartition(topic, 1), TopicPartition(topic, 3)]})[group]
        assert {tp.partition: om.offset for tp, om in some.items()} == {1: ends[1], 3: ends[3]}
        assert admin.list_group_offsets("no-such-group") == {"no-such-group": {}}

        # The member left: the group is Empty, its offsets stay.
        groups = admin.list_groups()
        assert [(g["group_id"], g["protocol_type"], g.get("group_state")) for g in groups] == \
            [(group, "consumer", "Empty")], groups
        d = admin.describe_groups([group])[group]
        assert (d["error"], d["group_state"], d["members"]) == (None, "Empty", []), d
        d = admin.describe_groups(["no-such-group"])["no-such-group"]
        assert d["group_state"] == "Dead" and d["members"] == [], d

        # describe_configs: by default only what differs from the defaults, i.e. the override.
        got = admin.describe_configs([ConfigResource("TOPIC", topic)])
        assert _config_values(got["topic"][topic]) == {"retention.ms": ("123456789", "DYNAMIC_TOPIC_CONFIG")}, got
        assert admin.describe_configs([ConfigResource("TOPIC", plain)])["topic"][plain] == {}
        every = admin.describe_configs([ConfigResource("TOPIC", topic), ConfigResource("TOPIC", plain)],
                                       config_filter="all")["topic"]
        assert every[topic]["retention.ms"]["value"] == "123456789"
        assert every[plain]["retention.ms"]["value"] == "604800000"  # log.retention.ms default: 7 days
        assert every[plain]["cleanup.policy"]["value"] == "delete"
        assert every[plain]["max.message.bytes"]["value"] == "1048588"
        assert every[plain]["segment.bytes"]["value"] == "1073741824"
        for name, c in every[plain].items():
            assert c["config_source"] in ("DEFAULT_CONFIG", "STATIC_BROKER_CONFIG"), (name, c)
        # Selected keys only.
        sel = admin.describe_configs([ConfigResource("TOPIC", topic, ["retention.ms", "cleanup.policy"])],
                                     config_filter="all")["topic"][topic]
        assert _config_values(sel) == {"retention.ms": ("123456789", "DYNAMIC_TOPIC_CONFIG"),
                                       "cleanup.policy": ("delete", "DEFAULT_CONFIG")}, sel
        # The broker's own configuration shows the group settings of server.properties.
        b = admin.describe_configs([ConfigResource("BROKER", "1")], config_filter="all")["broker"]["1"]
        assert _config_values({k: b[k] for k in ("group.initial.rebalance.delay.ms",) if k in b}) == {
            "group.initial.rebalance.delay.ms": ("0", "STATIC_BROKER_CONFIG"),
        }, sorted(b)

        # Once nobody subscribes, delete_group_offsets deletes partition 0's offset only.
        from kafka.errors import NoError
        gone = admin.delete_group_offsets(group, [TopicPartition(topic, 0)])
        assert gone == {TopicPartition(topic, 0): NoError}, gone
        left = admin.list_group_offsets(group)[group]
        assert sorted(tp.partition for tp in left) == list(range(1, GROUP_PARTITIONS)), left

        # delete_groups (DeleteGroups): the empty group goes with its offsets; an unknown one
        # is GROUP_ID_NOT_FOUND; the group is neither listed nor has offsets afterwards.
        deleted = dict(admin.delete_groups([group, "no-such-group"]))
        assert deleted == {group: "OK", "no-such-group": "GroupIdNotFoundError"}, deleted
        assert admin.list_groups() == []
        assert admin.list_group_offsets(group) == {group: {}}
    finally:
        admin.close()


@pytest.mark.broker_props(**{"log.segment.bytes": 50_000_000})
def test_describe_configs_sources_of_topic_defaults(broker):
    """A topic config without an override takes its value from the broker: Kafka reports
    STATIC_BROKER_CONFIG when server.properties sets the broker synonym (log.segment.bytes
    here) and DEFAULT_CONFIG when nothing sets it (log.retention.ms, log.retention.bytes,
    message.max.bytes here), the same source the broker resource itself reports."""
    from kafka.admin import ConfigResource

    topic = "grp-kp-config-sources"
    admin = kp_admin(broker.bootstrap)
    try:
        res = admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
        assert res["topics"][0]["error_code"] == 0, res
        t = admin.describe_configs([ConfigResource("TOPIC", topic)], config_filter="all")["topic"][topic]
        b = admin.describe_configs([ConfigResource("BROKER", "1")], config_filter="all")["broker"]["1"]
        # As Kafka: log.retention.ms has no default (null); log.retention.hours gives the 7 days.
        keys = ("log.segment.bytes", "log.retention.ms", "log.retention.hours")
        assert _config_values({k: b[k] for k in keys}) == {
            "log.segment.bytes": ("50000000", "STATIC_BROKER_CONFIG"),
            "log.retention.ms": (None, "DEFAULT_CONFIG"),
            "log.retention.hours": ("168", "DEFAULT_CONFIG"),
        }
        assert _config_values({k: t[k] for k in ("segment.bytes", "retention.ms", "retention.bytes", "max.message.bytes")}) == {
            "segment.bytes": ("50000000", "STATIC_BROKER_CONFIG"),
            "retention.ms": ("604800000", "DEFAULT_CONFIG"),
            "retention.bytes": ("-1", "DEFAULT_CONFIG"),
            "max.message.bytes": ("1048588", "DEFAULT_CONFIG"),
        }
    finally:
        admin.close()
