#!/usr/bin/env bash
# The three throughput ratios of issue 12, measured from outside with wrk (one thread, 64
# connections, loopback, the release build, a fresh data dir), each divided by GET /healthz
# in the same run:
#   bench/wrk_ratios.sh [RUNS] [SECS] [LIVE_ORDERS]
# - durable shop/order/create, a fresh apply each (made first, untimed, by loadgen prepare);
# - durable activityPlatform/wxActivity/apply, a new member each;
# - shop/order/state over LIVE_ORDERS live orders, round robin.
# Each is run RUNS times (interleaved with /healthz); the medians are printed as a table.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-2}
SECS=${2:-10}
LIVE=${3:-5000}
CONN=${CONN:-64}
PORT=${PORT:-18190}
BIN=${BIN:-target/release}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
DIR=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill -9 $PID 2>/dev/null; rm -rf "$DIR"' EXIT
if [ "$BIN" = target/release ]; then cargo build --release --quiet --bin ordercenter --bin loadgen; fi
# LOG=<filter> runs the server at another log level (info is the default of a real start).
RUST_LOG=${LOG:-warn} "$BIN/ordercenter" --listen 127.0.0.1:$PORT --data-dir "$DIR/data" >/dev/null 2>"$DIR/log" &
PID=$!
B=http://127.0.0.1:$PORT
until curl -sf "$B/readyz" >/dev/null; do
  kill -0 "$PID" 2>/dev/null || { echo "the server exited:" >&2; tail -5 "$DIR/log" >&2; exit 1; }
  sleep 0.05
done
export WRK_LIB=$PWD/bench/wrk/lib.lua
run_wrk() { # SCRIPT → one JSON line
  wrk -t1 -c"$CONN" -d"${SECS}s" --timeout 10s -s "bench/wrk/$1.lua" "$B" 2>/dev/null | tail -1
}
# State polls hit LIVE live orders made first.
"$BIN/loadgen" --target $B --scenario prepare --with-orders --members "$LIVE" \
  --member-base 1000000 --concurrency 64 --json > "$DIR/orders"
# A create run needs one apply per request: enough for 25 k/s over SECS (more than the target; a run that runs out shows non-2xx).
APPLIES=$(( SECS * 25000 ))
# Applies by new members, into an activity with room for all of them.
ACTIVITY=$(curl -s $B/activityPlatform/activity/save -d name=wrk -d price=1 -d seats=10000000 |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["activity_id"])')
for run in $(seq 1 "$RUNS"); do
  "$BIN/loadgen" --target $B --scenario prepare --members "$APPLIES" \
    --member-base $(( run * 10000000 )) --concurrency 64 --json > "$DIR/applies.$run"
  echo "health $(run_wrk health)" >> "$DIR/results"
  PREPARED="$DIR/applies.$run" run_wrk create | sed 's/^/create /' >> "$DIR/results"
  echo "health $(run_wrk health)" >> "$DIR/results"
  ACTIVITY=$ACTIVITY MEMBER_BASE=$(( 100000000 + run * 10000000 )) run_wrk apply | sed 's/^/apply /' >> "$DIR/results"
  echo "health $(run_wrk health)" >> "$DIR/results"
  PREPARED="$DIR/orders" run_wrk state | sed 's/^/state /' >> "$DIR/results"
  echo "run $run done" >&2
done
python3 - "$DIR/results" "$RUNS" "$SECS" "$LIVE" <<'PY'
import json, statistics, sys
rows = [line.split(" ", 1) for line in open(sys.argv[1])]
# Each measured call is divided by the /healthz run just before it.
ratios, figures, health = {}, {}, None
for name, text in rows:
    result = json.loads(text)
    if result["non_2xx"] or result["socket_errors"]:
        print(f"warning: {name}: {result['non_2xx']} non-2xx, {result['socket_errors']} socket errors", file=sys.stderr)
    if name == "health":
        health = result
        figures.setdefault("health", []).append(result)
        continue
    ratios.setdefault(name, []).append(result["rps"] / health["rps"])
    figures.setdefault(name, []).append(result)
runs, secs, live = sys.argv[2], sys.argv[3], sys.argv[4]
print(f"wrk -t1 -c64, {secs} s each, {runs} runs, medians (state over {live} live orders)")
print("| call | req/s | p50 ms | p99 ms | /healthz req/s | ratio |")
print("| --- | --- | --- | --- | --- | --- |")
h = figures["health"]
for name in ("create", "apply", "state"):
    f = figures[name]
    med = lambda key, rows=f: statistics.median(r[key] for r in rows)
    print(f"| {name} | {med('rps'):.0f} | {med('p50_ms'):.2f} | {med('p99_ms'):.2f} | "
          f"{statistics.median(r['rps'] for r in h):.0f} | {statistics.median(ratios[name]):.3f} |")
PY
