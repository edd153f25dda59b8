#!/usr/bin/env bash
# Expiry lateness with ORDERS orders sharing ONE deadline:
#   bench/shared_deadline.sh [ORDERS] [LEAD_SECS]
# (BIN=<dir> runs the ordercenter and seed_orders found there instead of building them.)
# Seeds a fresh data dir with ORDERS unpaid orders whose deadline is LEAD_SECS from now
# (examples/seed_orders.rs: the in-process create's own change, creation time set back),
# starts the server on it (recovery restores each order's actor and timer), and reports the
# lateness the server logs for each close (now − deadline, once the close is durable), and
# the CPU time the closes took.
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS=${1:-100000}
LEAD=${2:-60}
PORT=${PORT:-18183}
DIR=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; rm -rf "$DIR"' EXIT
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin ordercenter --example seed_orders
  BIN=target/release
  SEED=target/release/examples/seed_orders
else
  SEED=${SEED:-target/release/examples/seed_orders}
fi
DEADLINE=$(( $(date +%s) + LEAD ))
"$SEED" "$DIR/data" "$ORDERS" "$DEADLINE"
START=$(date +%s%N)
RUST_LOG=info "$BIN/ordercenter" --listen 127.0.0.1:$PORT --data-dir "$DIR/data" >/dev/null 2>"$DIR/log" &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
READY=$(date +%s%N)
LEFT=$(( DEADLINE - $(date +%s) ))
echo "ready in $(( (READY - START) / 1000000 )) ms; deadline in ${LEFT} s"
if [ "$LEFT" -lt 2 ]; then echo "deadline too close: raise LEAD_SECS" >&2; exit 1; fi
# CPU time of the whole server and of its sled-writer thread, from here (idle until the
# deadline) to the last close: what the closes cost.
WRITER=$(dirname "$(grep -l '^sled-writer$' /proc/$PID/task/*/comm | head -1)")
cpu_ticks() { awk '{print $14 + $15}' "$1"; }
# The store writer's counters: changes, flushes, time flushing and applying (wall).
store_counters() {
  curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^ordercenter_store_(flushes_total|durable_writes_total|flush_seconds_total|apply_seconds_total) /{printf "%s ", $2}'
}
SERVER0=$(cpu_ticks /proc/$PID/stat); WRITER0=$(cpu_ticks "$WRITER/stat"); STORE0=$(store_counters)
until [ "$(grep -c 'order closed' "$DIR/log")" -ge "$ORDERS" ]; do sleep 1; done
SERVER1=$(cpu_ticks /proc/$PID/stat); WRITER1=$(cpu_ticks "$WRITER/stat"); STORE1=$(store_counters)
bash bench/lateness_report.sh "$DIR/log"
HZ=$(getconf CLK_TCK)
echo "CPU per close: server $(( (SERVER1 - SERVER0) * 1000000 / HZ / ORDERS )) µs, sled-writer $(( (WRITER1 - WRITER0) * 1000000 / HZ / ORDERS )) µs"
python3 - "$STORE0" "$STORE1" "$ORDERS" <<'PY'
import sys
before, after, orders = sys.argv[1].split(), sys.argv[2].split(), int(sys.argv[3])
flushes, changes, flush_s, apply_s = (float(a) - float(b) for a, b in zip(after, before))
print(f"writer: {changes:.0f} changes, {flushes:.0f} flushes ({flush_s / max(flushes, 1) * 1e3:.1f} ms each), "
      f"applying {apply_s / orders * 1e6:.1f} µs per close (wall)")
PY
grep -E "VmHWM" /proc/$PID/status
