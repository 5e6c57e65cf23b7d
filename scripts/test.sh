#!/usr/bin/env bash
# The project's test command (README and CI run this). It installs the third-party MQTT
# clients the black-box tests drive (the mosquitto clients, paho-mqtt and MQTT.js, pinned;
# see scripts/test-clients.sh) if they are missing, then runs every test of the workspace
# against the real binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/test-clients.sh
cargo test --workspace --all-targets "$@"
