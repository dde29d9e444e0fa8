"""kcat (librdkafka) reading a partition with transactions in it, at both isolation levels.
The log is made with raw requests, as a coordinator would make it (this broker's transaction
coordinator is a separate piece): transactional batches produced with a transactional id,
COMMIT and ABORT markers written with WriteTxnMarkers. read_committed sees the committed
records and the plain one, not the aborted ones and not those of the transaction still
open (they lie past the last stable offset); read_uncommitted sees every record."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import List, Optional

import pytest

from conftest import BASE_TS

pytest.importorskip("kafka")

from kafka.protocol.api_key import ApiKey  # noqa: E402
from kafka.record.memory_records import MemoryRecordsBuilder  # noqa: E402

from test_oracle import REQUESTS, RESPONSES, Conn  # noqa: E402

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat is not installed")

TOPIC = "txn-kcat"


class Raw:
    def __init__(self, broker):
        self.conn = Conn(broker)

    def call(self, key: int, version: int, **fields):
        req = REQUESTS[key](version=version, **fields)
        req.with_header(correlation_id=self.conn.next_correlation_id(), client_id="txn-kcat")
        frame = self.conn.roundtrip(req.encode(header=True, framed=True))
        return RESPONSES[key].decode(frame, version=version, header=True)


def batch(values: List[bytes], pid: int = -1, epoch: int = -1, seq: int = -1, transactional: bool = False) -> bytes:
    builder = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20, transactional=transactional,
                                   producer_id=pid, producer_epoch=epoch, base_sequence=seq)
    for i, value in enumerate(values):
        builder.append(timestamp=BASE_TS + i, key=b"k-" + value, value=value, headers=[])
    builder.close()
    return bytes(builder.buffer())


def produce(raw: Raw, records: bytes, transactional_id: Optional[str]) -> int:
    prod = REQUESTS[ApiKey.Produce].TopicProduceData
    resp = raw.call(ApiKey.Produce, 9, transactional_id=transactional_id, acks=-1, timeout_ms=10000,
                    topic_data=[prod(name=TOPIC, partition_data=[prod.PartitionProduceData(index=0, records=records)])])
    p = resp.responses[0].partition_responses[0]
    assert p.error_code == 0, resp
    return p.base_offset


def marker(raw: Raw, pid: int, epoch: int, commit: bool) -> None:
    m = REQUESTS[ApiKey.WriteTxnMarkers].WritableTxnMarker
    resp = raw.call(ApiKey.WriteTxnMarkers, 1, markers=[m(
        producer_id=pid, producer_epoch=epoch, transaction_result=commit, coordinator_epoch=0,
        topics=[m.WritableTxnMarkerTopic(name=TOPIC, partition_indexes=[0])])])
    codes = [p.error_code for r in resp.markers for t in r.topics for p in t.partitions]
    assert codes == [0], resp


def kcat_values(bootstrap: str, isolation: str) -> List[tuple]:
    proc = subprocess.run([KCAT, "-C", "-b", bootstrap, "-t", TOPIC, "-o", "beginning", "-e", "-J",
                           "-X", f"isolation.level={isolation}"], capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    return [(m["offset"], m["payload"]) for m in map(json.loads, proc.stdout.splitlines())]


def test_kcat_read_committed_skips_aborted_and_open_transactions(broker):
    raw = Raw(broker)
    ct = REQUESTS[ApiKey.CreateTopics]
    made = raw.call(ApiKey.CreateTopics, 5, topics=[ct.CreatableTopic(
        name=TOPIC, num_partitions=1, replication_factor=1, assignments=[], configs=[])],
        timeout_ms=10000, validate_only=False)
    assert made.topics[0].error_code == 0, made
    init = raw.call(ApiKey.InitProducerId, 4, transactional_id=None, transaction_timeout_ms=60000,
                    producer_id=-1, producer_epoch=-1)
    pid, epoch = init.producer_id, init.producer_epoch
    tx = "kcat-tx"
    assert produce(raw, batch([b"c0", b"c1"], pid, epoch, 0, True), tx) == 0
    marker(raw, pid, epoch, True)  # 2
    assert produce(raw, batch([b"a0", b"a1"], pid, epoch, 2, True), tx) == 3
    marker(raw, pid, epoch, False)  # 5
    assert produce(raw, batch([b"p0"]), None) == 6
    assert produce(raw, batch([b"o0"], pid, epoch, 4, True), tx) == 7  # left open

    committed = kcat_values(broker.bootstrap, "read_committed")
    assert committed == [(0, "c0"), (1, "c1"), (6, "p0")], committed
    uncommitted = kcat_values(broker.bootstrap, "read_uncommitted")
    assert uncommitted == [(0, "c0"), (1, "c1"), (3, "a0"), (4, "a1"), (6, "p0"), (7, "o0")], uncommitted
