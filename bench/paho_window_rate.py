"""paho-mqtt (Python) publisher keeping WINDOW QoS 1 PUBLISHes unacknowledged for DURATION
seconds, as gateways and bridges run: WINDOW PUBLISHes go out at the start, and each PUBACK
(paho's on_publish, on paho's network thread) sends the next one until the time is up.
Counts the PUBACKs received in that time. Prints one JSON line:
{"acked": n, "secs": s, "acked_per_s": r, "disconnects": n, "unacked_at_end": n, ...}
(unacked_at_end: PUBLISHes still unacknowledged 5 s after the time was up).

usage: paho_window_rate.py PORT TOPIC WINDOW DURATION_SECS [PROTOCOL(311|5)] [SIZE]
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

port, topic, window, duration = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
proto = sys.argv[5] if len(sys.argv) > 5 else "311"
size = int(sys.argv[6]) if len(sys.argv) > 6 else 64
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-window-rate-%d" % port,
                protocol=mqtt.MQTTv5 if proto == "5" else mqtt.MQTTv311)
c.max_inflight_messages_set(window)
c.max_queued_messages_set(0)
payload = bytes(size)
lock = threading.Lock()
state = {"acked": 0, "sent": 0, "disconnects": 0, "open": True}
connected = threading.Event()
drained = threading.Event()


def on_connect(client, userdata, flags, reason, props):
    connected.set()


def on_publish(client, userdata, mid, reason, props):
    with lock:
        state["acked"] += 1
        more = state["open"]
        if more:
            state["sent"] += 1
        elif state["acked"] >= state["sent"]:
            drained.set()
    if more:
        client.publish(topic, payload, qos=1)


def on_disconnect(client, userdata, flags, reason, props):
    with lock:
        state["disconnects"] += 1


c.on_connect = on_connect
c.on_publish = on_publish
c.on_disconnect = on_disconnect
c.connect("127.0.0.1", port, keepalive=30)
c.loop_start()
if not connected.wait(10):
    print(json.dumps({"error": "no CONNACK"}))
    sys.exit(1)
start = time.monotonic()
with lock:
    state["sent"] += window
for _ in range(window):
    c.publish(topic, payload, qos=1)
time.sleep(max(0.0, start + duration - time.monotonic()))
with lock:
    state["open"] = False
    acked = state["acked"]
    if acked >= state["sent"]:
        drained.set()
secs = time.monotonic() - start
drained.wait(5)
with lock:
    unacked = state["sent"] - state["acked"]
    disconnects = state["disconnects"]
c.disconnect()
c.loop_stop()
print(json.dumps({"acked": acked, "secs": round(secs, 3), "acked_per_s": round(acked / secs, 1),
                  "disconnects": disconnects, "unacked_at_end": unacked, "window": window,
                  "size": size}))
