#!/usr/bin/env bash
# The project's test command (README and CI run this). It installs the third-party MQTT
# clients the black-box tests drive (Debian's mosquitto-clients) if they are missing, then
# runs every test of the workspace against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mosquitto_pub >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq mosquitto-clients >/dev/null
fi
cargo test --workspace --all-targets "$@"
