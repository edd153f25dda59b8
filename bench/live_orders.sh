#!/usr/bin/env bash
# Live orders in memory and recovery time:
#   [BIN=dir] bench/live_orders.sh [ORDERS] [CONCURRENCY]
# Starts a release server on a fresh data dir with a 1-hour TTL, creates ORDERS live orders
# with loadgen, reports RSS before/after and per order, then kill -9 and restarts on the
# same data dir and times start → /readyz (every order's actor and timer restored).
# BIN names a directory holding other `ordercenter` and `loadgen` binaries (a baseline build,
# say) to measure instead of this worktree's target/release, which is then not built.
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS=${1:-100000}
CONC=${2:-64}
PORT=${PORT:-18181}
DIR=$(mktemp -d)
trap 'kill -9 $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
BIN=${BIN:-target/release}
if [ "$BIN" = target/release ]; then cargo build --release --quiet --bin ordercenter --bin loadgen; fi
LOADGEN=$BIN/loadgen
BIN=$BIN/ordercenter
rss_kib() { awk '/VmRSS/ {print $2}' /proc/"$1"/status; }
wait_ready() {
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do
    kill -0 "$PID" 2>/dev/null || { echo "the server exited" >&2; exit 1; }
    sleep 0.01
  done
}

RUST_LOG=warn $BIN --listen 127.0.0.1:$PORT --data-dir "$DIR" --order-ttl 3600 >/dev/null 2>&1 &
PID=$!
wait_ready
BEFORE=$(rss_kib $PID)
$LOADGEN --target http://127.0.0.1:$PORT --scenario create --members "$ORDERS" --concurrency "$CONC" --json > "$DIR/create.json"
sleep 1
AFTER=$(rss_kib $PID)
LIVE=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^ordercenter_live_order_actors/ {print $2}')
echo "created: $(cat "$DIR/create.json")"
echo "live order actors: $LIVE"
echo "RSS before: $((BEFORE / 1024)) MiB, after: $((AFTER / 1024)) MiB, per live order: $(( (AFTER - BEFORE) * 1024 / LIVE )) bytes"
kill -9 $PID
wait $PID 2>/dev/null || true
START=$(date +%s%N)
RUST_LOG=warn $BIN --listen 127.0.0.1:$PORT --data-dir "$DIR" --order-ttl 3600 >/dev/null 2>&1 &
PID=$!
wait_ready
END=$(date +%s%N)
LIVE=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^ordercenter_live_order_actors/ {print $2}')
echo "restart after kill -9: /readyz in $(( (END - START) / 1000000 )) ms with $LIVE live order actors restored; RSS $(( $(rss_kib $PID) / 1024 )) MiB"
# What stays once the recovery's transient allocations had time to go back (mimalloc
# returns freed pages lazily).
sleep 10
echo "RSS 10 s after /readyz: $(( $(rss_kib $PID) / 1024 )) MiB"
