#!/usr/bin/env bash
# What the deadline index's sweep costs the writer after ORDERS orders closed at one
# deadline (their entries are left for it, src/retention.rs):
#   BIN=<dir> SEED=<dir>/seed_orders bash bench/sweep_cost.sh [ORDERS]
# Seeds ORDERS unpaid orders due in 15 s, waits until all are closed, then reads the
# writer's counters over the next 9 s, which hold the sweep (5 s after the deadline).
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS=${1:-10000}
PORT=${PORT:-18799}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet --bin ordercenter --example seed_orders
  BIN=target/release
fi
SEED=${SEED:-target/release/examples/seed_orders}
DIR=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; rm -rf "$DIR"' EXIT
"$SEED" "$DIR/data" "$ORDERS" $(( $(date +%s) + 15 )) >/dev/null
RUST_LOG=info,ordercenter::retention=debug "$BIN/ordercenter" --listen 127.0.0.1:$PORT \
  --data-dir "$DIR/data" >/dev/null 2>"$DIR/log" &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.1; done
until [ "$(grep -c 'order closed' "$DIR/log")" -ge "$ORDERS" ]; do sleep 0.2; done
counters() {
  curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^ordercenter_store_(durable_writes_total|apply_seconds_total) /{printf "%s ", $2}'
}
BEFORE=$(counters); sleep 9; AFTER=$(counters)
echo "sweep changes that removed entries: $(grep -c 'swept closed orders' "$DIR/log" || true)"
python3 - "$BEFORE" "$AFTER" "$ORDERS" <<'PY'
import sys
before, after, orders = sys.argv[1].split(), sys.argv[2].split(), int(sys.argv[3])
changes, seconds = (float(a) - float(b) for a, b in zip(after, before))
print(f"writer over the 9 s after the closes: {changes:.0f} changes, applying {seconds * 1e3:.1f} ms "
      f"({seconds / orders * 1e6:.2f} µs per closed order)")
PY
