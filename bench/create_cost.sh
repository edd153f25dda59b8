#!/usr/bin/env bash
# What one durable create costs, from the server's own counters and per-thread CPU time
# (steadier than req/s on a shared machine):
#   BIN=<dir> bash bench/create_cost.sh [APPLIES] [SECS]
# Makes APPLIES applies untimed (loadgen prepare), then wrk creates (one thread, 64
# connections) for SECS seconds, and prints: creates, changes per flush, the writer's time
# applying per change (wall), flush latency, and CPU per create of the whole server and of
# the sled-writer thread alone.
set -euo pipefail
cd "$(dirname "$0")/.."
APPLIES=${1:-60000}
SECS=${2:-5}
PORT=${PORT:-18401}
source bench/wrk_server.sh
"$BIN/loadgen" --target "$B" --scenario prepare --members "$APPLIES" --member-base 10000000 \
  --concurrency 64 --json > "$DIR/applies"
WRITER=$(dirname "$(grep -l '^sled-writer$' /proc/$PID/task/*/comm | head -1)")
sample() { # flushes, changes, flush s, apply s, server CPU ticks, writer CPU ticks
  curl -s "$B/metrics" | awk '/^ordercenter_store_(flushes_total|durable_writes_total|flush_seconds_total|apply_seconds_total) /{printf "%s ", $2}'
  awk '{printf "%s ", $14 + $15}' /proc/$PID/stat
  awk '{print $14 + $15}' "$WRITER/stat"
}
BEFORE=$(sample)
PREPARED="$DIR/applies" wrk -t1 -c64 -d"${SECS}s" --timeout 10s -s bench/wrk/create.lua "$B" | tail -1
AFTER=$(sample)
python3 - "$BEFORE" "$AFTER" "$(getconf CLK_TCK)" <<'PY'
import sys
before, after, hz = sys.argv[1].split(), sys.argv[2].split(), float(sys.argv[3])
flushes, changes, flush_s, apply_s, cpu, writer = (float(a) - float(b) for a, b in zip(after, before))
print(f"changes {changes:.0f}, {changes / flushes:.1f} per flush, flush {flush_s / flushes * 1e3:.2f} ms, "
      f"writer applying {apply_s / changes * 1e6:.1f} µs/change (wall), "
      f"CPU per create: server {cpu / hz / changes * 1e6:.0f} µs, sled-writer {writer / hz / changes * 1e6:.0f} µs")
PY
