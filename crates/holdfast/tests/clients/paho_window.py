"""paho-mqtt (Python) publisher with a window of QoS 1 messages in flight, as gateways and
bridges run: publishes COUNT messages to TOPIC, waits for every PUBACK, and prints one JSON
line: {"acked": n, "disconnects": n, "secs": s}.

usage: paho_window.py PORT TOPIC COUNT WINDOW PROTOCOL(311|5) TIMEOUT_SECS
"""
import json
import sys
import threading
import time

import paho.mqtt.client as mqtt

port, topic, count, window, proto, timeout = (
    int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5],
    float(sys.argv[6]))
protocol = mqtt.MQTTv5 if proto == "5" else mqtt.MQTTv311
c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-window-%d" % port,
                protocol=protocol)
c.max_inflight_messages_set(window)
c.max_queued_messages_set(0)
acked = 0
disconnects = 0
done = threading.Event()
connected = threading.Event()


def on_connect(client, userdata, flags, reason, props):
    connected.set()


def on_publish(client, userdata, mid, reason, props):
    global acked
    acked += 1
    if acked >= count:
        done.set()


def on_disconnect(client, userdata, flags, reason, props):
    global disconnects
    disconnects += 1


c.on_connect = on_connect
c.on_publish = on_publish
c.on_disconnect = on_disconnect
c.connect("127.0.0.1", port, keepalive=30)
c.loop_start()
if not connected.wait(10):
    print(json.dumps({"error": "no CONNACK"}))
    sys.exit(1)
start = time.monotonic()
for i in range(count):
    c.publish(topic, ("m%d" % i).encode(), qos=1)
done.wait(timeout)
secs = time.monotonic() - start
result = {"acked": acked, "disconnects": disconnects, "secs": secs}
c.disconnect()
c.loop_stop()
print(json.dumps(result))
