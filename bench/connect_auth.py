"""MQTT 3.1.1 CONNECTs with a username and password over raw TCP sockets, for the
authenticated-connect row of bench/compare.sh. Prints one JSON line.

  connect_auth.py PORT seq USER PASSWORD COUNT
      COUNT CONNECT, CONNACK, DISCONNECT round trips one after another (a new connection
      each): {"mode": "seq", "connects": n, "accepted": n, "secs": s, "connects_per_s": r,
      "first_ms": ms, "codes": {...}}
  connect_auth.py PORT distinct USER_PREFIX PASSWORD COUNT
      the same, with users USER_PREFIX1 .. USER_PREFIXCOUNT, each connecting once
  connect_auth.py PORT storm USER PASSWORD COUNT [--pid PID] [--timeout S]
      COUNT connections opened at once, each sending its CONNECT as soon as it is up; the time
      until every one has its CONNACK or is closed: {"mode": "storm", "connects": n,
      "secs": s, "codes": {...}, "closed": n, "timeouts": n, "vmrss_before_kib": k,
      "vmhwm_before_kib": k, "vmhwm_after_kib": k} (VmRSS/VmHWM of PID from /proc)

codes: CONNACK return codes seen (0 accepted, 3 server unavailable, 4 bad username or
password, 5 not authorised).
"""
import asyncio
import json
import socket
import struct
import sys
import time


def utf8(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def remaining_length(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id, user, password, keepalive=30):
    # variable header: "MQTT", level 4, flags username+password+clean session, keep-alive
    body = utf8("MQTT") + bytes([4, 0xC2]) + struct.pack("!H", keepalive)
    body += utf8(client_id) + utf8(user) + utf8(password)
    return bytes([0x10]) + remaining_length(len(body)) + body


DISCONNECT = bytes([0xE0, 0x00])


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def one_connect(port, client_id, user, password):
    """One round trip; returns the CONNACK code, or None if the broker closed first."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(connect_packet(client_id, user, password))
        ack = recv_exact(s, 4)
        if ack is None or ack[0] != 0x20:
            return None
        if ack[3] == 0:
            s.sendall(DISCONNECT)
        return ack[3]
    finally:
        s.close()


def proc_status(pid):
    out = {}
    try:
        for line in open(f"/proc/{pid}/status"):
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def sequential(port, users, password):
    codes = {}
    first_ms = None
    start = time.monotonic()
    for i, user in enumerate(users):
        t = time.monotonic()
        code = one_connect(port, f"bench-auth-{i}", user, password)
        if first_ms is None:
            first_ms = (time.monotonic() - t) * 1000
        codes[str(code)] = codes.get(str(code), 0) + 1
    secs = time.monotonic() - start
    return {"connects": len(users), "accepted": codes.get("0", 0), "secs": round(secs, 4),
            "connects_per_s": round(len(users) / secs, 1), "first_ms": round(first_ms, 2),
            "codes": codes}


async def storm(port, user, password, count, timeout):
    codes, closed, timeouts = {}, 0, 0
    gate = asyncio.Event()

    async def one(i):
        nonlocal closed, timeouts
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            closed += 1
            return
        try:
            await gate.wait()
            writer.write(connect_packet(f"bench-storm-{i}", user, password))
            await writer.drain()
            ack = await asyncio.wait_for(reader.readexactly(4), timeout)
            codes[str(ack[3])] = codes.get(str(ack[3]), 0) + 1
        except asyncio.TimeoutError:
            timeouts += 1
        except (OSError, asyncio.IncompleteReadError):
            closed += 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    # Let every connection be accepted first, then send all the CONNECTs at once.
    await asyncio.sleep(0.5)
    start = time.monotonic()
    gate.set()
    await asyncio.gather(*tasks)
    return {"secs": round(time.monotonic() - start, 4), "codes": codes, "closed": closed,
            "timeouts": timeouts}


def main():
    port, mode, user, password, count = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
                                         sys.argv[4], int(sys.argv[5]))
    opts = dict(zip(sys.argv[6::2], sys.argv[7::2]))
    if mode == "seq":
        res = sequential(port, [user] * count, password)
    elif mode == "distinct":
        res = sequential(port, [f"{user}{i}" for i in range(1, count + 1)], password)
    elif mode == "storm":
        pid = opts.get("--pid")
        before = proc_status(pid) if pid else {}
        res = asyncio.run(storm(port, user, password, count, float(opts.get("--timeout", 60))))
        res["connects"] = count
        if pid:
            after = proc_status(pid)
            res.update(vmrss_before_kib=before.get("VmRSS"), vmhwm_before_kib=before.get("VmHWM"),
                       vmhwm_after_kib=after.get("VmHWM"), vmrss_after_kib=after.get("VmRSS"))
    else:
        sys.exit(f"unknown mode {mode}")
    res["mode"] = mode
    print(json.dumps(res))


main()
