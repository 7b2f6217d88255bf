#!/usr/bin/env python3
"""Row 1 of issue 15, measured against a running server binary.

Starts SERVER_CMD (which must write its port to the file named by {port_file}),
opens N hostile connections that each send a partial request line and then one
header line every PERIOD seconds, without a key, and measures the latency of
keyed GET /health requests (a fresh connection each) while they are open.
Prints one JSON line. Stops by itself: every request has a timeout and the
server is killed at the end.

  tests/security/slow_client_measure.py --hostile 64 --period 10 --requests 200 -- \
      build/chunkserve serve -m model.gguf --api-key K --port 0 --port-file {port_file}
"""
import argparse, json, os, socket, subprocess, sys, tempfile, threading, time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hostile", type=int, default=64)
    ap.add_argument("--period", type=float, default=10.0)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=60.0, help="per keyed request, seconds")
    ap.add_argument("--key", default="K")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = [c for c in a.cmd if c != "--"]
    port_file = tempfile.mktemp(prefix="slow_client_port_")
    server = subprocess.Popen([c.replace("{port_file}", port_file) for c in cmd], stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        port = int(open(port_file).read().strip())
        stop = threading.Event()
        hostile = []
        for _ in range(a.hostile):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /v1/chat/completions HT")
            hostile.append(s)

        def trickle():
            n = 0
            while not stop.is_set():
                for s in hostile:
                    try:
                        s.sendall(b"TP/1.1\r\n" if n == 0 else b"X-Slow-%d: 1\r\n" % n)
                    except OSError:
                        pass
                n += 1
                stop.wait(a.period)

        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        time.sleep(0.5)
        req = ("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n"
               % a.key).encode()
        lat, failed = [], 0
        for _ in range(a.requests):
            t0 = time.monotonic()
            try:
                c = socket.create_connection(("127.0.0.1", port), timeout=a.timeout)
                c.settimeout(a.timeout)
                c.sendall(req)
                data = c.recv(4096)
                c.close()
                ok = data.startswith(b"HTTP/1.1 200")
            except OSError:
                ok = False
            lat.append((time.monotonic() - t0) * 1000)
            failed += 0 if ok else 1
        stop.set()
        lat.sort()
        pick = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
        print(json.dumps({"hostile": a.hostile, "period_s": a.period, "requests": a.requests, "failed": failed,
                          "p50_ms": round(pick(0.5), 2), "p99_ms": round(pick(0.99), 2),
                          "max_ms": round(lat[-1], 2)}))
    finally:
        server.kill()
        server.wait()
        if os.path.exists(port_file):
            os.remove(port_file)


if __name__ == "__main__":
    sys.exit(main())
