"""The admin calls that mean something on one node, end to end with real clients.

kafka-python 3.0's KafkaAdminClient exposes all of them: describe_log_dirs (DescribeLogDirs),
describe_producers (DescribeProducers), elect_leaders (ElectLeaders), alter_ and
list_partition_reassignments, describe_metadata_quorum (DescribeQuorum). confluent-kafka 2.16's
AdminClient exposes only elect_leaders of these. Each test checks what the broker reports against
what the test did (bytes produced, the producer's records, the topics created), and again after a
restart where the state lives on disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from clientlib import cf_admin, kp_admin, kp_producer
from conftest import BASE_TS

TOPIC = "one-node-admin"
NODE_ID = 1


def kp_create_topic(admin, name: str, partitions: int) -> None:
    from kafka.admin import NewTopic

    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])


def segment_bytes(broker, topic: str, partition: int) -> int:
    """What the partition's segment files hold on disk."""
    return sum(p.stat().st_size for p in Path(broker.log_dir, f"{topic}-{partition}").glob("*.log"))


def log_dir_sizes(result) -> dict:
    """{(topic, partition): size} from describe_log_dirs' answer for our one broker, checking
    that every partition is current (offset lag 0, not a future log)."""
    (entry,) = result
    assert entry["broker"] == NODE_ID
    (log_dir,) = entry["log_dirs"]
    assert log_dir["error_code"] == 0
    out = {}
    for t in log_dir["topics"]:
        for p in t["partitions"]:
            assert (p["offset_lag"], p["is_future_key"]) == (0, False), p
            out[(t["name"], p["partition_index"])] = p["partition_size"]
    return out


def produce(bootstrap: str, topic: str, partition: int, count: int, **conf) -> None:
    p = kp_producer(bootstrap, **conf)
    try:
        futures = [p.send(topic, partition=partition, key=b"k%d" % i, value=b"value %d" % i,
                          timestamp_ms=BASE_TS + i) for i in range(count)]
        p.flush(timeout=30)
        for f in futures:
            f.get(timeout=30)
    finally:
        p.close(timeout=10)


def test_kafka_python_describe_log_dirs_sizes_grow_after_produce(broker):
    admin = kp_admin(broker.bootstrap)
    try:
        kp_create_topic(admin, TOPIC, 2)
        first = admin.describe_log_dirs()
        (log_dir,) = first[0]["log_dirs"]
        assert log_dir["log_dir"] == str(broker.log_dir)
        assert 0 <= log_dir["usable_bytes"] <= log_dir["total_bytes"] and log_dir["total_bytes"] > 0
        assert log_dir_sizes(first) == {(TOPIC, 0): 0, (TOPIC, 1): 0}

        produce(broker.bootstrap, TOPIC, 0, 200)
        grown = log_dir_sizes(admin.describe_log_dirs())
        on_disk = segment_bytes(broker, TOPIC, 0)
        assert on_disk > 200 * len(b"value 199")
        assert grown == {(TOPIC, 0): on_disk, (TOPIC, 1): 0}
        produce(broker.bootstrap, TOPIC, 1, 50)
        assert log_dir_sizes(admin.describe_log_dirs({TOPIC: [1]})) == {(TOPIC, 1): segment_bytes(broker, TOPIC, 1)}
        assert segment_bytes(broker, TOPIC, 1) > 0
    finally:
        admin.close()

    broker.restart()
    admin = kp_admin(broker.bootstrap)
    try:
        assert log_dir_sizes(admin.describe_log_dirs()) == {
            (TOPIC, 0): segment_bytes(broker, TOPIC, 0), (TOPIC, 1): segment_bytes(broker, TOPIC, 1)}
        assert segment_bytes(broker, TOPIC, 0) == on_disk
    finally:
        admin.close()


def test_kafka_python_describe_producers_of_an_idempotent_producer(broker):
    import kafka.errors as Errors
    from kafka import TopicPartition

    tp, empty = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    admin = kp_admin(broker.bootstrap)
    try:
        kp_create_topic(admin, TOPIC, 2)
        produce(broker.bootstrap, TOPIC, 0, 25, enable_idempotence=True)
        states = admin.describe_producers([tp, empty])
        (producer,) = states[tp].active_producers
        assert producer.producer_id >= 0 and producer.producer_epoch >= 0
        # Sequences count records from 0; the last batch ends with record 24, stamped BASE_TS + 24.
        assert (producer.last_sequence, producer.last_timestamp) == (24, BASE_TS + 24)
        assert (producer.coordinator_epoch, producer.current_transaction_start_offset) == (-1, -1)
        assert states[empty].active_producers == []
        with pytest.raises(Errors.UnknownTopicOrPartitionError):
            admin.describe_producers([TopicPartition(TOPIC, 7)], broker_id=NODE_ID)
        with pytest.raises(Errors.UnknownTopicOrPartitionError):
            admin.describe_producers([TopicPartition("no-such-topic", 0)], broker_id=NODE_ID)
    finally:
        admin.close()

    broker.restart()
    admin = kp_admin(broker.bootstrap)
    try:
        # Rebuilt from the log on start.
        assert admin.describe_producers([tp])[tp].active_producers == [producer]
    finally:
        admin.close()


def test_kafka_python_elect_leaders_is_never_needed(broker):
    import kafka.errors as Errors

    admin = kp_admin(broker.bootstrap)
    try:
        kp_create_topic(admin, TOPIC, 2)
        for election_type in (0, 1):
            response = admin.elect_leaders(election_type, {TOPIC: [0, 1]})
            got = [(r.topic, p.partition_id, p.error_code)
                   for r in response.replica_election_results for p in r.partition_result]
            assert got == [(TOPIC, 0, 84), (TOPIC, 1, 84)], f"election type {election_type}"
            # Every topic's partitions (kafka-python names them all).
            response = admin.elect_leaders(election_type)
            assert {p.error_code for r in response.replica_election_results for p in r.partition_result} == {84}
        with pytest.raises(Errors.UnknownTopicOrPartitionError):
            admin.elect_leaders(0, {"no-such-topic": [0]})
        with pytest.raises(Errors.UnknownTopicOrPartitionError):
            admin.elect_leaders(0, {TOPIC: [5]})
    finally:
        admin.close()


def test_kafka_python_partition_reassignments_stay_on_this_broker(broker):
    import kafka.errors as Errors
    from kafka import TopicPartition

    tp0, tp1 = TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)
    admin = kp_admin(broker.bootstrap)
    try:
        kp_create_topic(admin, TOPIC, 2)
        assert admin.alter_partition_reassignments({tp0: [NODE_ID], tp1: None}) == {
            tp0: None, tp1: Errors.NoReassignmentInProgressError}
        assert admin.alter_partition_reassignments({tp0: [NODE_ID + 1], tp1: [NODE_ID, NODE_ID + 1]}) == {
            tp0: Errors.InvalidReplicationAssignmentError, tp1: Errors.InvalidReplicationAssignmentError}
        missing = TopicPartition("no-such-topic", 0)
        assert admin.alter_partition_reassignments({missing: [NODE_ID], TopicPartition(TOPIC, 9): [NODE_ID]}) == {
            missing: Errors.UnknownTopicOrPartitionError, TopicPartition(TOPIC, 9): Errors.UnknownTopicOrPartitionError}
        assert admin.list_partition_reassignments() == {}
        assert admin.list_partition_reassignments({TOPIC: [0, 1]}) == {}
        assert admin.list_partition_reassignments([tp0, missing]) == {}
        (described,) = admin.describe_topics([TOPIC])
        assert [p["replica_nodes"] for p in described["partitions"]] == [[NODE_ID], [NODE_ID]]
    finally:
        admin.close()

    broker.restart()
    admin = kp_admin(broker.bootstrap)
    try:
        assert admin.list_partition_reassignments() == {}
        assert admin.alter_partition_reassignments({tp1: [NODE_ID]}) == {tp1: None}
    finally:
        admin.close()


def quorum_partition(result) -> dict:
    (topic,) = result["topics"]
    assert topic["topic_name"] == "__cluster_metadata"
    (p,) = topic["partitions"]
    assert (p["partition_index"], p["error"], p["leader_id"]) == (0, None, NODE_ID)
    (voter,) = p["current_voters"]
    assert voter["replica_id"] == NODE_ID and p["observers"] == []
    assert voter["log_end_offset"] == p["high_watermark"]
    assert voter["last_fetch_timestamp"] == voter["last_caught_up_timestamp"] > BASE_TS
    return p


def test_kafka_python_describe_metadata_quorum(broker):
    admin = kp_admin(broker.bootstrap)
    try:
        before = quorum_partition(admin.describe_metadata_quorum())
        kp_create_topic(admin, TOPIC, 3)
        result = admin.describe_metadata_quorum()
        after = quorum_partition(result)
        # One TopicRecord and three PartitionRecords.
        assert after["high_watermark"] == before["high_watermark"] + 4
        assert after["leader_epoch"] == before["leader_epoch"] >= 1
        (node,) = result["nodes"]
        assert node["node_id"] == NODE_ID
        assert [(x["name"], x["host"], x["port"]) for x in node["listeners"]] == [
            ("PLAINTEXT", broker.host, broker.port)]
        meta = Path(broker.log_dir, "meta.properties").read_text()
        assert "directory.id=" in meta
    finally:
        admin.close()

    broker.restart()
    admin = kp_admin(broker.bootstrap)
    try:
        assert quorum_partition(admin.describe_metadata_quorum())["high_watermark"] == after["high_watermark"]
    finally:
        admin.close()


def test_confluent_elect_leaders_is_never_needed(broker):
    from confluent_kafka import ElectionType, KafkaError, TopicPartition
    from confluent_kafka.admin import NewTopic

    admin = cf_admin(broker.bootstrap)
    fs = admin.create_topics([NewTopic(TOPIC, num_partitions=2, replication_factor=1)], operation_timeout=30)
    assert fs[TOPIC].result(timeout=40) is None
    asked = [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1), TopicPartition(TOPIC, 9),
             TopicPartition("no-such-topic", 0)]
    for election_type in (ElectionType.PREFERRED, ElectionType.UNCLEAN):
        result = admin.elect_leaders(election_type, asked).result(timeout=30)
        codes = {(tp.topic, tp.partition): (err.code() if err is not None else None)
                 for tp, err in result.items()}
        assert codes == {
            (TOPIC, 0): KafkaError.ELECTION_NOT_NEEDED,
            (TOPIC, 1): KafkaError.ELECTION_NOT_NEEDED,
            (TOPIC, 9): KafkaError.UNKNOWN_TOPIC_OR_PART,
            ("no-such-topic", 0): KafkaError.UNKNOWN_TOPIC_OR_PART,
        }, election_type
        for err in result.values():
            assert isinstance(err, KafkaError)
    # All partitions (null): none needs an election, so none is reported.
    assert admin.elect_leaders(ElectionType.PREFERRED, None).result(timeout=30) == {}
