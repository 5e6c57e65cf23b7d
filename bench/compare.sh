#!/usr/bin/env bash
# Side-by-side: the same load scenarios against Mosquitto and Holdfast, alternately
# (A B A B ..., ROUNDS rounds), on this machine, in one run; prints a table of medians and
# ratios (Holdfast / Mosquitto). Installs Debian's mosquitto if it is missing.
#
# Persistence is comparable: both brokers persist to disk (Mosquitto `persistence true`,
# Holdfast's store with `durability = "sync"`); the scenarios use clean sessions, so neither
# writes messages to disk for them.
#
#   bench/compare.sh [--rounds N] [--duration S] [--scale]    # --scale: short smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=3; DURATION=10; WARMUP=2
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --scale) ROUNDS=1; DURATION=2; WARMUP=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq mosquitto >/dev/null
fi
cargo build --release -q -p holdfast -p holdfast-bench
BENCH=target/release/holdfast-bench
OUT=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# name|bench arguments
SCENARIOS=(
  "qos0-rate|--qos 0 --pubs 10 --subs 10 --size 64 --rate 10000"
  "qos1-max|--qos 1 --pubs 10 --subs 10 --size 64"
  "qos1-fixed|--qos 1 --pubs 10 --subs 10 --size 64 --rate 1000"
  "fanout-1x100|--qos 0 --topology fanout --pubs 1 --subs 100 --size 64 --rate 1000"
)

start_holdfast() {
  local port=$1 dir; dir=$(mktemp -d)
  local bin=$PWD/target/release/holdfast
  # The whole background job writes to the log, so that $(start_holdfast) does not wait on it.
  (cd "$dir" && exec env HOLDFAST_LISTENERS__TCP__BIND="127.0.0.1:$port" \
     HOLDFAST_ADMIN__BIND=127.0.0.1:0 HOLDFAST_LOG=warn "$bin" start) >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
  cat "$dir/pid"
}
start_mosquitto() {
  local port=$1 state; state=$(bash ../shared/conformance/start_mosquitto.sh "$port")
  cat "$state/mosquitto.pid"
}

for round in $(seq 1 "$ROUNDS"); do
  for broker in mosquitto holdfast; do
    port=$(free_port)
    pid=$(start_$broker "$port")
    for s in "${SCENARIOS[@]}"; do
      name=${s%%|*}; args=${s#*|}
      # shellcheck disable=SC2086
      timeout $((DURATION + WARMUP + 60)) "$BENCH" --port "$port" $args --duration "$DURATION" \
        --warmup "$WARMUP" --broker-pid "$pid" --json --label "$broker/$name" >>"$OUT/results.jsonl"
    done
    # idle connections, for memory
    timeout 120 "$BENCH" --port "$port" --idle "${IDLE:-2000}" --broker-pid "$pid" --json \
      --label "$broker/idle" >>"$OUT/idle.jsonl"
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    echo "round $round: $broker done" >&2
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys, os
out = sys.argv[1]
rows = [json.loads(l) for l in open(os.path.join(out, "results.jsonl"))]
idle = [json.loads(l) for l in open(os.path.join(out, "idle.jsonl"))]
def med(label, key):
    v = [r[key] for r in rows if r["label"] == label and r.get(key) is not None]
    return statistics.median(v) if v else None
names = sorted({r["label"].split("/", 1)[1] for r in rows})
print(f"{'scenario':<14} {'metric':<22} {'mosquitto':>12} {'holdfast':>12} {'ratio':>7}")
for n in names:
    for key, label in [("delivered_per_s", "msgs/s"), ("broker_cpu_us_per_msg", "cpu µs/msg"),
                       ("latency_p50_us", "p50 µs"), ("latency_p99_us", "p99 µs"), ("lost", "lost")]:
        m, h = med("mosquitto/" + n, key), med("holdfast/" + n, key)
        ratio = f"{h / m:.2f}" if m and h is not None else "-"
        fmt = lambda x: "-" if x is None else f"{x:,.1f}"
        print(f"{n:<14} {label:<22} {fmt(m):>12} {fmt(h):>12} {ratio:>7}")
for b in ["mosquitto", "holdfast"]:
    v = [r["rss_after_kib"] for r in idle if r["label"] == b + "/idle" and r.get("rss_after_kib")]
    if v:
        print(f"{'idle':<14} {'RSS MiB, ' + str(idle[0]['connections']) + ' conns':<22} "
              f"{'' if b == 'holdfast' else ''}{b:>12}: {statistics.median(v) / 1024:,.1f}")
print(f"raw results: {out}")
PY
