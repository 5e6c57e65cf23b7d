// MQTT.js (npm `mqtt`) with its default settings: a burst of COUNT QoS 1 publishes fired at
// once (MQTT.js does not hold back to Receive Maximum), waiting for every PUBACK. Prints one
// JSON line: {"acked": n, "closes": n, "errors": [..], "secs": s}.
//
// usage: node mqttjs_burst.js URL TOPIC COUNT PROTOCOL(4|5) TIMEOUT_SECS   (NODE_PATH: the
// node_modules holding mqtt)
const mqtt = require('mqtt');
const [url, topic, countS, protoS, timeoutS] = process.argv.slice(2);
const count = Number(countS);
const started = Date.now();
const c = mqtt.connect(url, { protocolVersion: Number(protoS), clientId: 'mqttjs-burst-' + process.pid, reconnectPeriod: 0 });
let acked = 0, closes = 0;
const errors = [];
let finished = false;
function finish() {
  if (finished) return;
  finished = true;
  console.log(JSON.stringify({ acked, closes, errors, secs: (Date.now() - started) / 1000 }));
  c.end(true, () => process.exit(0));
  setTimeout(() => process.exit(0), 1000);
}
setTimeout(finish, Number(timeoutS) * 1000);
c.on('close', () => { closes += 1; if (acked < count) finish(); });
c.on('error', (e) => errors.push(String(e.message || e)));
c.on('disconnect', (p) => errors.push('DISCONNECT 0x' + (p.reasonCode || 0).toString(16)));
c.once('connect', () => {
  for (let i = 0; i < count; i++) {
    c.publish(topic, 'm' + i, { qos: 1 }, (err) => {
      if (err) { errors.push(String(err.message || err)); return; }
      acked += 1;
      if (acked === count) finish();
    });
  }
});
