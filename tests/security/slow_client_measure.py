#!/usr/bin/env python3
"""Row 1 of issue 15, measured against a running server binary.

Starts SERVER_CMD (which must write its port to the file named by {port_file}),
opens N hostile connections that each send a partial request line and then one
header line every PERIOD seconds, without a key, and measures the latency of
keyed GET /health requests (a fresh connection each) while they are open.
With --streamers M --duration S it also runs M honest streaming clients
(keyed POST /v1/completions, stream=true) for S seconds next to the hostile
ones and reports their token rate and the server's peak RSS: run it once with
--hostile 0 and once with --hostile 64 to compare.
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
    ap.add_argument("--streamers", type=int, default=0)
    ap.add_argument("--duration", type=float, default=60.0)
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
            # A connection the server cut (408 at its head deadline) is
            # replaced at once: the attack stays at N connections throughout.
            n, reopened = 0, 0
            while not stop.is_set():
                for i, s in enumerate(hostile):
                    try:
                        s.sendall(b"TP/1.1\r\n" if n == 0 else b"X-Slow-%d: 1\r\n" % n)
                    except OSError:
                        try:
                            s.close()
                            s = socket.create_connection(("127.0.0.1", port))
                            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n")
                            hostile[i] = s
                            reopened += 1
                        except OSError:
                            pass
                n += 1
                stop.wait(a.period)
            reopened_total[0] = reopened

        reopened_total = [0]
        t = threading.Thread(target=trickle, daemon=True)
        t.start()
        time.sleep(0.5)
        tokens, streams, stream_errors = [0], [0], [0]
        lock = threading.Lock()
        deadline = time.monotonic() + a.duration

        def stream():
            body = b'{"prompt": "Once upon a time", "max_tokens": 32, "stream": true, "temperature": 0}'
            req = (b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + a.key.encode() +
                   b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            while time.monotonic() < deadline:
                n, ok = 0, False
                try:
                    c = socket.create_connection(("127.0.0.1", port), timeout=a.timeout)
                    c.settimeout(a.timeout)
                    c.sendall(req)
                    data = b""
                    while b"data: [DONE]" not in data:
                        chunk = c.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                    c.close()
                    n = data.count(b"data: {")
                    ok = b"data: [DONE]" in data
                except OSError:
                    pass
                with lock:
                    tokens[0] += n
                    streams[0] += 1 if ok else 0
                    stream_errors[0] += 0 if ok else 1

        streamers = [threading.Thread(target=stream, daemon=True) for _ in range(a.streamers)]
        t_streams = time.monotonic()
        for th in streamers:
            th.start()
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
        for th in streamers:
            th.join()
        stream_s = time.monotonic() - t_streams
        stop.set()
        t.join()
        peak_rss_mib = 0
        try:
            for line in open("/proc/%d/status" % server.pid):
                if line.startswith("VmHWM:"):
                    peak_rss_mib = int(line.split()[1]) // 1024
        except OSError:
            pass
        lat.sort()
        pick = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
        print(json.dumps({"hostile": a.hostile, "period_s": a.period, "requests": a.requests, "failed": failed,
                          "p50_ms": round(pick(0.5), 2), "p99_ms": round(pick(0.99), 2),
                          "max_ms": round(lat[-1], 2),
                          "streamers": a.streamers, "streams_done": streams[0], "stream_errors": stream_errors[0],
                          "stream_tokens_per_s": round(tokens[0] / stream_s, 1) if a.streamers else None,
                          "server_peak_rss_mib": peak_rss_mib,
                          "hostile_reconnects": reopened_total[0]}))
    finally:
        server.kill()
        server.wait()
        if os.path.exists(port_file):
            os.remove(port_file)


if __name__ == "__main__":
    sys.exit(main())
