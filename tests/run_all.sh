#!/usr/bin/env bash
# Installs what the tests need on a fresh machine (kcat and openssl from Debian's packages, the Python
# clients from PyPI into .venv) and runs every test: cargo's and the real-client suite.
set -euo pipefail
cd "$(dirname "$0")/.."

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v kcat >/dev/null 2>&1; then
  echo "== installing kcat"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq kcat >/dev/null
fi
if ! command -v openssl >/dev/null 2>&1; then
  # The TLS tests make their certificates with it.
  echo "== installing openssl"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq openssl >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check \
  kafka-python==3.0.12 confluent-kafka==2.16.1 pytest==8.3.3 \
  lz4==4.4.5 zstandard==0.25.0 python-snappy==0.7.3

echo "== cargo test"
cargo build --release --locked --quiet
cargo test --locked

echo "== real clients (kcat, kafka-python, confluent-kafka)"
KAFKA_BROKER_BIN="$PWD/target/release/kafka-broker" .venv/bin/python -m pytest -q tests/clients
