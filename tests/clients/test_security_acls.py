"""ACLs with real clients: confluent-kafka's AdminClient creates, describes and deletes ACLs
over SASL_PLAINTEXT as a super user with StandardAuthorizer on; a second user is refused with
the client's authorization error (TOPIC_AUTHORIZATION_FAILED) until an ALLOW ACL is created,
then produces and consumes with a group; kafka-python sees the same refusal and grant.
"""

from __future__ import annotations

import re
import time
import uuid

import pytest

from clientlib import RDKAFKA_LOGGER
from conftest import wait_until

JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required '
        'user_admin="admin-secret" user_alice="alice-secret";')

ACLS = pytest.mark.broker_props(**{
    "listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
    "sasl.enabled.mechanisms": "PLAIN",
    "listener.name.sasl_plaintext.plain.sasl.jaas.config": JAAS,
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users": "User:admin",
    "num.partitions": 1,
    "group.initial.rebalance.delay.ms": 0,
})


def sasl_address(broker) -> str:
    pattern = re.compile(r"listener SASL_PLAINTEXT \(\w+\) on (\S+)")

    def found():
        m = pattern.findall(broker.log_path.read_text(errors="replace"))
        return m[-1] if m else None

    return wait_until(found, 10, what="listener SASL_PLAINTEXT")


def conf(broker, user: str) -> dict:
    return {"bootstrap.servers": sasl_address(broker), "logger": RDKAFKA_LOGGER,
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "PLAIN",
            "sasl.username": user, "sasl.password": f"{user}-secret"}


def produce(broker, user: str, topic: str, value: bytes):
    """The delivery error (None on success) of one message."""
    from confluent_kafka import Producer
    producer = Producer({**conf(broker, user), "message.timeout.ms": 5000})
    outcome = []
    producer.produce(topic, value, on_delivery=lambda err, msg: outcome.append(err))
    producer.flush(15)
    assert outcome, "no delivery report"
    return outcome[0]


def binding(topic_or_group, name, operation, permission="ALLOW", pattern="LITERAL"):
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType,
                                       ResourcePatternType, ResourceType)
    return AclBinding(getattr(ResourceType, topic_or_group), name,
                      getattr(ResourcePatternType, pattern), "User:alice", "*",
                      getattr(AclOperation, operation), getattr(AclPermissionType, permission))


@ACLS
def test_confluent_acls_grant_produce_and_consume(broker):
    from confluent_kafka import Consumer, KafkaError, KafkaException
    from confluent_kafka.admin import (AclBindingFilter, AclOperation, AclPermissionType,
                                       AdminClient, NewTopic, ResourcePatternType, ResourceType)
    topic, group = f"acl-{uuid.uuid4().hex[:8]}", f"acl-group-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(conf(broker, "admin"))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(15)

    # alice has no ACL: the client's authorization error.
    err = produce(broker, "alice", topic, b"refused")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    # A non-super user may not manage ACLs.
    alice_admin = AdminClient(conf(broker, "alice"))
    with pytest.raises(KafkaException) as refused:
        alice_admin.create_acls([binding("TOPIC", topic, "WRITE")])[
            binding("TOPIC", topic, "WRITE")].result(15)
    assert refused.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED

    grants = [binding("TOPIC", topic, "WRITE"), binding("TOPIC", "acl-", "READ", pattern="PREFIXED"),
              binding("GROUP", group, "READ")]
    for future in admin.create_acls(grants).values():
        assert future.result(15) is None
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    described = admin.describe_acls(everything).result(15)
    assert sorted((b.name, b.resource_pattern_type.name, b.operation.name) for b in described) == \
        sorted([(topic, "LITERAL", "WRITE"), ("acl-", "PREFIXED", "READ"), (group, "LITERAL", "READ")])

    # Now alice produces, and consumes with her group.
    assert produce(broker, "alice", topic, b"granted") is None
    consumer = Consumer({**conf(broker, "alice"), "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got = []
    deadline = time.time() + 30
    while not got and time.time() < deadline:
        msg = consumer.poll(1)
        if msg is not None and msg.error() is None:
            got.append(msg.value())
    assert got == [b"granted"]
    consumer.commit(asynchronous=False)
    consumer.close()

    # DeleteAcls returns what it deleted, and the grant is gone.
    write_filter = AclBindingFilter(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL,
                                    "User:alice", None, AclOperation.WRITE, AclPermissionType.ANY)
    deleted = admin.delete_acls([write_filter])[write_filter].result(15)
    assert [(b.name, b.operation.name) for b in deleted] == [(topic, "WRITE")]
    err = produce(broker, "alice", topic, b"refused again")
    assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err

    # A DENY overrides the ALLOW.
    deny = binding("TOPIC", topic, "READ", permission="DENY")
    admin.create_acls([deny])[deny].result(15)
    consumer = Consumer({**conf(broker, "alice"), "group.id": group,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    error = None
    deadline = time.time() + 20
    while error is None and time.time() < deadline:
        msg = consumer.poll(1)
        if msg is not None and msg.error() is not None:
            error = msg.error()
    consumer.close()
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, error


@ACLS
def test_kafka_python_refused_then_granted(broker):
    from kafka import KafkaProducer
    from kafka.errors import TopicAuthorizationFailedError
    from kafka.admin import (ACL, ACLOperation, ACLPermissionType, KafkaAdminClient, NewTopic,
                             ResourcePattern, ResourceType)
    topic = f"kp-acl-{uuid.uuid4().hex[:8]}"
    kp = {"bootstrap_servers": sasl_address(broker), "security_protocol": "SASL_PLAINTEXT",
          "sasl_mechanism": "PLAIN"}
    admin = KafkaAdminClient(**kp, sasl_plain_username="admin", sasl_plain_password="admin-secret")
    admin.create_topics([NewTopic(topic, 1, 1)])
    producer = KafkaProducer(**kp, sasl_plain_username="alice", sasl_plain_password="alice-secret",
                             max_block_ms=5000)
    with pytest.raises(TopicAuthorizationFailedError):
        producer.send(topic, b"refused").get(10)
    acl = ACL("User:alice", "*", ACLOperation.WRITE, ACLPermissionType.ALLOW,
              ResourcePattern(ResourceType.TOPIC, topic))
    result = admin.create_acls([acl])
    assert result["failed"] == [] and len(result["succeeded"]) == 1
    producer.close()
    producer = KafkaProducer(**kp, sasl_plain_username="alice", sasl_plain_password="alice-secret")
    metadata = producer.send(topic, b"granted").get(15)
    assert metadata.offset == 0
    producer.close()
    admin.close()
