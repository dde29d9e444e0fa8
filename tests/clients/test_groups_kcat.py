"""kcat (Debian's 1.7.1 on librdkafka 2.0.2) in balanced-consumer mode (-G) against the
broker: every record consumed exactly once and in order, offsets committed (kcat leaves
enable.auto.commit on and commits when it exits), a second run of the same group resumes
after them; and -L after group use lists the broker, the topic and __consumer_offsets with
offsets.topic.num.partitions partitions.

kcat -G with -e exits once every assigned partition reached its end (verified with 1.7.1), so
the runs need no killing; the subprocess timeout only guards against a hang."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from typing import Dict, List, Tuple

import pytest

from clientlib import cf_create_topic, kp_admin
from grouplib import GROUP_PARTITIONS, GROUP_PROPS, assert_exactly_once, cf_produce_keyed, unique_records

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = [
    pytest.mark.skipif(KCAT is None, reason="kcat is not installed"),
    pytest.mark.broker_props(**GROUP_PROPS),
]


def kcat_group_run(bootstrap: str, group: str, topic: str, timeout: float = 60) -> List[Tuple[int, int, bytes]]:
    """One `kcat -G` run from the committed offsets (earliest when none) to the end; returns
    (partition, offset, key) per record printed."""
    cmd = [KCAT, "-b", bootstrap, "-G", group, "-X", "auto.offset.reset=earliest", "-e",
           "-f", "%p %o %k\n", topic]
    proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}\nstderr: {err[-3000:]}"
    assert "error" not in err.lower(), f"kcat -G reported: {err[-3000:]}"
    out = []
    for line in proc.stdout.splitlines():
        p, o, k = line.split(b" ", 2)
        out.append((int(p), int(o), k))
    return out


def check_in_order(rows: List[Tuple[int, int, bytes]], where: Dict[bytes, Tuple[int, int]], start: Dict[int, int]):
    """Each record at the partition and offset it was acknowledged with; per partition the
    offsets run contiguously from ``start``."""
    per: Dict[int, List[int]] = {}
    for p, o, k in rows:
        assert where[k] == (p, o), f"key {k!r} printed at {p}/{o}, acknowledged at {where[k]}"
        per.setdefault(p, []).append(o)
    for p, offs in per.items():
        assert offs == list(range(start.get(p, 0), start.get(p, 0) + len(offs))), f"partition {p}: offsets {offs[:10]}..."


def test_kcat_group_consumes_once_commits_and_resumes(broker):
    topic, group = "grp-kcat", "kcat-group"
    cf_create_topic(broker.bootstrap, topic, GROUP_PARTITIONS)
    first = unique_records(400, prefix="kc1")
    where = cf_produce_keyed(broker.bootstrap, topic, first)
    rows = kcat_group_run(broker.bootstrap, group, topic)
    assert_exactly_once([k for k, _ in first], [k for _, _, k in rows], "kcat -G, first run")
    check_in_order(rows, where, {})

    ends = Counter(p for p, _ in where.values())
    admin = kp_admin(broker.bootstrap)
    try:
        offsets = admin.list_group_offsets(group)[group]
        assert {(tp.topic, tp.partition): om.offset for tp, om in offsets.items()} == \
            {(topic, p): ends[p] for p in range(GROUP_PARTITIONS)}
    finally:
        admin.close()

    # Same group again: nothing new, nothing printed.
    assert kcat_group_run(broker.bootstrap, group, topic) == []

    second = unique_records(100, prefix="kc2")
    where2 = cf_produce_keyed(broker.bootstrap, topic, second)
    rows = kcat_group_run(broker.bootstrap, group, topic)
    assert_exactly_once([k for k, _ in second], [k for _, _, k in rows], "kcat -G, run after more records")
    check_in_order(rows, where2, dict(ends))


def test_kcat_metadata_after_group_use(broker):
    topic, group = "grp-kcat-meta", "kcat-meta-group"
    cf_create_topic(broker.bootstrap, topic, GROUP_PARTITIONS)
    cf_produce_keyed(broker.bootstrap, topic, unique_records(20, prefix="m"))
    assert len(kcat_group_run(broker.bootstrap, group, topic)) == 20

    proc = subprocess.run([KCAT, "-L", "-J", "-b", broker.bootstrap], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    md = json.loads(proc.stdout)
    assert [b["name"] for b in md["brokers"]] == [broker.bootstrap], md["brokers"]
    assert md["controllerid"] == md["brokers"][0]["id"]
    topics = {t["topic"]: t for t in md["topics"]}
    assert set(topics) == {topic, "__consumer_offsets"}, sorted(topics)
    for name, count in [(topic, GROUP_PARTITIONS), ("__consumer_offsets", GROUP_PROPS["offsets.topic.num.partitions"])]:
        t = topics[name]
        assert "error" not in t, t
        assert sorted(p["partition"] for p in t["partitions"]) == list(range(count)), t
        assert all(p["leader"] == md["brokers"][0]["id"] for p in t["partitions"]), t

    # The text form names the same topics and partition counts.
    proc = subprocess.run([KCAT, "-L", "-b", broker.bootstrap, "-t", topic], capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    text = proc.stdout.decode()
    assert f'topic "{topic}" with {GROUP_PARTITIONS} partitions:' in text, text
