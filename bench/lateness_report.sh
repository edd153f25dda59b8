#!/usr/bin/env bash
# Reads a server log (RUST_LOG=info) and reports the lateness of its "order closed" lines:
#   bench/lateness_report.sh LOG
# (used by expiry_lateness.sh and shared_deadline.sh).
set -euo pipefail
LOG=$1
sed 's/\x1b\[[0-9;]*m//g' "$LOG" | grep 'order closed' | sed -n 's/.*late_ms=\([0-9]*\).*/\1/p' | sort -n | awk '
  { v[NR] = $1 }
  END {
    n = NR
    printf "closed %d orders; lateness ms: min %d  p50 %d  p90 %d  p99 %d  max %d\n", n, v[1], v[int(n*0.5)], v[int(n*0.9)], v[int(n*0.99)], v[n]
  }'
sed 's/\x1b\[[0-9;]*m//g' "$LOG" | grep 'order closed' | sed -n 's/.*deadline=\([0-9]*\).*/\1/p' | sort | uniq -c | sort -rn | awk '
  { n++; if ($1 > most) most = $1 }
  END { printf "%d distinct deadlines; at most %d orders shared one\n", n, most }'
