#!/usr/bin/env bash
# Fuzzes whole request frames through the broker's Service interface with AFL++ (cargo-afl,
# stable toolchain) for SECONDS (default 60) on one core, then prints the executions and
# crashes from AFL's fuzzer_stats. Exits 1 if any crash was found, 2 on a setup failure.
#
#   tests/fuzz/run.sh [SECONDS]
#
# Installs cargo-afl from crates.io and builds its AFL++ when missing (both idempotent).
# FUZZ_OUT (default /tmp/fuzz-out) receives AFL's output and is emptied first;
# KAFKA_FUZZ_DIR (default /dev/shm/kafka-broker-fuzz, tmpfs) holds the brokers' log dirs;
# KAFKA_FUZZ_REOPEN_EVERY (default 1000) is how many inputs one broker serves.
set -euo pipefail

seconds=${1:-60}
case "$seconds" in '' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_OUT:-/tmp/fuzz-out}
export KAFKA_FUZZ_DIR=${KAFKA_FUZZ_DIR:-/dev/shm/kafka-broker-fuzz}
# A crash's input history (every input its broker saw) goes here; see src/main.rs.
export KAFKA_FUZZ_HISTORY="$out/histories"
cargo_afl_version=0.18.2

if ! cargo afl --version 2>/dev/null | grep -q "^cargo-afl $cargo_afl_version "; then
  echo "== installing cargo-afl $cargo_afl_version"
  cargo install --locked cargo-afl --version "$cargo_afl_version"
fi
# Builds AFL++ (afl-fuzz and the runtime) for this rustc; refuses when already built.
config_log=$(mktemp)
if ! cargo afl config --build >"$config_log" 2>&1 && ! grep -q 'already built' "$config_log"; then
  cat "$config_log" >&2
  rm -f "$config_log"
  echo "cargo afl config --build failed" >&2
  exit 2
fi
rm -f "$config_log"

echo "== building the fuzz target"
(cd "$here" && cargo afl build --release --locked --quiet)
target="$here/target/release/frames"

# Each partition log keeps a file open.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
rm -rf "$out" "$KAFKA_FUZZ_DIR"
mkdir -p "$out" "$KAFKA_FUZZ_DIR"

export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1
# Pinning fails when the other core is busy; one afl-fuzz uses one core anyway.
export AFL_NO_AFFINITY=1
echo "== fuzzing for ${seconds}s (output in $out)"
status=0
# An input normally takes well under a millisecond; one over 200 ms (CreateTopics with
# thousands of partitions) is set aside as a "hang" rather than fuzzed further.
cargo afl fuzz -i "$here/corpus" -o "$out" -V "$seconds" -t 200 -- "$target" \
  >"$out/afl-fuzz.log" 2>&1 || status=$?
rm -rf "$KAFKA_FUZZ_DIR"

stats="$out/default/fuzzer_stats"
if [ ! -f "$stats" ]; then
  tail -n 30 "$out/afl-fuzz.log" >&2
  echo "afl-fuzz exited with $status and wrote no fuzzer_stats" >&2
  exit 2
fi
stat() { sed -n "s/^$1 *: *//p" "$stats"; }
crashes=$(stat saved_crashes)
echo "executions:     $(stat execs_done) ($(stat execs_per_sec)/s over $(stat run_time)s)"
echo "corpus:         $(stat corpus_count) inputs, coverage $(stat bitmap_cvg), stability $(stat stability)"
echo "slow (>200 ms): $(stat saved_hangs) (AFL's hangs, in $out/default/hangs)"
echo "crashes:        $crashes"
if [ "${crashes:-0}" -gt 0 ]; then
  echo "crashing inputs (replay: $target --replay FILE):"
  find "$out/default/crashes" -type f -name 'id:*' | sort
  echo "their brokers' input histories (replay: $target --replay-seq DIR/*):"
  find "$out/histories" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | sort
  exit 1
fi
if [ "$status" -ne 0 ]; then
  tail -n 30 "$out/afl-fuzz.log" >&2
  echo "afl-fuzz exited with $status" >&2
  exit 2
fi
