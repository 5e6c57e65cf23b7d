#!/usr/bin/env bash
# Bounded fuzzing of the parsers that take untrusted bytes (CI runs this): each target of
# fuzz/ runs under libFuzzer for FUZZ_SECS seconds (default 60), seeded with the golden
# archive fixtures and a few real packets. Built on the stable toolchain with the coverage
# flags cargo-fuzz would pass (no sanitizer: that needs nightly; Rust's own checks, debug
# assertions and overflow checks are on). A crash, a hang (-timeout) or an allocation over
# -rss_limit_mb fails the run and leaves the input in fuzz/artifacts/<target>/.
#   usage: scripts/fuzz.sh [TARGET...]     (default: every target)
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${FUZZ_SECS:-60}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(packet_decode archive_read)
triple="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
cargo build --quiet --release --locked --target "$triple" $(printf -- '--bin %s ' "${targets[@]}")

# Seeds: archives whole (mode byte 0) and the sample's bare tar (mode byte 1), so that the
# fuzzer starts inside the formats instead of guessing its way past the magic and checksums.
seed_archive_read() {
  local dir=corpus/archive_read
  mkdir -p "$dir"
  for f in ../crates/backup/tests/fixtures/v1/*; do
    [ -f "$f" ] && { printf '\000'; cat "$f"; } > "$dir/$(basename "$f")"
  done
  if command -v zstd >/dev/null && [ -f ../crates/backup/tests/fixtures/v1/sample.hfx ]; then
    { printf '\001'; tail -c +21 ../crates/backup/tests/fixtures/v1/sample.hfx | zstd -dcq 2>/dev/null || true; } \
      > "$dir/sample.tar"
  fi
}
# Seeds for the decoder: mode byte 0 (detect the version from CONNECT), then packets.
seed_packet_decode() {
  local dir=corpus/packet_decode
  mkdir -p "$dir"
  # 3.1.1 CONNECT (client "c", clean session), SUBSCRIBE a/# QoS 1, PUBLISH QoS 1 a/b.
  printf '\000\020\015\000\004MQTT\004\002\000\074\000\001c\202\010\000\001\000\003a/#\001\062\011\000\003a/b\000\001hi' \
    > "$dir/v311"
  # 5.0 CONNECT with an empty property block, then a PUBLISH with a property.
  printf '\000\020\016\000\004MQTT\005\002\000\074\000\000\001c\062\016\000\003a/b\000\001\002\001\001hi!!' \
    > "$dir/v5"
}

status=0
for t in "${targets[@]}"; do
  "seed_$t"
  mkdir -p "artifacts/$t"
  echo "fuzz: $t for ${secs}s"
  if ! "./target/$triple/release/$t" "corpus/$t" -artifact_prefix="artifacts/$t/" \
      -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 2> "artifacts/$t.log"; then
    echo "fuzz: $t FAILED; the input is in fuzz/artifacts/$t/, the log in fuzz/artifacts/$t.log" >&2
    tail -n 60 "artifacts/$t.log" >&2
    status=1
  else
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)' "artifacts/$t.log" || true
  fi
done
exit "$status"
