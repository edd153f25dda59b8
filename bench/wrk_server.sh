# Sourced by the wrk benchmarks: checks for wrk, builds the release binaries unless BIN
# names others, starts `ordercenter` on PORT with a fresh data dir and waits until it is
# ready. Sets B (base URL), DIR (temp dir, removed on exit), PID and WRK_LIB.
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
BIN=${BIN:-target/release}
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
