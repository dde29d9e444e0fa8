#!/bin/sh
# Runs the broker: builds the release binary if needed (a no-op when it is current), then
# replaces this shell with it. Works from any working directory.
set -e
cd "$(dirname "$0")"
cargo build --release --quiet --locked --bin kafka-broker
exec ./target/release/kafka-broker "$@"
