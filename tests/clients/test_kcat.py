"""kcat (Debian's 1.7.1 on librdkafka 2.0.2, which negotiates features by version-range
overlap) against the broker: -L metadata (text and JSON), topic auto-creation on produce with
num.partitions=3, -P with each codec and acks=all, -C -J from the beginning, -Q offsets."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from typing import Dict, List, Sequence

import pytest

from conftest import (
    NUM_PARTITIONS,
    RECORD_COUNT,
    Consumed,
    Rec,
    assert_partitioned_match,
    blocks,
    consumed,
    make_records,
)

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = [
    pytest.mark.skipif(KCAT is None, reason="kcat is not installed"),
    pytest.mark.broker_props(**{"num.partitions": NUM_PARTITIONS, "auto.create.topics.enable": "true"}),
]

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
HEADER_BLOCK = 1000  # kcat -P sets headers per invocation: one invocation per 1000 records


def kcat(*args: str, input: bytes = None, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [KCAT, *args]
    proc = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)} exited {proc.returncode}\nstderr: {proc.stderr.decode(errors='replace')[-3000:]}"
    )
    return proc


def kcat_produce(bootstrap: str, topic: str, records: Sequence[Rec], codec: str) -> None:
    for chunk in blocks(records, HEADER_BLOCK):
        headers = chunk[0].headers
        assert all(r.headers == headers for r in chunk)
        args = ["-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-X", "acks=all"]
        if codec != "none":
            args += ["-z", codec]
        for name, value in headers:
            args += ["-H", f"{name}={value.decode()}"]
        data = b"".join(r.key + b"\t" + r.value + b"\n" for r in chunk)
        proc = kcat(*args, input=data)
        err = proc.stderr.decode(errors="replace")
        assert not re.search(r"error|fail", err, re.I), f"kcat -P reported: {err[-3000:]}"


def kcat_consume(bootstrap: str, topic: str) -> List[Consumed]:
    proc = kcat("-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-J", timeout=120)
    out = []
    for line in proc.stdout.splitlines():
        m = json.loads(line)
        assert m["topic"] == topic
        h = m.get("headers") or []
        headers = [(h[i], h[i + 1].encode()) for i in range(0, len(h), 2)]
        key = None if m["key"] is None else m["key"].encode()
        value = None if m["payload"] is None else m["payload"].encode()
        out.append(consumed(m["partition"], m["offset"], key, value, headers))
    return out


def kcat_query(bootstrap: str, topic: str, partition: int, timestamp: int) -> int:
    """-Q: ListOffsets for one partition (-1 latest, -2 earliest, else a timestamp)."""
    proc = kcat("-Q", "-b", bootstrap, "-t", f"{topic}:{partition}:{timestamp}", "-J")
    res = json.loads(proc.stdout)
    entry = res[topic][str(partition)]
    assert entry["partition"] == partition and "error" not in entry, res
    return entry["offset"]


def kcat_metadata(bootstrap: str) -> dict:
    return json.loads(kcat("-L", "-b", bootstrap, "-J").stdout)


def test_metadata_lists_broker_and_topics(broker):
    md = kcat_metadata(broker.bootstrap)
    assert [b["name"] for b in md["brokers"]] == [broker.bootstrap]
    broker_id = md["brokers"][0]["id"]
    assert md["controllerid"] == broker_id
    assert md["topics"] == []

    # Auto-created by producing (num.partitions=3), and one created through the admin API.
    kcat_produce(broker.bootstrap, "kc-meta-auto", make_records(30, max_size=100, printable=True,
                                                                header_block=HEADER_BLOCK), "none")
    from clientlib import cf_create_topic

    cf_create_topic(broker.bootstrap, "kc-meta-one", 1)

    md = kcat_metadata(broker.bootstrap)
    topics = {t["topic"]: t for t in md["topics"]}
    assert set(topics) == {"kc-meta-auto", "kc-meta-one"}
    for name, count in (("kc-meta-auto", 3), ("kc-meta-one", 1)):
        t = topics[name]
        assert "error" not in t, t
        parts = sorted(t["partitions"], key=lambda p: p["partition"])
        assert [p["partition"] for p in parts] == list(range(count))
        for p in parts:
            assert p["leader"] == broker_id
            assert p["replicas"] == [{"id": broker_id}]
            assert p["isrs"] == [{"id": broker_id}]

    text = kcat("-L", "-b", broker.bootstrap).stdout.decode()
    assert re.search(rf"broker {broker_id} at {re.escape(broker.bootstrap)} \(controller\)", text), text
    assert 'topic "kc-meta-auto" with 3 partitions:' in text, text
    assert 'topic "kc-meta-one" with 1 partitions:' in text, text

    # -L -t: metadata for one topic only.
    one = json.loads(kcat("-L", "-b", broker.bootstrap, "-t", "kc-meta-auto", "-J").stdout)
    assert [t["topic"] for t in one["topics"]] == ["kc-meta-auto"]
    assert len(one["topics"][0]["partitions"]) == 3


@pytest.mark.parametrize("codec", CODECS)
def test_produce_consume_roundtrip(broker, codec):
    topic = f"kc-{codec}"
    records = make_records(RECORD_COUNT, max_size=64 * 1024 if codec == "none" else 4096,
                           printable=True, header_block=HEADER_BLOCK)
    kcat_produce(broker.bootstrap, topic, records, codec)  # auto-creates the topic

    md = kcat_metadata(broker.bootstrap)
    (t,) = [t for t in md["topics"] if t["topic"] == topic]
    assert len(t["partitions"]) == NUM_PARTITIONS

    got = kcat_consume(broker.bootstrap, topic)
    counts = assert_partitioned_match(records, got)

    for p in range(NUM_PARTITIONS):
        assert kcat_query(broker.bootstrap, topic, p, -2) == 0, f"partition {p} earliest"
        assert kcat_query(broker.bootstrap, topic, p, -1) == counts[p], f"partition {p} latest"
        assert kcat_query(broker.bootstrap, topic, p, 0) == 0, f"partition {p} first at/after ts 0"

    # kcat cannot delete topics: delete through the admin API, then kcat must not list it.
    from clientlib import cf_delete_topic_and_check_gone

    cf_delete_topic_and_check_gone(broker.bootstrap, topic)
    md = kcat_metadata(broker.bootstrap)
    assert topic not in [t["topic"] for t in md["topics"]]


def test_consume_from_offsets(broker):
    """-o <offset> and -o -N (relative to the end) start exactly where asked."""
    topic = "kc-offsets"
    records = make_records(3000, max_size=1000, printable=True, header_block=HEADER_BLOCK)
    kcat_produce(broker.bootstrap, topic, records, "lz4")
    full = kcat_consume(broker.bootstrap, topic)
    by_part: Dict[int, List[Consumed]] = {}
    for c in full:
        by_part.setdefault(c.partition, []).append(c)
    for p, recs in by_part.items():
        mid = len(recs) // 2
        proc = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-p", str(p), "-o", str(mid), "-e", "-J")
        got = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [g["offset"] for g in got] == list(range(mid, len(recs)))
        assert [g["payload"].encode() for g in got] == [r.value for r in recs[mid:]]
        proc = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-p", str(p), "-o", "-5", "-e", "-J")
        got = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [g["offset"] for g in got] == list(range(len(recs) - 5, len(recs)))
