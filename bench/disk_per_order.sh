#!/usr/bin/env bash
# Bytes on disk per order, created and closed, and what a backup of them takes:
#   bench/disk_per_order.sh [ORDERS] [TTL_SECS] [CONCURRENCY]
# Applies and creates ORDERS orders with loadgen (one member each; TTL must outlast the
# untimed apply phase, or the seats reserved first are released before their order), lets
# every one expire, takes an online backup (POST /admin/backup), stops the server cleanly
# (SIGTERM: final flush) and reports: the data dir's size (du: sled's files, with the
# space its log has not reclaimed yet), the backup's (a store written once: compact), the
# logical bytes (keys + values) the backup counted, each per order, and the backup's time.
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS=${1:-100000}
TTL=${2:-120}
CONC=${3:-64}
PORT=${PORT:-18183}
DIR=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
# BIN=<dir> runs the ordercenter and loadgen found there instead of building them.
BIN=${BIN:-target/release}
if [ "$BIN" = target/release ]; then cargo build --release --quiet --bin ordercenter --bin loadgen; fi
RUST_LOG=warn "$BIN/ordercenter" --listen 127.0.0.1:$PORT --data-dir "$DIR/data" \
  --order-ttl "$TTL" --backup-dir "$DIR/backups" >/dev/null 2>>"$DIR/log" &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
metric() { curl -s "http://127.0.0.1:$PORT/metrics" | awk -v n="$1" '$1 == n {print $2}'; }
EMPTY=$(du -sb "$DIR/data" | cut -f1)
"$BIN/loadgen" --target http://127.0.0.1:$PORT --scenario create --members "$ORDERS" --concurrency "$CONC" --json > "$DIR/create.json"
echo "created: $(cat "$DIR/create.json")"
until [ "$(metric ordercenter_live_order_actors)" = "0" ]; do sleep 1; done
CREATED=$(metric ordercenter_orders_created_total)
echo "orders created $CREATED, closed (expired) $(metric 'ordercenter_orders_closed_total{reason="expired"}')"
# SETTLE=<s> waits that long first, e.g. past the deadline index's sweep (5–6 s after the
# last deadline), to see what stays rather than what is still being swept.
sleep "${SETTLE:-0}"
curl -s -X POST "http://127.0.0.1:$PORT/admin/backup" -d name=all > "$DIR/backup.json"
echo "backup: $(cat "$DIR/backup.json")"
kill -TERM $PID; wait $PID || true; PID=
AFTER=$(du -sb "$DIR/data" | cut -f1)
COPY=$(du -sb "$DIR/backups/all" | cut -f1)
python3 - "$CREATED" "$EMPTY" "$AFTER" "$COPY" "$DIR/backup.json" <<'PY'
import json, sys
n, empty, after, copy = (int(float(v)) for v in sys.argv[1:5])
backup = json.load(open(sys.argv[5]))["data"]
per = lambda b: b / n
print(f"orders {n}: data dir {after} B = {per(after - empty):.0f} B/order (du, sled's files); "
      f"backup copy {copy} B = {per(copy):.0f} B/order; keys+values {backup['bytes']} B = "
      f"{per(backup['bytes']):.0f} B/order in {backup['keys']} keys")
print(f"backup of {n} orders: copy {backup['copy_ms']} ms while writes went on, writes paused "
      f"{backup['paused_writes_ms']} ms")
print(f"1 000 000 orders at that rate: data dir {per(after - empty) * 1e6 / 2**30:.2f} GiB, "
      f"backup {per(copy) * 1e6 / 2**30:.2f} GiB")
PY
