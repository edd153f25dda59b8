#!/usr/bin/env bash
# shop/order/state over LIVE live orders against GET /healthz run just before and after it
# (wrk, one thread, 64 connections), for quick A/B runs of two binaries:
#   BIN=<dir> bash bench/state_ratio.sh [LIVE] [SECS]
# Prints the three wrk lines and the ratio state ÷ mean(healthz).
set -euo pipefail
cd "$(dirname "$0")/.."
LIVE=${1:-5000}
SECS=${2:-5}
PORT=${PORT:-18450}
BIN=${BIN:-target/release}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
if [ "$BIN" = target/release ]; then cargo build --release --quiet --bin ordercenter --bin loadgen; fi
B=http://127.0.0.1:$PORT
DIR=$(mktemp -d)
RUST_LOG=warn "$BIN/ordercenter" --listen 127.0.0.1:$PORT --data-dir "$DIR/data" >/dev/null 2>"$DIR/log" &
PID=$!
trap 'kill -9 $PID 2>/dev/null; rm -rf "$DIR"' EXIT
until curl -sf "$B/readyz" >/dev/null; do
  kill -0 "$PID" 2>/dev/null || { echo "the server exited:" >&2; tail -5 "$DIR/log" >&2; exit 1; }
  sleep 0.05
done
export WRK_LIB=$PWD/bench/wrk/lib.lua
"$BIN/loadgen" --target "$B" --scenario prepare --with-orders --members "$LIVE" \
  --member-base 1000000 --concurrency 64 --json > "$DIR/orders"
run_wrk() { wrk -t1 -c64 -d"${SECS}s" --timeout 10s -s "bench/wrk/$1.lua" "$B" | tail -1; }
H1=$(run_wrk health); echo "healthz $H1"
S=$(PREPARED="$DIR/orders" run_wrk state); echo "state   $S"
H2=$(run_wrk health); echo "healthz $H2"
python3 - "$H1" "$S" "$H2" <<'PY'
import json, sys
h1, s, h2 = (json.loads(x) for x in sys.argv[1:])
for r in (h1, s, h2):
    if r["non_2xx"] or r["socket_errors"]:
        sys.exit(f"a run had errors: {r}")
print(f"state {s['rps']:.0f} req/s ÷ healthz {(h1['rps'] + h2['rps']) / 2:.0f} = {2 * s['rps'] / (h1['rps'] + h2['rps']):.3f}")
PY
