#!/usr/bin/env python3
"""Measurements of issue 18's scale-out (the numbers in the notes come from here).

  measure.py store CHUNKSERVE CORPUS PG_URL WORK [EMBED_MODEL]
      ingest MB/s (SQLite vs PostgreSQL) and /v1/search latency p50/p99 (bm25, and
      hybrid when EMBED_MODEL is given) through `serve --db` without a model.
  measure.py ttft CLUSTER_ENV [ROUNDS]
      TTFT on replica 2 for a chunk it computes (cold), gets from Redis (computed on
      replica 1), and gets from its own RAM; Redis GET rate of the chunk values.
  measure.py throughput CLUSTER_ENV [SECONDS]
      completions per second and tokens per second through the balancer at 1, 4, 16
      concurrent clients.
Prints one JSON object per measurement. Run on a quiet machine and say its load.
"""
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time


def post(url, path, body, headers=None, timeout=300):
    host = url.split("//", 1)[1].rstrip("/")
    conn = http.client.HTTPConnection(host, timeout=timeout)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn.request("POST", path, json.dumps(body), h)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r.status, json.loads(data)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


QUERIES = ["tariff on imported steel", "slavery and the union", "\"national debt\" taxes", "war in Vietnam",
           "Louisiana purchase", "income tax", "social security reform", "Indian tribes treaties",
           "gold standard silver coinage", "\"federal reserve\"", "atomic energy", "civil service reform",
           "health care costs", "terrorism homeland security", "immigration", "railroads and canals",
           "Great Depression unemployment relief", "\"Panama Canal\" treaty", "what about the economy?",
           "education for our children", "the space program and the moon", "oil and energy crisis",
           "trade with China", "veterans pensions", "the Soviet Union and communism"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def store(chunkserve, corpus, pg_url, work, embed_model=None):
    os.makedirs(work, exist_ok=True)
    sqlite = os.path.join(work, "sotu.db")
    for f in (sqlite, sqlite + "-wal", sqlite + "-shm"):
        if os.path.exists(f):
            os.remove(f)
    subprocess.run([chunkserve, "rm", "--db", pg_url, "--collection", "sotu"], capture_output=True)
    for name, db in (("sqlite", sqlite), ("postgresql", pg_url)):
        cmd = [chunkserve, "ingest", corpus, "--db", db, "--collection", "sotu", "--json"]
        if embed_model:
            cmd += ["--embed-model", embed_model]
        t0 = time.time()
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()
        wall = time.time() - t0
        summary = json.loads(out[-1])["summary"]
        mb = summary["bytes_read"] / 1e6
        print(json.dumps({"measure": "ingest", "backend": name, "MB": round(mb, 2), "chunks": summary["chunks"],
                          "ingest_s": round(summary["elapsed_s"], 2), "MB_per_s": round(mb / summary["elapsed_s"], 2),
                          "process_wall_s": round(wall, 2), "embedded": bool(embed_model)}), flush=True)
        if name == "postgresql":
            # Searches right after a bulk load would race autovacuum's first
            # VACUUM/ANALYZE of the postings (measured: p50 115 ms instead of
            # 4 ms while it ran); measure the steady state.
            subprocess.run(["psql", db, "-qc", "VACUUM ANALYZE"], check=True)
        port = free_port()
        serve = [chunkserve, "serve", "--db", db, "--port", str(port), "--threads", "1"]
        if embed_model:
            serve += ["--embed-model", embed_model]
        p = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = "http://127.0.0.1:%d" % port
            for _ in range(300):
                try:
                    post(url, "/v1/search", {"collection": "sotu", "query": "warmup", "k": 10, "mode": "bm25"})
                    break
                except OSError:
                    time.sleep(0.1)
            for mode in (["bm25", "hybrid"] if embed_model else ["bm25"]):
                for q in QUERIES:  # warm-up round (dense index opened, caches filled)
                    post(url, "/v1/search", {"collection": "sotu", "query": q, "k": 10, "mode": mode})
                lat = []
                for _ in range(4):
                    for q in QUERIES:
                        t = time.perf_counter()
                        status, j = post(url, "/v1/search", {"collection": "sotu", "query": q, "k": 10, "mode": mode})
                        lat.append((time.perf_counter() - t) * 1000)
                        assert status == 200, j
                print(json.dumps({"measure": "search", "backend": name, "mode": mode, "n": len(lat),
                                  "p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2)}), flush=True)
        finally:
            p.terminate()
            p.wait()


def read_env(path):
    env = {}
    for line in open(path):
        k, v = line.strip().split("=", 1)
        env[k] = v.strip("'")
    return env


def doc(i, n_words=400):
    rnd = random.Random(i)
    words = ["canal", "river", "freight", "harbor", "railroad", "engine", "city", "bridge", "lake", "tariff",
             "senate", "treaty", "budget", "navy", "coal", "steel", "wheat", "cotton", "school", "court"]
    return "Document %d. " % i + " ".join(rnd.choice(words) for _ in range(n_words)) + "."


def ttft_of(url, documents, question):
    status, j = post(url, "/v1/completions", {"prompt": question, "documents": documents, "max_tokens": 1,
                                               "temperature": 0})
    assert status == 200, j
    return j["usage"]["timings"]["ttft_ms"], j["usage"]["prompt_tokens_details"]


def metric(url, name):
    host = url.split("//", 1)[1]
    c = http.client.HTTPConnection(host, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    return {l.split()[0]: float(l.split()[1]) for l in text.splitlines() if l.startswith(name)}


def ttft(env_path, rounds=5):
    env = read_env(env_path)
    a, b = env["CS_REPLICA1_URL"], env["CS_REPLICA2_URL"]
    cold, redis, ram = [], [], []
    base = random.randrange(1 << 30)
    for r in range(rounds):
        d1, d2 = doc(base + 10 * r + 1), doc(base + 10 * r + 2)
        x = lambda k: "Note %d." % (base + 100 * r + k)  # a small unique first document: no prefix-cache hit
        t, det = ttft_of(b, [x(1), d1], "Q1?")
        cold.append(t)
        before = metric(a, "chunkserve_chunk_cache_remote_total").get('chunkserve_chunk_cache_remote_total{event="published"}', 0)
        ttft_of(a, [x(2), d2], "Q2?")
        # Published before A's response ended: B is asked at once.
        m = metric(a, "chunkserve_chunk_cache_remote_total")
        assert m.get('chunkserve_chunk_cache_remote_total{event="published"}', 0) >= before + 2, m
        t, det = ttft_of(b, [x(3), d2], "Q3?")
        assert det["chunk_cached_tokens"] > 0 and det["chunk_hits"]["remote"] >= 1, det
        redis.append(t)
        t, det = ttft_of(b, [x(4), d2], "Q4?")
        assert det["chunk_cached_tokens"] > 0, det
        ram.append(t)
    print(json.dumps({"measure": "ttft_replica_b", "rounds": rounds, "doc_words": 400,
                      "cold_ms": round(statistics.median(cold), 2), "warm_redis_ms": round(statistics.median(redis), 2),
                      "warm_ram_ms": round(statistics.median(ram), 2)}), flush=True)
    # Redis transfer: GET every chunk value (RESP over TCP), timed.
    host, port = env["CS_REDIS_URL"].split("//", 1)[1].split(":")
    s = socket.create_connection((host, int(port)))
    f = s.makefile("rb")

    def cmd(*args):
        out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in args)
        s.sendall(out)
        return read()

    def read():
        line = f.readline()
        if line[:1] == b"$":
            n = int(line[1:])
            return None if n < 0 else f.read(n + 2)[:-2]
        if line[:1] == b"*":
            return [read() for _ in range(int(line[1:]))]
        return line

    keys = cmd(b"KEYS", b"chunkserve:kv:*")
    sizes, secs = [], []
    for _ in range(3):
        for k in keys:
            t = time.perf_counter()
            v = cmd(b"GET", k)
            secs.append(time.perf_counter() - t)
            sizes.append(len(v))
    s.close()
    # The documents' chunks (large) and the one-line notes (small) apart.
    for label, keep in (("large", lambda n: n >= 1 << 20), ("small", lambda n: n < 1 << 20)):
        z = [(n, t) for n, t in zip(sizes, secs) if keep(n)]
        if not z:
            continue
        print(json.dumps({"measure": "redis_get", "values": label, "n": len(z),
                          "mean_value_MB": round(statistics.mean(n for n, _ in z) / 1e6, 3),
                          "median_ms": round(statistics.median(t for _, t in z) * 1000, 2),
                          "MB_per_s": round(sum(n for n, _ in z) / sum(t for _, t in z) / 1e6, 1)}), flush=True)


def throughput(env_path, seconds=20):
    env = read_env(env_path)
    lb = env["CS_LB_URL"]
    for clients in (1, 4, 16):
        done, tokens, errors = [0], [0], [0]
        lock = threading.Lock()
        stop = time.time() + seconds

        def worker(i):
            n = 0
            while time.time() < stop:
                try:
                    status, j = post(lb, "/v1/completions", {"prompt": "Client %d request %d: once upon a time" % (i, n),
                                                             "max_tokens": 16, "ignore_eos": True, "temperature": 0})
                    with lock:
                        if status == 200:
                            done[0] += 1
                            tokens[0] += j["usage"]["completion_tokens"]
                        else:
                            errors[0] += 1
                except OSError:
                    with lock:
                        errors[0] += 1
                n += 1

        t0 = time.time()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.time() - t0
        print(json.dumps({"measure": "throughput_lb", "clients": clients, "requests_per_s": round(done[0] / wall, 2),
                          "tokens_per_s": round(tokens[0] / wall, 1), "errors": errors[0], "seconds": round(wall, 1)}),
              flush=True)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "store":
        store(*sys.argv[2:])
    elif what == "ttft":
        ttft(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5)
    elif what == "throughput":
        throughput(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 20)
    else:
        sys.exit(__doc__)
