"""Dynamic configs end to end with real admin clients: kafka-python's KafkaAdminClient
(alter_configs, incrementally and not; describe_configs; list_config_resources) and
confluent-kafka's AdminClient (alter_configs, incremental_alter_configs with SET, DELETE,
APPEND and SUBTRACT, validate_only, describe_configs), for TOPIC, BROKER, GROUP and
BROKER_LOGGER resources. An invalid value is refused with the key named; every change
survives a restart and takes effect: a lowered max.message.bytes refuses a larger batch,
a lowered retention.ms deletes day-old segments, a broker message.max.bytes applies to
topics without their own."""

from __future__ import annotations

import time

import pytest

from clientlib import cf_admin, cf_create_topic, cf_producer, kp_admin
from conftest import wait_until

# Retention runs every 200 ms here instead of every 5 minutes.
pytestmark = pytest.mark.broker_props(**{"log.retention.check.interval.ms": 200})

DAY_MS = 24 * 3600 * 1000


def kp_describe(admin, resource_type: str, name: str, keys=None, synonyms=False):
    from kafka.admin import ConfigResource

    got = admin.describe_configs([ConfigResource(resource_type, name, keys)], include_synonyms=synonyms,
                                 config_filter="all")
    return got[resource_type.lower()][name]


def test_kafka_python_alter_and_describe_every_resource_type(broker):
    from kafka.admin import AlterConfigOp, ConfigResource, NewTopic

    topic = "cfg-kp"
    admin = kp_admin(broker.bootstrap)
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
        # Incremental (kafka-python's default on a broker with API 44): SET and APPEND.
        got = admin.alter_configs([ConfigResource("TOPIC", topic, {
            "retention.ms": "3600000",
            "cleanup.policy": (AlterConfigOp.APPEND, "compact")})])
        assert got == {"topic": {topic: "OK"}}, got
        cfg = kp_describe(admin, "TOPIC", topic, ["retention.ms", "cleanup.policy"], synonyms=True)
        assert cfg["retention.ms"]["value"] == "3600000", cfg
        assert cfg["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG", cfg
        assert [(s["name"], s["source"]) for s in cfg["retention.ms"]["synonyms"]] == \
            [("retention.ms", "DYNAMIC_TOPIC_CONFIG")], cfg
        assert cfg["cleanup.policy"]["value"] == "delete,compact", cfg
        # Non-incremental AlterConfigs: kafka-python carries the other modified keys along.
        got = admin.alter_configs([ConfigResource("TOPIC", topic, {"segment.ms": "7200000"})], incremental=False)
        assert got == {"topic": {topic: "OK"}}, got
        cfg = kp_describe(admin, "TOPIC", topic, ["retention.ms", "segment.ms"])
        assert (cfg["retention.ms"]["value"], cfg["segment.ms"]["value"]) == ("3600000", "7200000"), cfg
        # An invalid value, refused with the key named; validate_only changes nothing.
        got = admin.alter_configs([ConfigResource("TOPIC", topic, {"retention.ms": "soon"})])
        assert "InvalidConfigurationError" in got["topic"][topic] and "retention.ms" in got["topic"][topic], got
        got = admin.alter_configs([ConfigResource("TOPIC", topic, {"retention.ms": "60000"})], validate_only=True)
        assert got == {"topic": {topic: "OK"}}, got
        assert kp_describe(admin, "TOPIC", topic, ["retention.ms"])["retention.ms"]["value"] == "3600000"

        # BROKER (kafka-python names brokers by id only): this node's dynamic config.
        got = admin.alter_configs([ConfigResource("BROKER", "1", {"log.cleaner.threads": "2"})])
        assert got == {"broker": {"1": "OK"}}, got
        node = kp_describe(admin, "BROKER", "1", ["log.cleaner.threads", "node.id"], synonyms=True)
        assert node["log.cleaner.threads"]["value"] == "2", node
        assert node["log.cleaner.threads"]["config_source"] == "DYNAMIC_BROKER_CONFIG", node
        assert node["node.id"]["read_only"] is True and node["log.cleaner.threads"]["read_only"] is False, node

        # GROUP: Kafka 4's group keys within the broker's bounds.
        got = admin.alter_configs([ConfigResource("GROUP", "cfg-group", {"consumer.session.timeout.ms": "50000"})])
        assert got == {"group": {"cfg-group": "OK"}}, got
        grp = kp_describe(admin, "GROUP", "cfg-group")
        assert grp["consumer.session.timeout.ms"]["value"] == "50000", grp
        assert grp["consumer.session.timeout.ms"]["config_source"] == "DYNAMIC_GROUP_CONFIG", grp
        assert grp["consumer.heartbeat.interval.ms"]["value"] == "5000", grp
        got = admin.alter_configs([ConfigResource("GROUP", "cfg-group", {"consumer.session.timeout.ms": "1000"})])
        assert "consumer.session.timeout.ms" in got["group"]["cfg-group"], got

        # BROKER_LOGGER: a module's level at run time.
        target = "kafka_broker::storage"
        loggers = kp_describe(admin, "BROKER_LOGGER", "1")
        assert loggers["root"]["value"] == "INFO" and loggers[target]["value"] == "INFO", loggers
        got = admin.alter_configs([ConfigResource("BROKER_LOGGER", "1", {target: "DEBUG"})], raise_on_unknown=False)
        assert got == {"broker_logger": {"1": "OK"}}, got
        loggers = kp_describe(admin, "BROKER_LOGGER", "1")
        assert loggers[target]["value"] == "DEBUG", loggers
        assert loggers[target]["config_source"] == "DYNAMIC_BROKER_LOGGER_CONFIG", loggers

        listed = admin.list_config_resources()
        assert listed["group"] == ["cfg-group"] and topic in listed["topic"], listed
        assert listed["broker"] == ["1"] and listed["broker_logger"] == ["1"], listed
    finally:
        admin.close()

    broker.restart()
    admin = kp_admin(broker.bootstrap)
    try:
        cfg = kp_describe(admin, "TOPIC", topic, ["retention.ms", "cleanup.policy", "segment.ms"])
        assert {k: c["value"] for k, c in cfg.items()} == {
            "retention.ms": "3600000", "cleanup.policy": "delete,compact", "segment.ms": "7200000"}, cfg
        assert kp_describe(admin, "BROKER", "1", ["log.cleaner.threads"])["log.cleaner.threads"]["value"] == "2"
        grp = kp_describe(admin, "GROUP", "cfg-group", ["consumer.session.timeout.ms"])
        assert grp["consumer.session.timeout.ms"]["value"] == "50000", grp
        # Log levels are not persisted, as in Kafka.
        assert kp_describe(admin, "BROKER_LOGGER", "1")["kafka_broker::storage"]["value"] == "INFO"
    finally:
        admin.close()


def cf_describe(admin, resource_type, name):
    from confluent_kafka.admin import ConfigResource

    res = ConfigResource(resource_type, name)
    return admin.describe_configs([res], request_timeout=30)[res].result(timeout=40)


def cf_incremental(admin, resource_type, name, entries, validate_only=False):
    """incremental_alter_configs of one resource: None, or the KafkaError."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import ConfigEntry, ConfigResource

    res = ConfigResource(resource_type, name, incremental_configs=[
        ConfigEntry(key, value, incremental_operation=op) for key, op, value in entries])
    future = admin.incremental_alter_configs([res], validate_only=validate_only, request_timeout=30)[res]
    try:
        future.result(timeout=40)
        return None
    except KafkaException as e:
        return e.args[0]


def deliver(bootstrap: str, topic: str, value: bytes, timestamp: int = 0):
    """Produces one record and flushes: None on success, else the delivery error."""
    errors = []
    p = cf_producer(bootstrap)
    p.produce(topic, value=value, partition=0, timestamp=timestamp,
              on_delivery=lambda err, msg: errors.append(err))
    p.flush(30)
    assert len(errors) == 1, errors
    return errors[0]


def low_watermark(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "cfg-watermarks", "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[0]
    finally:
        c.close()


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated")
def test_confluent_incremental_alter_effects_and_restart(broker):
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import AlterConfigOpType as Op, ConfigResource, ConfigSource, ResourceType

    topic, plain, aged = "cfg-cf", "cfg-cf-plain", "cfg-cf-aged"
    for name in (topic, plain, aged):
        cf_create_topic(broker.bootstrap, name, 1)
    admin = cf_admin(broker.bootstrap)

    # SET, APPEND, SUBTRACT, DELETE on one topic.
    assert cf_incremental(admin, ResourceType.TOPIC, topic, [
        ("max.message.bytes", Op.SET, "1000"),
        ("cleanup.policy", Op.APPEND, "compact"),
        ("segment.ms", Op.SET, "3600000")]) is None
    assert cf_incremental(admin, ResourceType.TOPIC, topic, [
        ("cleanup.policy", Op.SUBTRACT, "delete"),
        ("segment.ms", Op.DELETE, None)]) is None
    cfg = cf_describe(admin, ResourceType.TOPIC, topic)
    assert cfg["max.message.bytes"].value == "1000", cfg["max.message.bytes"]
    assert cfg["max.message.bytes"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert cfg["cleanup.policy"].value == "compact", cfg["cleanup.policy"]
    assert (cfg["segment.ms"].value, cfg["segment.ms"].source) == ("604800000", ConfigSource.DEFAULT_CONFIG.value)
    # validate_only: checked, not applied.
    assert cf_incremental(admin, ResourceType.TOPIC, topic, [("max.message.bytes", Op.SET, "5")],
                          validate_only=True) is None
    assert cf_describe(admin, ResourceType.TOPIC, topic)["max.message.bytes"].value == "1000"
    # Invalid values are refused with the key named.
    err = cf_incremental(admin, ResourceType.TOPIC, topic, [("retention.ms", Op.SET, "forever")])
    assert err is not None and err.code() == KafkaError.INVALID_CONFIG and "retention.ms" in err.str(), err
    err = cf_incremental(admin, ResourceType.TOPIC, topic, [("retention.ms", Op.APPEND, "1")])
    assert err is not None and err.code() == KafkaError.INVALID_CONFIG and "retention.ms" in err.str(), err
    err = cf_incremental(admin, ResourceType.BROKER, "1", [("num.partitions", Op.SET, "4")])
    assert err is not None and err.code() == KafkaError.INVALID_REQUEST and "num.partitions" in err.str(), err

    # The lowered max.message.bytes refuses a larger batch; the plain topic takes it.
    big = b"x" * 5000
    err = deliver(broker.bootstrap, topic, big)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert deliver(broker.bootstrap, plain, big) is None
    # A broker-wide message.max.bytes for topics without their own (the deprecated
    # non-incremental alter_configs, as confluent-kafka still offers it).
    res = ConfigResource(ResourceType.BROKER, "1", set_config={"message.max.bytes": "2000"})
    assert admin.alter_configs([res], request_timeout=30)[res].result(timeout=40) is None
    node = cf_describe(admin, ResourceType.BROKER, "1")
    assert (node["message.max.bytes"].value, node["message.max.bytes"].source) == \
        ("2000", ConfigSource.DYNAMIC_BROKER_CONFIG.value), node["message.max.bytes"]
    err = deliver(broker.bootstrap, plain, big)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err

    # A lowered retention.ms deletes day-old records.
    old = int(time.time() * 1000) - DAY_MS
    for value in (b"old 1", b"old 2"):
        assert deliver(broker.bootstrap, aged, value, timestamp=old) is None
    assert low_watermark(broker.bootstrap, aged) == 0
    assert cf_incremental(admin, ResourceType.TOPIC, aged, [("retention.ms", Op.SET, "3600000")]) is None
    wait_until(lambda: low_watermark(broker.bootstrap, aged) == 2, 20, what="retention to delete the old segment")

    # GROUP through confluent-kafka.
    assert cf_incremental(admin, ResourceType.GROUP, "cfg-cf-group", [
        ("consumer.heartbeat.interval.ms", Op.SET, "6000")]) is None
    grp = cf_describe(admin, ResourceType.GROUP, "cfg-cf-group")
    assert (grp["consumer.heartbeat.interval.ms"].value, grp["consumer.heartbeat.interval.ms"].source) == \
        ("6000", ConfigSource.GROUP_CONFIG.value), grp["consumer.heartbeat.interval.ms"]

    broker.restart()
    admin = cf_admin(broker.bootstrap)
    cfg = cf_describe(admin, ResourceType.TOPIC, topic)
    assert (cfg["max.message.bytes"].value, cfg["cleanup.policy"].value) == ("1000", "compact")
    assert cf_describe(admin, ResourceType.TOPIC, aged)["retention.ms"].value == "3600000"
    assert cf_describe(admin, ResourceType.BROKER, "1")["message.max.bytes"].value == "2000"
    assert cf_describe(admin, ResourceType.GROUP, "cfg-cf-group")["consumer.heartbeat.interval.ms"].value == "6000"
    # Still in effect after the restart.
    err = deliver(broker.bootstrap, plain, big)
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    assert deliver(broker.bootstrap, aged, b"old again", timestamp=old) is None
    wait_until(lambda: low_watermark(broker.bootstrap, aged) == 3, 20, what="retention after the restart")
