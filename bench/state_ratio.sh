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
source bench/wrk_server.sh
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
