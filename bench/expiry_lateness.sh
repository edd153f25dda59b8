#!/usr/bin/env bash
# How late expiries fire when many orders share a deadline:
#   bench/expiry_lateness.sh [ORDERS] [TTL_SECS] [CONCURRENCY]
# Creates ORDERS orders as fast as loadgen can (orders created within the same second share
# a deadline, since deadlines are whole seconds), lets them all expire, and reports the
# lateness the server logs for each close (now − deadline, after the close is durable).
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS=${1:-10000}
TTL=${2:-20}
CONC=${3:-64}
PORT=${PORT:-18182}
DIR=$(mktemp -d)
trap 'kill -9 $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
cargo build --release --quiet --bin ordercenter --bin loadgen
RUST_LOG=info target/release/ordercenter --listen 127.0.0.1:$PORT --data-dir "$DIR/data" --order-ttl "$TTL" >/dev/null 2>"$DIR/log" &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.01; done
target/release/loadgen --target http://127.0.0.1:$PORT --scenario create --members "$ORDERS" --concurrency "$CONC" --json > "$DIR/create.json"
echo "created: $(cat "$DIR/create.json")"
until [ "$(grep -c 'order closed' "$DIR/log")" -ge "$ORDERS" ]; do sleep 1; done
bash bench/lateness_report.sh "$DIR/log"
