#!/usr/bin/env bash
# Installs the third-party MQTT clients the black-box tests drive, each pinned, under
# target/ (nothing system-wide but Debian packages): the mosquitto clients and broker (apt), paho-mqtt
# (pip, in target/py-clients) and MQTT.js (npm, in target/js-clients). Idempotent and quick
# when everything is there. scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PAHO_VERSION=2.1.0
MQTTJS_VERSION=5.16.0
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
missing=()
command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
# The broker itself: `holdfast convert mosquitto` tests have it write real mosquitto.db files.
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
PY=$ROOT/target/py-clients
if ! "$PY/bin/python" -c "import paho.mqtt, sys; sys.exit(paho.mqtt.__version__ != '$PAHO_VERSION')" 2>/dev/null; then
  python3 -m venv "$PY"
  "$PY/bin/pip" install --quiet --disable-pip-version-check "paho-mqtt==$PAHO_VERSION"
fi
JS=$ROOT/target/js-clients
if [ "$(node -p "try{require('$JS/node_modules/mqtt/package.json').version}catch(e){''}")" != "$MQTTJS_VERSION" ]; then
  mkdir -p "$JS"
  (cd "$JS" && [ -f package.json ] || echo '{"private":true}' > package.json)
  (cd "$JS" && npm install --silent --no-audit --no-fund "mqtt@$MQTTJS_VERSION" >/dev/null)
fi
