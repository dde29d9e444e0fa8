"""A full disk with real clients: the log dir is a small tmpfs (CI runs as root; the test is
skipped where mounting fails). While it is full the broker answers Produce with
KAFKA_STORAGE_ERROR (56), which confluent-kafka and kafka-python producers retry; once
space frees every record is delivered, exactly once and in order, with no error given to
the application, and the broker logged one WARN as the condition started and one as it
ended."""

import os
import subprocess
import time

import pytest
from confluent_kafka import Producer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from clientlib import cf_create_topic
from conftest import Broker


@pytest.fixture
def full_disk_broker(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(logs)]).returncode:
        pytest.skip("cannot mount a tmpfs (not root?)")
    b = Broker(tmp_path, {})
    try:
        yield b
    finally:
        if b.proc is not None and b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait(10)
        subprocess.run(["umount", "-l", str(logs)])


def fill(path):
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def test_producers_retry_through_a_full_disk_and_deliver_everything(full_disk_broker):
    b = full_disk_broker
    cf_create_topic(b.bootstrap, "full", 1)
    filler = b.log_dir / "filler"
    fill(filler)
    cf_errors, cf_offsets = [], []
    cf = Producer({"bootstrap.servers": b.bootstrap, "acks": "all", "retry.backoff.ms": 200,
                   "message.timeout.ms": 60000})
    for i in range(3):
        cf.produce("full", b"c%d" % i + b"x" * 10000,
                   callback=lambda e, m: cf_errors.append(e) if e else cf_offsets.append(m.offset()))
    kp = KafkaProducer(bootstrap_servers=b.bootstrap, acks="all", retries=1000,
                       retry_backoff_ms=200, request_timeout_ms=60000, delivery_timeout_ms=120000)
    kp_futures = [kp.send("full", b"k%d" % i + b"y" * 10000) for i in range(3)]
    cf.poll(3)
    assert cf_offsets == [] and cf_errors == [], "nothing is stored while the disk is full"
    assert not any(f.is_done for f in kp_futures)
    os.remove(filler)
    assert cf.flush(30) == 0
    kp_offsets = [f.get(timeout=30).offset for f in kp_futures]
    kp.close()
    assert cf_errors == []
    assert sorted(cf_offsets + kp_offsets) == list(range(6))
    consumer = KafkaConsumer(bootstrap_servers=b.bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=10000)
    tp = TopicPartition("full", 0)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    values = []
    deadline = time.time() + 20
    while len(values) < 6 and time.time() < deadline:
        for records in consumer.poll(timeout_ms=1000).values():
            values.extend(r.value[:2] for r in records)
    consumer.close()
    assert sorted(values) == [b"c0", b"c1", b"c2", b"k0", b"k1", b"k2"]
    log = b.log_path.read_text()
    assert log.count("appends failing") == 1, log
    assert log.count("appends succeed again") == 1, log
