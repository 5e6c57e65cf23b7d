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
# Two rows of issue 17, each round after the scenarios above, on brokers of their own:
# - window: one paho-mqtt (Python) publisher keeping 64 QoS 1 PUBLISHes in flight for
#   WINDOW_SECS to a topic with an offline persistent QoS 1 subscriber
#   (bench/paho_window_rate.py), acknowledged msgs/s and disconnects; against Mosquitto,
#   Holdfast with `durability = "sync"` (the default: each PUBACK waits for the fsync of its
#   commit, which Mosquitto never does) and Holdfast with `durability = "periodic"`; and
#   Holdfast sync with mqtt.queued_messages_max = 1 000 000, so that no message is dropped for
#   a full offline queue (at the defaults, Holdfast queues 10 000 and Mosquitto 1 000, and
#   both acknowledge and drop the rest, which Holdfast does not write to its store).
# - auth: user dev1 with a password, anonymous refused (bench/connect_auth.py, raw MQTT 3.1.1):
#   AUTH_SEQ sequential CONNECT+DISCONNECTs with the right password (Holdfast caches
#   verified credentials, so these are cache hits after the first), AUTH_DISTINCT users
#   connecting once each (no cache hit: the cold cost), and AUTH_STORM concurrent CONNECTs with
#   a wrong password (time until all are answered, broker VmHWM).
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
WINDOW=64; WINDOW_SECS=5; AUTH_SEQ=200; AUTH_DISTINCT=20; AUTH_STORM=300
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --scale) ROUNDS=1; DURATION=2; WARMUP=1; IDLE=2000
             WINDOW_SECS=2; AUTH_SEQ=50; AUTH_DISTINCT=3; AUTH_STORM=50; shift ;;
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
HOLDFAST=$PWD/$BIN_DIR/holdfast
# paho-mqtt 2.1.0 in target/py-clients (and the mosquitto clients), for the window row.
bash scripts/test-clients.sh
PY=$PWD/target/py-clients/bin/python
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

# start_holdfast PORT [CPUS]: CPUS pins the broker with taskset -c. HF_ENV (an array of
# NAME=VALUE) adds settings; HF_ADMIN_PORT fixes the admin API's port (default: any free one).
# The broker's cwd (readlink /proc/PID/cwd) holds its data dir, ./data.
HF_ENV=()
start_holdfast() {
  local port=$1 cpus=${2:-} dir; dir=$(mktemp -d)
  local bin=$PWD/$BIN_DIR/holdfast pin=()
  [ -z "$cpus" ] || pin=(taskset -c "$cpus")
  # The whole background job writes to the log, so that $(start_holdfast) does not wait on it.
  (cd "$dir" && exec env HOLDFAST_LISTENERS__TCP__BIND="127.0.0.1:$port" \
     HOLDFAST_ADMIN__BIND="127.0.0.1:${HF_ADMIN_PORT:-0}" HOLDFAST_LOG=warn ${HF_ENV[@]+"${HF_ENV[@]}"} \
     "${pin[@]}" "$bin" start) >"$dir/log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
  cat "$dir/pid"
}
start_mosquitto() {
  local port=$1 state; state=$(bash ../shared/conformance/start_mosquitto.sh "$port")
  cat "$state/mosquitto.pid"
}

# stop PID: SIGTERM, then wait (up to 10 s) for it to be gone; the brokers are not children
# of this shell.
stop() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 1 200); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
}
# stop_holdfast PID: stop, then delete the broker's temp dir (its cwd, made by start_holdfast).
stop_holdfast() {
  local dir; dir=$(readlink "/proc/$1/cwd" || true)
  stop "$1"
  case $dir in "${TMPDIR:-/tmp}"/tmp.*) if [ -f "$dir/pid" ]; then rm -rf "$dir"; fi ;; esac
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# labelled LABEL: wraps the JSON line on stdin as {"label": LABEL, ...its fields}.
labelled() { python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(json.dumps({"label": sys.argv[1], **r}))' "$1"; }

# window_run VARIANT PORT PID [ADMIN_PORT]: the QoS 1 window row against one started broker;
# with ADMIN_PORT (Holdfast), the node's counts of messages received and dropped are added
# (the offline session queues at most mqtt.queued_messages_max, 10 000; Mosquitto's
# max_queued_messages is 1 000; both acknowledge, and drop, the rest).
window_run() {
  local variant=$1 port=$2 pid=$3 admin=${4:-} t0 t1 stats='{}'

  mosquitto_sub -p "$port" -c -i off-sub -q 1 -t bench/window -E
  t0=$(cpu_ticks "$pid")
  timeout $((WINDOW_SECS + 30)) "$PY" bench/paho_window_rate.py "$port" bench/window "$WINDOW" \
    "$WINDOW_SECS" 311 64 >"$OUT/w.json"
  t1=$(cpu_ticks "$pid")
  if [ -n "$admin" ]; then
    stats=$("$HOLDFAST" ctl status --json --url "http://127.0.0.1:$admin" \
      --api-key "$(cat "$(readlink "/proc/$pid/cwd")/data/admin.key")")
  fi
  python3 -c 'import json,os,sys; r=json.load(open(sys.argv[1])); t=(int(sys.argv[3])-int(sys.argv[2]))/os.sysconf("SC_CLK_TCK")
r["broker_cpu_s"]=round(t,3); r["broker_cpu_us_per_msg"]=round(t*1e6/r["acked"],1) if r.get("acked") else None
st=json.loads(sys.argv[4]).get("stats", {})
r.update({"broker_" + k: st[k] for k in ["messages_received", "messages_dropped"] if k in st})
print(json.dumps(r))' "$OUT/w.json" "$t0" "$t1" "$stats" | labelled "$variant" >>"$OUT/window.jsonl"
}

AUTH_USER=dev1; AUTH_PASSWORD=bench-dev1-pw; AUTH_BAD=not-the-password
# auth_run BROKER PORT PID: the authenticated-connect row against one started broker.
auth_run() {
  local broker=$1 port=$2 pid=$3
  { python3 bench/connect_auth.py "$port" seq "$AUTH_USER" "$AUTH_PASSWORD" "$AUTH_SEQ"
    python3 bench/connect_auth.py "$port" distinct cold "$AUTH_PASSWORD" "$AUTH_DISTINCT"
    python3 bench/connect_auth.py "$port" storm "$AUTH_USER" "$AUTH_BAD" "$AUTH_STORM" --pid "$pid"
  } | while read -r line; do labelled "$broker" <<<"$line"; done >>"$OUT/auth.jsonl"
}
# Mosquitto with a password file, as start_mosquitto.sh configures it otherwise (it takes no
# config of its own): prints its pid.
start_mosquitto_auth() {
  local port=$1 dir; dir=$(mktemp -d)
  mkdir -p "$dir/data"
  mosquitto_passwd -c -b "$dir/passwd" "$AUTH_USER" "$AUTH_PASSWORD"
  for i in $(seq 1 "$AUTH_DISTINCT"); do mosquitto_passwd -b "$dir/passwd" "cold$i" "$AUTH_PASSWORD"; done
  cat >"$dir/mosquitto.conf" <<CONF
per_listener_settings false
allow_anonymous false
password_file $dir/passwd
listener $port 127.0.0.1
persistence true
persistence_location $dir/data/
autosave_interval 60
log_dest file $dir/mosquitto.log
log_type error
log_type warning
CONF
  if [ "$(id -u)" = 0 ] && id mosquitto >/dev/null 2>&1; then chown -R mosquitto "$dir"; fi
  mosquitto -c "$dir/mosquitto.conf" >"$dir/stdout.log" 2>&1 </dev/null &
  local mpid=$!
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
  echo "$mpid"
}
# Holdfast with anonymous clients refused and the users made through the admin API.
start_holdfast_auth() {
  local port=$1 admin; admin=$(free_port)
  local pid; pid=$(HF_ADMIN_PORT=$admin; HF_ENV=(HOLDFAST_MQTT__ALLOW_ANONYMOUS=false); start_holdfast "$port")
  local url=http://127.0.0.1:$admin dir; dir=$(readlink "/proc/$pid/cwd")
  "$HOLDFAST" ctl wait-ready --url "$url" >/dev/null
  local key; key=$(cat "$dir/data/admin.key")
  "$HOLDFAST" ctl user add "$AUTH_USER" --password "$AUTH_PASSWORD" --url "$url" --api-key "$key" >/dev/null
  for i in $(seq 1 "$AUTH_DISTINCT"); do
    "$HOLDFAST" ctl user add "cold$i" --password "$AUTH_PASSWORD" --url "$url" --api-key "$key" >/dev/null
  done
  echo "$pid"
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
  for variant in mosquitto holdfast-sync holdfast-periodic holdfast-sync-queue1m; do
    port=$(free_port); admin=$(free_port)
    case $variant in
      mosquitto) pid=$(start_mosquitto "$port"); admin= ;;
      holdfast-sync) pid=$(HF_ADMIN_PORT=$admin start_holdfast "$port") ;;
      holdfast-periodic) pid=$(HF_ADMIN_PORT=$admin; HF_ENV=(HOLDFAST_STORE__DURABILITY=periodic); start_holdfast "$port") ;;
      # every message queued, so stored and fsynced: none is dropped for a full queue
      holdfast-sync-queue1m) pid=$(HF_ADMIN_PORT=$admin; HF_ENV=(HOLDFAST_MQTT__QUEUED_MESSAGES_MAX=1000000); start_holdfast "$port") ;;
    esac
    [ -z "$admin" ] || "$HOLDFAST" ctl wait-ready --url "http://127.0.0.1:$admin" >/dev/null
    window_run "$variant" "$port" "$pid" "$admin"
    if [ "$variant" = mosquitto ]; then stop "$pid"; else stop_holdfast "$pid"; fi
  done
  echo "round $round: window done" >&2
  for broker in mosquitto holdfast; do
    port=$(free_port)
    pid=$(start_${broker}_auth "$port")
    auth_run "$broker" "$port" "$pid"
    if [ "$broker" = mosquitto ]; then stop "$pid"; else stop_holdfast "$pid"; fi
  done
  echo "round $round: auth done" >&2
done

python3 - "$OUT" "$RESULT" "$ROUNDS" "$DURATION" "$WARMUP" "$LOAD_BEFORE" \
  "$WINDOW $WINDOW_SECS $AUTH_SEQ $AUTH_DISTINCT $AUTH_STORM" "${SCENARIOS[@]}" <<'PY'
import json, os, statistics, subprocess, sys
out, result, rounds, duration, warmup, load_before = sys.argv[1:7]
window, window_secs, auth_seq, auth_distinct, auth_storm = map(int, sys.argv[7].split())
scenarios = [s.split("|", 1) for s in sys.argv[8:]]
def lines(name):
    path = os.path.join(out, name)
    return [json.loads(l) for l in open(path)] if os.path.exists(path) else []
rows, idle, pinned = lines("results.jsonl"), lines("idle.jsonl"), lines("taskset.jsonl")
windows, auths = lines("window.jsonl"), lines("auth.jsonl")
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
def medians(runs, keys):
    med = {}
    for k in keys:
        v = [r[k] for r in runs if r.get(k) is not None]
        med[k] = statistics.median(v) if v else None
    return {"runs": runs, "median": med}
# Issue 17's rows; not in "scenarios" (another client, other metrics), not plotted.
WINDOW_KEYS = ["acked_per_s", "broker_cpu_us_per_msg", "disconnects", "unacked_at_end",
               "broker_messages_received", "broker_messages_dropped"]
res["window"] = {
    "client": "paho-mqtt 2.1.0 (Python), bench/paho_window_rate.py", "protocol": "3.1.1",
    "qos": 1, "in_flight": window, "duration_s": window_secs, "payload_bytes": 64,
    "subscriber": "one offline persistent session (clean session false), QoS 1; queue limits "
                  "at their defaults (Holdfast 10 000, Mosquitto 1 000): both acknowledge and drop the rest",
    "variants": {v: medians([r for r in windows if r["label"] == v], WINDOW_KEYS)
                 for v in ["mosquitto", "holdfast-sync", "holdfast-periodic", "holdfast-sync-queue1m"]}}
for v in res["window"]["variants"].values():
    v["max_disconnects"] = max((r.get("disconnects", 0) for r in v["runs"]), default=None)
def auth_runs(broker, mode):
    return [r for r in auths if r["label"] == broker and r["mode"] == mode]
def mib(kib):
    return None if kib is None else kib / 1024
res["auth_connect"] = {
    "client": "bench/connect_auth.py (raw MQTT 3.1.1 CONNECT, username and password)",
    "sequential": auth_seq, "distinct_users": auth_distinct, "storm": auth_storm,
    "brokers": {}}
for b in ["mosquitto", "holdfast"]:
    storm = auth_runs(b, "storm")
    for r in storm:
        r["vmhwm_after_mib"] = mib(r.get("vmhwm_after_kib"))
    res["auth_connect"]["brokers"][b] = {
        "sequential": medians(auth_runs(b, "seq"), ["connects_per_s", "first_ms", "accepted"]),
        "distinct": medians(auth_runs(b, "distinct"), ["connects_per_s", "first_ms", "accepted"]),
        "storm_wrong_password": medians(storm, ["secs", "vmhwm_after_mib", "timeouts", "closed"])}
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
wv = res["window"]["variants"]
wm = wv["mosquitto"]["median"]
for v in ["holdfast-sync", "holdfast-periodic", "holdfast-sync-queue1m"]:
    for key, label in [("acked_per_s", "acked/s"), ("broker_cpu_us_per_msg", "cpu µs/msg")]:
        m, h = wm[key], wv[v]["median"][key]
        ratio = f"{h / m:.2f}" if m and h is not None else "-"
        print(f"{'window-' + str(window):<14} {v[len('holdfast-'):] + ' ' + label:<22} {fmt(m):>12} {fmt(h):>12} {ratio:>7}")
print(f"{'window-' + str(window):<14} {'max disconnects':<22} {wv['mosquitto']['max_disconnects']!s:>12} "
      f"{', '.join(str(wv[v]['max_disconnects']) for v in wv if v != 'mosquitto'):>12}")
drops = [wv[v]["median"]["broker_messages_dropped"] for v in ["holdfast-sync", "holdfast-periodic", "holdfast-sync-queue1m"]]
print(f"{'window-' + str(window):<14} {'dropped, queue full':<22} {'-':>12} {', '.join(fmt(d) for d in drops):>12}")
ab = res["auth_connect"]["brokers"]
for key, metric, label in [("sequential", "connects_per_s", f"{auth_seq} seq, connects/s"),
                           ("distinct", "connects_per_s", f"{auth_distinct} users, connects/s"),
                           ("storm_wrong_password", "secs", f"{auth_storm} bad at once, s"),
                           ("storm_wrong_password", "vmhwm_after_mib", "storm peak RSS MiB")]:
    m, h = ab["mosquitto"][key]["median"][metric], ab["holdfast"][key]["median"][metric]
    ratio = f"{h / m:.2f}" if m and h is not None else "-"
    print(f"{'auth':<14} {label:<22} {fmt(m):>12} {fmt(h):>12} {ratio:>7}")
bad = []
for v, w in wv.items():
    if not w["runs"] or any(r.get("disconnects") or not r.get("acked") for r in w["runs"]):
        bad.append(f"window {v}: no acks or a disconnect")
for b in ab:
    for key, want in [("sequential", auth_seq), ("distinct", auth_distinct)]:
        if not ab[b][key]["runs"] or any(r["accepted"] != want for r in ab[b][key]["runs"]):
            bad.append(f"auth {b} {key}: a right password was refused")
    if not ab[b]["storm_wrong_password"]["runs"] or any(r["codes"].get("0") for r in ab[b]["storm_wrong_password"]["runs"]):
        bad.append(f"auth {b} storm: missing, or a wrong password was accepted")
lost = sum(r.get("lost") or 0 for r in rows + pinned if r.get("qos", 0) > 0)
print(f"raw results: {out}; results: {result}")
if lost:
    sys.exit(f"compare.sh: {lost} message(s) lost")
if bad:
    sys.exit("compare.sh: " + "; ".join(bad))
PY
"$BENCH" plot --input "$RESULT" --output target/bench
