#!/usr/bin/env bash
# CI smoke of the benchmark scripts (bench/backup.sh, bench/compare.sh): each runs once at
# --scale (a 1/100 data set; one short round) on a dev build, and the results file it writes
# must parse as JSON of the expected shape, with its plots written. Speed is not checked here:
# CI machines are shared and the build is not optimised. Figures come from release runs
# recorded in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_PROFILE=dev
# The plots need a TrueType font (holdfast-bench plot looks for DejaVu or Liberation Sans).
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] && [ -z "${HOLDFAST_BENCH_FONT:-}" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq fonts-dejavu-core >/dev/null
fi
mkdir -p target/bench
MARK=$(mktemp)
trap 'rm -f "$MARK"' EXIT

newest() { find target/bench -maxdepth 1 -name "$1-*.json" -newer "$MARK" | sort | tail -1; }

echo "== bench smoke: bench/backup.sh --scale"
timeout 600 bash bench/backup.sh --scale --latency-secs 3
backup=$(newest backup)
echo "== bench smoke: bench/compare.sh --scale --taskset"
timeout 600 bash bench/compare.sh --scale --taskset
compare=$(newest compare)

python3 - "$backup" "$compare" <<'PY'
import json, os, sys
backup, compare = sys.argv[1], sys.argv[2]
b = json.load(open(backup))
assert b["kind"] == "backup", b.get("kind")
for k in ["export", "tar_zstd", "verify", "import", "snapshot"]:
    assert b["times_s"][k] > 0, k
assert b["fill"]["sessions"] == b["dataset"]["sessions"]
assert b["fill"]["queued"] == b["dataset"]["queued"]
assert b["fill"]["retained"] == b["dataset"]["retained"]
assert b["lost"] == 0
assert len(b["targets"]) == 5
c = json.load(open(compare))
assert c["kind"] == "compare", c.get("kind")
assert len(c["scenarios"]) == 4
for s in c["scenarios"]:
    for broker in ["mosquitto", "holdfast"]:
        m = s["brokers"][broker]
        assert len(m["runs"]) == c["rounds"], (s["name"], broker)
        assert m["median"]["delivered_per_s"] > 0, (s["name"], broker)
assert set(c["taskset"]["cpus"]) == {"0", "0,1"}
for p in [backup, compare]:
    assert os.path.getsize(p[:-len(".json")] + ".png") > 0, p
assert os.path.getsize(compare[:-len(".json")] + "-taskset.png") > 0
print(f"bench smoke: {backup} and {compare} parse and have their plots")
PY
