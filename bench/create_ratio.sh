#!/usr/bin/env bash
# Durable create throughput ÷ trivial endpoint throughput, same client, same concurrency, same
# server, back to back, RUNS times:
#   bench/create_ratio.sh [RUNS] [CREATES] [CONCURRENCY]
# Prints one line per run and the medians. Also prints the store writer's counters
# (changes per flush, time applying and flushing) from /metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
CREATES=${2:-20000}
CONC=${3:-64}
PORT=${PORT:-18180}
DIR=$(mktemp -d)
trap 'kill -9 $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
cargo build --release --quiet --bin ordercenter --bin loadgen
RUST_LOG=warn target/release/ordercenter --listen 127.0.0.1:$PORT --data-dir "$DIR/data" >/dev/null 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
field() { python3 -c "import json,sys; d=json.load(open('$1')); print($2)"; }
for run in $(seq 1 "$RUNS"); do
  target/release/loadgen --target http://127.0.0.1:$PORT --scenario health --members $((CREATES * 2)) \
    --concurrency "$CONC" --json > "$DIR/health.$run.json"
  target/release/loadgen --target http://127.0.0.1:$PORT --scenario create --members "$CREATES" \
    --concurrency "$CONC" --member-base $((run * 10000000)) --json > "$DIR/create.$run.json"
  H=$(field "$DIR/health.$run.json" 'd["throughput_per_s"]')
  C=$(field "$DIR/create.$run.json" 'd["throughput_per_s"]')
  L=$(field "$DIR/create.$run.json" '"p50 %s / p99 %s ms, errors %s" % (d["latency_ms"]["create"]["p50"], d["latency_ms"]["create"]["p99"], sum(d["errors"].values()))')
  echo "run $run: health $H/s, create $C/s ($L), ratio $(python3 -c "print(round($C/$H, 3))")"
  echo "$H $C" >> "$DIR/runs"
done
python3 - "$DIR/runs" <<'PY'
import statistics, sys
rows = [tuple(map(float, line.split())) for line in open(sys.argv[1])]
h = statistics.median(r[0] for r in rows); c = statistics.median(r[1] for r in rows)
ratios = sorted(r[1] / r[0] for r in rows)
print(f"median: health {h:.0f}/s, create {c:.0f}/s, ratio of medians {c/h:.3f}, median ratio {statistics.median(ratios):.3f}")
PY
curl -s "http://127.0.0.1:$PORT/metrics" > "$DIR/metrics"
python3 - "$DIR/metrics" <<'PY'
import sys
m = dict(l.split() for l in open(sys.argv[1]) if l.startswith("ordercenter_store"))
w, f = float(m["ordercenter_store_durable_writes_total"]), float(m["ordercenter_store_flushes_total"])
apply_us = float(m["ordercenter_store_apply_seconds_total"]) * 1e6 / w
flush_ms = float(m["ordercenter_store_flush_seconds_total"]) * 1e3 / f
print(f"store writer: {w:.0f} changes, {f:.0f} flushes ({w/f:.1f} per flush), "
      f"{apply_us:.0f} us applying per change, {flush_ms:.2f} ms per flush")
PY
