#!/usr/bin/env bash
# Side-by-side: the same load scenarios against Mosquitto and Holdfast, alternately
# (A B A B ..., ROUNDS rounds), on this machine, in one run; prints a table of medians and
# ratios (Holdfast / Mosquitto), writes every run's figures and the medians to
# target/bench/compare-<UTC time>.json and plots them (target/bench/compare-<UTC time>.png).
# Installs Debian's mosquitto if it is missing.
#
# --taskset adds, per round, the throughput scenario (qos1-max) against Holdfast pinned by
# `taskset -c 0` and by `taskset -c 0,1`: does throughput scale from one core to two? The load
# generator is not pinned and shares both cores (plot: compare-<UTC time>-taskset.png).
#
# Persistence is comparable: both brokers persist to disk (Mosquitto `persistence true`,
# Holdfast's store with `durability = "sync"`); the scenarios use clean sessions, so neither
# writes messages to disk for them.
#
#   bench/compare.sh [--rounds N] [--duration S] [--scale] [--taskset]  # --scale: short smoke run
#   BENCH_PROFILE=dev bench/compare.sh ...   # unoptimised build (CI smoke), not for figures
set -euo pipefail
cd "$(dirname "$0")/.."
# IDLE: idle connections of the memory scenario (the issue's 10 000; 2 000 in a --scale run).
ROUNDS=3; DURATION=10; WARMUP=2; TASKSET=0; IDLE=${IDLE:-10000}
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --scale) ROUNDS=1; DURATION=2; WARMUP=1; IDLE=2000; shift ;;
    --taskset) TASKSET=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq mosquitto >/dev/null
fi
# BENCH_PROFILE=dev: an unoptimised build, for the CI smoke (scripts/bench-smoke.sh).
PROFILE=${BENCH_PROFILE:-release}
BIN_DIR=target/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
cargo build --profile "$PROFILE" -q -p holdfast -p holdfast-bench
BENCH=$BIN_DIR/holdfast-bench
OUT=$(mktemp -d)
mkdir -p target/bench
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULT=$PWD/target/bench/compare-$STAMP.json
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# name|bench arguments
SCENARIOS=(
  "qos0-rate|--qos 0 --pubs 10 --subs 10 --size 64 --rate 10000"
  "qos1-max|--qos 1 --pubs 10 --subs 10 --size 64"
  "qos1-fixed|--qos 1 --pubs 10 --subs 10 --size 64 --rate 1000"
  "fanout-1x100|--qos 0 --topology fanout --pubs 1 --subs 100 --size 64 --rate 1000"
)

# start_holdfast PORT [CPUS]: CPUS pins the broker with taskset -c.
start_holdfast() {
  local port=$1 cpus=${2:-} dir; dir=$(mktemp -d)
  local bin=$PWD/$BIN_DIR/holdfast pin=()
  [ -z "$cpus" ] || pin=(taskset -c "$cpus")
  # The whole background job writes to the log, so that $(start_holdfast) does not wait on it.
  (cd "$dir" && exec env HOLDFAST_LISTENERS__TCP__BIND="127.0.0.1:$port" \
     HOLDFAST_ADMIN__BIND=127.0.0.1:0 HOLDFAST_LOG=warn "${pin[@]}" "$bin" start) >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
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
    timeout 120 "$BENCH" --port "$port" --idle "$IDLE" --broker-pid "$pid" --json \
      --label "$broker/idle" >>"$OUT/idle.jsonl"
    kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    echo "round $round: $broker done" >&2
  done
  if [ "$TASKSET" = 1 ]; then
    s=${SCENARIOS[1]}; name=${s%%|*}; args=${s#*|}
    for cpus in 0 0,1; do
      port=$(free_port)
      pid=$(start_holdfast "$port" "$cpus")
      # shellcheck disable=SC2086
      timeout $((DURATION + WARMUP + 60)) "$BENCH" --port "$port" $args --duration "$DURATION" \
        --warmup "$WARMUP" --broker-pid "$pid" --json --label "cpus-$cpus/$name" >>"$OUT/taskset.jsonl"
      kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true
    done
    echo "round $round: taskset done" >&2
  fi
done

python3 - "$OUT" "$RESULT" "$ROUNDS" "$DURATION" "$WARMUP" "$LOAD_BEFORE" "${SCENARIOS[@]}" <<'PY'
import json, os, statistics, subprocess, sys
out, result, rounds, duration, warmup, load_before = sys.argv[1:7]
scenarios = [s.split("|", 1) for s in sys.argv[7:]]
def lines(name):
    path = os.path.join(out, name)
    return [json.loads(l) for l in open(path)] if os.path.exists(path) else []
rows, idle, pinned = lines("results.jsonl"), lines("idle.jsonl"), lines("taskset.jsonl")
KEYS = ["delivered_per_s", "broker_cpu_us_per_msg", "bench_cpu_us_per_msg", "latency_p50_us",
        "latency_p99_us", "latency_p999_us", "lost", "duplicates"]
def measured(runs):
    med = {}
    for k in KEYS:
        v = [r[k] for r in runs if r.get(k) is not None]
        med[k] = statistics.median(v) if v else None
    return {"runs": runs, "median": med}
def git(*a):
    try: return subprocess.run(["git", *a], capture_output=True, text=True).stdout.strip()
    except OSError: return None
res = {
    "kind": "compare", "timestamp": os.path.basename(result)[len("compare-"):-len(".json")],
    "commit": git("rev-parse", "--short", "HEAD"),
    "rounds": int(rounds), "duration_s": int(duration), "warmup_s": int(warmup),
    "machine": {"nproc": os.cpu_count(), "load_before": load_before,
                "load_after": " ".join(open("/proc/loadavg").read().split()[:3])},
    "scenarios": [{"name": n, "args": a, "brokers": {
        b: measured([r for r in rows if r["label"] == f"{b}/{n}"]) for b in ["mosquitto", "holdfast"]}}
        for n, a in scenarios],
    "idle": {b: {"runs": [r for r in idle if r["label"] == b + "/idle"]} for b in ["mosquitto", "holdfast"]},
    "taskset": None,
}
for b, v in res["idle"].items():
    rss = [r["rss_after_kib"] for r in v["runs"] if r.get("rss_after_kib")]
    v["median_rss_mib"] = statistics.median(rss) / 1024 if rss else None
    v["connections"] = v["runs"][0]["connections"] if v["runs"] else None
if pinned:
    name = pinned[0]["label"].split("/", 1)[1]
    res["taskset"] = {"scenario": name, "broker": "holdfast", "cpus": {
        c: measured([r for r in pinned if r["label"] == f"cpus-{c}/{name}"]) for c in ["0", "0,1"]}}
json.dump(res, open(result, "w"), indent=1)

fmt = lambda x: "-" if x is None else f"{x:,.1f}"
print(f"{'scenario':<14} {'metric':<22} {'mosquitto':>12} {'holdfast':>12} {'ratio':>7}")
for s in res["scenarios"]:
    m, h = s["brokers"]["mosquitto"]["median"], s["brokers"]["holdfast"]["median"]
    for key, label in [("delivered_per_s", "msgs/s"), ("broker_cpu_us_per_msg", "cpu µs/msg"),
                       ("latency_p50_us", "p50 µs"), ("latency_p99_us", "p99 µs"), ("lost", "lost")]:
        ratio = f"{h[key] / m[key]:.2f}" if m[key] and h[key] is not None else "-"
        print(f"{s['name']:<14} {label:<22} {fmt(m[key]):>12} {fmt(h[key]):>12} {ratio:>7}")
mi, hi = res["idle"]["mosquitto"], res["idle"]["holdfast"]
ratio = f"{hi['median_rss_mib'] / mi['median_rss_mib']:.2f}" if mi["median_rss_mib"] and hi["median_rss_mib"] else "-"
print(f"{'idle':<14} {'RSS MiB, ' + str(hi['connections']) + ' conns':<22} "
      f"{fmt(mi['median_rss_mib']):>12} {fmt(hi['median_rss_mib']):>12} {ratio:>7}")
if res["taskset"]:
    t = res["taskset"]["cpus"]
    one, two = t["0"]["median"]["delivered_per_s"], t["0,1"]["median"]["delivered_per_s"]
    scale = f"{two / one:.2f}" if one and two else "-"
    print(f"{'taskset':<14} {'holdfast msgs/s':<22} {'-c 0: ' + fmt(one):>12} {'-c 0,1: ' + fmt(two):>12} {scale:>7}")
lost = sum(r.get("lost") or 0 for r in rows + pinned if r.get("qos", 0) > 0)
print(f"raw results: {out}; results: {result}")
if lost:
    sys.exit(f"compare.sh: {lost} message(s) lost")
PY
"$BENCH" plot --input "$RESULT" --output target/bench
