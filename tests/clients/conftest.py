"""Shared harness for the real-client end-to-end tests.

* ``broker`` fixture: starts ``$KAFKA_BROKER_BIN <server.properties>`` on an ephemeral loopback
  port with a fresh log dir, and kills it at teardown. ``.kill9()``, ``.stop()`` and
  ``.restart()`` (same log dir and properties; the port may change, ``.bootstrap`` follows).
  Extra broker properties come from ``@pytest.mark.broker_props(**{"num.partitions": 3})``;
  a callable value is called when the broker is set up (e.g. to pick a free fixed port).
  The broker's stderr is drained into ``<tmp>/broker.log``; when a test fails, the tail of that
  log is attached to the failure report. ``RUST_LOG`` is passed through (default ``info``).
* ``make_records``: the deterministic test data (10,000 keyed records, mixed sizes, 1-2 headers).
* ``assert_partitioned_match``: compares consumed records against produced ones, per partition,
  in order, exactly (key, value, headers), and checks the offsets are 0..n-1.
"""

from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

NUM_PARTITIONS = 3
RECORD_COUNT = 10_000
# Explicit CreateTime timestamps for producers that can set them: record i gets BASE_TS + i.
BASE_TS = 1_700_000_000_000

_LISTEN_RE = re.compile(r"listening on (\S+):(\d+) with log dir")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "broker_props(**props): extra server.properties entries for the broker fixture"
    )
    # kafka-python 3.0 loads its schemas with importlib.resources' deprecated API.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:kafka.*")
    config.addinivalue_line("filterwarnings", "ignore:.*is deprecated. Use files:DeprecationWarning")


# --------------------------------------------------------------------------------------------
# Broker process
# --------------------------------------------------------------------------------------------


def broker_bin() -> str:
    path = os.environ.get("KAFKA_BROKER_BIN")
    if not path:
        pytest.fail("KAFKA_BROKER_BIN is not set (path to the release kafka-broker binary)")
    if not os.access(path, os.X_OK):
        pytest.fail(f"KAFKA_BROKER_BIN={path} is not an executable file")
    return path


class Broker:
    """One broker process (restartable) on a fixed log dir."""

    START_TIMEOUT = 20.0

    def __init__(self, tmp: Path, props: Dict[str, object]):
        self.tmp = tmp
        self.log_dir = tmp / "logs"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = tmp / "broker.log"
        self.props_path = tmp / "server.properties"
        all_props = {
            "listeners": "PLAINTEXT://127.0.0.1:0",
            "log.dirs": str(self.log_dir),
        }
        # KAFKA_BROKER_SYNC=blocking: the blocking fdatasync fallback instead of io_uring.
        if os.environ.get("KAFKA_BROKER_SYNC") == "blocking":
            all_props["log.flush.io.uring"] = "false"
        all_props.update({k: str(v) for k, v in props.items()})
        self.props_path.write_text("".join(f"{k}={v}\n" for k, v in all_props.items()))
        self.proc: Optional[subprocess.Popen] = None
        self.host: Optional[str] = None
        self.port: Optional[int] = None
        self.starts = 0
        self._drain: Optional[threading.Thread] = None
        self._log_lock = threading.Lock()
        self.start()

    @property
    def bootstrap(self) -> str:
        assert self.port is not None, "broker is not running"
        return f"{self.host}:{self.port}"

    def _log_line(self, line: str) -> None:
        with self._log_lock:
            with open(self.log_path, "a", encoding="utf-8", errors="replace") as f:
                f.write(line)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.starts += 1
        self._log_line(f"===== test harness: broker start #{self.starts} =====\n")
        env = dict(os.environ)
        env.setdefault("RUST_LOG", "info")
        proc = subprocess.Popen(
            [broker_bin(), str(self.props_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.proc = proc
        found = threading.Event()
        addr: List[Tuple[str, int]] = []

        def drain():
            assert proc.stderr is not None
            for raw in iter(proc.stderr.readline, b""):
                line = raw.decode("utf-8", errors="replace")
                self._log_line(line)
                if not found.is_set():
                    m = _LISTEN_RE.search(line)
                    if m:
                        addr.append((m.group(1), int(m.group(2))))
                        found.set()
            proc.stderr.close()

        self._drain = threading.Thread(target=drain, name=f"broker-stderr-{self.starts}", daemon=True)
        self._drain.start()
        deadline = time.monotonic() + self.START_TIMEOUT
        while not found.wait(0.05):
            if proc.poll() is not None:
                self._drain.join(2)
                pytest.fail(
                    f"broker exited with status {proc.returncode} before listening\n"
                    + self.log_tail()
                )
            if time.monotonic() > deadline:
                self.kill9()
                pytest.fail("broker did not print its listening line in time\n" + self.log_tail())
        self.host, self.port = addr[0]

    def _wait_exit(self, timeout: float) -> None:
        assert self.proc is not None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self._drain is not None:
            self._drain.join(5)
        self.port = None

    def _assert_alive(self, action: str) -> None:
        if self.proc is not None and self.proc.poll() is not None and self.port is not None:
            pytest.fail(f"broker had already exited with status {self.proc.returncode} before {action}\n"
                        + self.log_tail())

    def kill9(self) -> None:
        """SIGKILL: no chance to flush anything that is not already on disk."""
        self._assert_alive("kill -9")
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self._wait_exit(10)
            self._log_line(f"===== test harness: broker killed (-9), status {self.proc.returncode} =====\n")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        self._assert_alive("stop")
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if self.proc is not None:
            self._wait_exit(10)
            self._log_line(f"===== test harness: broker stopped, status {self.proc.returncode} =====\n")

    def restart(self) -> None:
        """Start again on the same log dir and properties (stops it first if still running)."""
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
        self.start()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 80) -> str:
        try:
            with self._log_lock:
                text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no broker log)"
        tail = text.splitlines()[-lines:]
        return f"--- tail of {self.log_path} ---\n" + "\n".join(tail)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed and rep.when in ("setup", "call"):
        b = getattr(item, "_kafka_broker", None)
        if b is not None:
            rep.sections.append(("broker log", b.log_tail()))


@pytest.fixture
def broker(request, tmp_path):
    props = {}
    for mark in reversed(list(request.node.iter_markers("broker_props"))):
        props.update(mark.kwargs)
    props = {k: (v() if callable(v) else v) for k, v in props.items()}
    b = Broker(tmp_path, props)
    request.node._kafka_broker = b
    try:
        yield b
    finally:
        if b.proc is not None and b.proc.poll() is None:
            b.proc.kill()
            b.proc.wait(10)
        # A broker that died on its own during the test is a bug worth seeing.
        if b.proc is not None and b.proc.returncode not in (-signal.SIGKILL, -signal.SIGTERM, 0):
            pytest.fail(f"broker exited unexpectedly with status {b.proc.returncode}\n" + b.log_tail())


def wait_until(pred, timeout: float, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = pred()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rec:
    key: bytes
    value: bytes
    headers: Tuple[Tuple[str, bytes], ...]

    def short(self) -> str:
        v = self.value if len(self.value) <= 24 else self.value[:24] + b"..."
        return f"Rec(key={self.key!r}, value[{len(self.value)}]={v!r}, headers={list(self.headers)!r})"


_WORDS = [
    b"kafka", b"broker", b"partition", b"offset", b"record", b"batch", b"leader", b"epoch",
    b"segment", b"index", b"fetch", b"produce", b"topic", b"replica", b"watermark", b"crc",
]
_PRINTABLE = bytes(range(0x21, 0x7F))  # no space, tab, newline: safe for kcat's line format


def _value(rng: random.Random, size: int, i: int, printable: bool) -> bytes:
    prefix = b"v%05d:" % i
    size = max(size, len(prefix))
    body = size - len(prefix)
    if printable:
        if rng.random() < 0.5:
            # compressible text
            out = bytearray()
            while len(out) < body:
                out += rng.choice(_WORDS) + b"-"
            data = bytes(out[:body])
        else:
            data = bytes(rng.choices(_PRINTABLE, k=body))
    else:
        r = rng.random()
        if r < 0.4:
            out = bytearray()
            while len(out) < body:
                out += rng.choice(_WORDS) + b" "
            data = bytes(out[:body])
        elif r < 0.7:
            data = rng.randbytes(body)
        else:
            # half pattern, half noise, with the bytes that break naive framing
            half = body // 2
            data = (b"\x00\n\t\xff\r" * (half // 5 + 1))[:half] + rng.randbytes(body - half)
    return prefix + data


def make_records(
    n: int = RECORD_COUNT,
    *,
    max_size: int = 64 * 1024,
    printable: bool = False,
    header_block: int = 1,
    seed: int = 20240607,
    keys: int = 30,
) -> List[Rec]:
    """Deterministic keyed records.

    Sizes: ~90% small (1-512 B), ~8% medium (up to 8 KiB), ~2% large (up to ``max_size``),
    always including one record of exactly ``max_size``. Keys cycle over ``keys`` values so a
    keyed partitioner spreads them over 3 partitions. Headers: 1 or 2 per record; with
    ``header_block`` > 1, records in the same block of that many share their headers (kcat's
    producer can only set headers per invocation). ``printable`` gives values and header values
    without whitespace or control bytes (kcat's line-based input).
    """
    rng = random.Random(seed)
    medium_max = min(8 * 1024, max_size)
    out = []
    for i in range(n):
        r = rng.random()
        if i == n // 2:
            size = max_size
        elif r < 0.90:
            size = rng.randint(1, 512)
        elif r < 0.98:
            size = rng.randint(513, medium_max) if medium_max > 513 else medium_max
        else:
            size = rng.randint(medium_max, max_size)
        key = b"key-%02d" % (i % keys)
        value = _value(rng, size, i, printable)
        blk = i // header_block
        if header_block == 1:
            headers = [("seq", b"%d" % i)]
            if i % 3 == 0:
                hv = b"h2-" + (bytes(rng.choices(_PRINTABLE, k=rng.randint(0, 40))) if printable
                               else rng.randbytes(rng.randint(0, 40)))
                headers.append(("extra", hv))
        else:
            headers = [("block", b"%d" % blk)]
            if blk % 2 == 1:
                headers.append(("odd-block", b"yes-%d" % (blk * 7)))
        out.append(Rec(key, value, tuple(headers)))
    return out


def blocks(records: Sequence[Rec], block: int):
    """Splits records into consecutive chunks of ``block`` (for per-invocation kcat headers)."""
    return [records[i:i + block] for i in range(0, len(records), block)]


# --------------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------------


@dataclass
class Consumed:
    partition: int
    offset: int
    key: Optional[bytes]
    value: Optional[bytes]
    headers: Tuple[Tuple[str, bytes], ...] = field(default_factory=tuple)
    timestamp: Optional[int] = None


def _norm_headers(headers) -> Tuple[Tuple[str, bytes], ...]:
    out = []
    for k, v in headers or ():
        if isinstance(k, bytes):
            k = k.decode("utf-8")
        if isinstance(v, str):
            v = v.encode("utf-8")
        out.append((k, v))
    return tuple(out)


def consumed(partition, offset, key, value, headers, timestamp=None) -> Consumed:
    return Consumed(partition, offset, key, value, _norm_headers(headers), timestamp)


def assert_partitioned_match(
    produced: Sequence[Rec],
    got: Sequence[Consumed],
    *,
    num_partitions: int = NUM_PARTITIONS,
    produced_partitions: Optional[Sequence[int]] = None,
    require_all_partitions: bool = True,
    timestamps: Optional[Sequence[int]] = None,
) -> Dict[int, int]:
    """Every produced record was consumed exactly once, per partition in produce order, with
    identical key, value and headers, at offsets 0..n-1 of its partition.

    The partition of each produced record comes from ``produced_partitions`` (delivery reports)
    when given, else from where its key was found (a keyed partitioner maps a key to one
    partition). With ``timestamps`` (CreateTime per produced record) those are compared too.
    Returns {partition: record count}.
    """
    by_part: Dict[int, List[Consumed]] = {}
    for c in got:
        by_part.setdefault(c.partition, []).append(c)
    assert set(by_part) <= set(range(num_partitions)), f"records in unexpected partitions {sorted(by_part)}"
    if require_all_partitions:
        assert len(by_part) == num_partitions, (
            f"records landed in partitions {sorted(by_part)}, expected all {num_partitions}"
        )

    # Per partition the consumer must see offsets 0, 1, 2, ... with no gap or duplicate.
    for p, recs in sorted(by_part.items()):
        offsets = [c.offset for c in recs]
        if offsets != list(range(len(offsets))):
            bad = next(i for i, o in enumerate(offsets) if o != i)
            raise AssertionError(
                f"partition {p}: offsets are not 0..{len(offsets) - 1}: at position {bad} got "
                f"{offsets[max(0, bad - 3):bad + 3]}"
            )

    key_part: Dict[bytes, int] = {}
    for c in got:
        prev = key_part.setdefault(c.key, c.partition)
        assert prev == c.partition, f"key {c.key!r} found in partitions {prev} and {c.partition}"

    if produced_partitions is not None:
        assert len(produced_partitions) == len(produced)
        expected_part = list(produced_partitions)
    else:
        missing = {r.key for r in produced} - set(key_part)
        assert not missing, f"no record consumed for keys {sorted(missing)[:10]}"
        expected_part = [key_part[r.key] for r in produced]

    assert len(got) == len(produced), f"consumed {len(got)} records, produced {len(produced)}"

    counts = {}
    for p in range(num_partitions):
        if timestamps is not None:
            exp_ts = [t for t, ep in zip(timestamps, expected_part) if ep == p]
            act_ts = [c.timestamp for c in by_part.get(p, [])]
            if act_ts != exp_ts:
                bad = next(i for i, (a, e) in enumerate(zip(act_ts, exp_ts)) if a != e)
                raise AssertionError(
                    f"partition {p} position {bad}: timestamp {act_ts[bad]}, produced with {exp_ts[bad]}"
                )
        exp = [r for r, ep in zip(produced, expected_part) if ep == p]
        act = by_part.get(p, [])
        assert len(act) == len(exp), f"partition {p}: consumed {len(act)} records, expected {len(exp)}"
        for i, (e, a) in enumerate(zip(exp, act)):
            if a.key != e.key or a.value != e.value or a.headers != e.headers:
                av = a.value if a.value is None or len(a.value) <= 24 else a.value[:24] + b"..."
                raise AssertionError(
                    f"partition {p} position {i} (offset {a.offset}) differs:\n"
                    f"  expected {e.short()}\n"
                    f"  consumed key={a.key!r} value[{None if a.value is None else len(a.value)}]"
                    f"={av!r} headers={list(a.headers)!r}\n"
                    f"  key equal={a.key == e.key} value equal={a.value == e.value} "
                    f"headers equal={a.headers == e.headers}"
                )
        counts[p] = len(act)
    return counts


def total_bytes(records: Sequence[Rec]) -> int:
    return sum(len(r.key) + len(r.value) + sum(len(k) + len(v) for k, v in r.headers) for r in records)
