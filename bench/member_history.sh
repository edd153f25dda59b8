#!/usr/bin/env bash
# One member's long history must not slow that member's applies, nor everyone else's:
#   bench/member_history.sh [LOOPS] [BINARY]
# Starts the release server on a fresh data dir; one member loops apply → create → cancel
# LOOPS times (apply latency p50 of the first and the last 100 loops); then, while two
# connections keep applying for that member, 200 other members apply + create (their p50),
# and the same 200-member run without the noisy member, for comparison.
# BINARY defaults to target/release/ordercenter (pass another build to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
LOOPS=${1:-3000}
BIN=${2:-target/release/ordercenter}
PORT=${PORT:-18190}
DIR=$(mktemp -d)
trap 'kill -9 $PID 2>/dev/null || true; rm -rf "$DIR"' EXIT
if [ "$BIN" = target/release/ordercenter ]; then cargo build --release --quiet --bin ordercenter; fi
RUST_LOG=warn "$BIN" --listen 127.0.0.1:$PORT --data-dir "$DIR/data" >/dev/null 2>&1 &
PID=$!
until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.05; done
python3 - "$PORT" "$LOOPS" <<'PY'
import http.client, json, statistics, sys, threading, time, urllib.parse

port, loops = int(sys.argv[1]), int(sys.argv[2])

def call(conn, path, **fields):
    body = urllib.parse.urlencode(fields)
    started = time.perf_counter()
    conn.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
    reply = json.loads(conn.getresponse().read())
    return reply, (time.perf_counter() - started) * 1000

def common(member):
    return dict(company_id=421, member_id=member, business_id=10000001)

def apply(conn, member, activity):
    return call(conn, "/activityPlatform/wxActivity/apply", activity_id=activity,
                name="张三", phone="13800000000", **common(member))

def create(conn, member, sku):
    return call(conn, "/shop/order/create", sys_id=30, sku_slice=sku, business_type=3001,
                request_id="ppsport", handle_info='{"platform_id":3}', **common(member))

conn = http.client.HTTPConnection("127.0.0.1", port)
saved, _ = call(conn, "/activityPlatform/activity/save", name="历史", price=1, seats=1000000)
activity = saved["data"]["activity_id"]

member, applies = 900001, []
for _ in range(loops):
    applied, ms = apply(conn, member, activity)
    assert applied["code"] == 200, applied
    applies.append(ms)
    created, _ = create(conn, member, applied["data"]["sku_slice"])
    assert created["code"] == 200, created
    cancelled, _ = call(conn, "/shop/order/cancel",
                        parent_order_no=created["data"]["parent_order_no"], **common(member))
    assert cancelled["code"] == 200, cancelled
p50 = lambda xs: statistics.median(xs)
print(f"one member, {loops} loops of apply → create → cancel: apply p50 "
      f"{p50(applies[:100]):.2f} ms (first 100) → {p50(applies[-100:]):.2f} ms (last 100)")

def others(base):
    c = http.client.HTTPConnection("127.0.0.1", port)
    times = []
    for m in range(base, base + 200):
        applied, a = apply(c, m, activity)
        assert applied["code"] == 200, applied
        created, b = create(c, m, applied["data"]["sku_slice"])
        assert created["code"] == 200, created
        times.append(a + b)
    return p50(times)

quiet = others(100000)
stop = threading.Event()
def noisy():
    c = http.client.HTTPConnection("127.0.0.1", port)
    while not stop.is_set():
        apply(c, member, activity)
threads = [threading.Thread(target=noisy) for _ in range(2)]
for t in threads: t.start()
loud = others(200000)
stop.set()
for t in threads: t.join()
print(f"200 other members, apply + create p50: {quiet:.2f} ms alone, {loud:.2f} ms while "
      f"two connections apply for the member with {loops} loops of history")
PY
