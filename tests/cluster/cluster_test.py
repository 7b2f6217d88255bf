#!/usr/bin/env python3
"""The local cluster end to end (tools/cluster/cluster.sh): PostgreSQL, Redis,
two `chunkserve serve` replicas and HAProxy on loopback.

  1. A chunk whose KV replica A computed is warm on replica B (from Redis).
  2. The balancer keeps an X-Chunkserve-Affinity key on one replica and
     spreads requests without it.
  3. A document ingested through one replica is searchable through the
     other, and its deletion disappears there too.
  4. SIGKILL of a replica mid-stream: that stream fails, a stream on the
     other replica completes, and the balancer routes the key elsewhere.

usage: cluster_test.py CHUNKSERVE FIXTURE_TOOL WORK_DIR
Exit 77 (skipped) when PostgreSQL, Redis, HAProxy or the fixture tool is absent.
"""
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77
HERE = os.path.dirname(os.path.abspath(__file__))
CLUSTER = os.path.join(HERE, "..", "..", "tools", "cluster", "cluster.sh")
DOC = (
    "The Erie Canal opened in 1825 and joined the Hudson River to Lake Erie. Freight costs between "
    "Buffalo and New York fell by ninety percent within a decade, and towns along the route grew into "
    "cities. Engineers trained on the canal later built railroads across the continent. "
) * 6


def request(url, method="GET", body=None, headers=None, timeout=60):
    host = url.split("//", 1)[1].split("/", 1)[0]
    path = "/" + url.split("//", 1)[1].split("/", 1)[1] if "/" in url.split("//", 1)[1] else "/"
    conn = http.client.HTTPConnection(host, timeout=timeout)
    data = json.dumps(body).encode() if body is not None else None
    h = {"Content-Type": "application/json"} if data else {}
    h.update(headers or {})
    conn.request(method, path, body=data, headers=h)
    resp = conn.getresponse()
    text = resp.read().decode("utf-8", "replace")
    conn.close()
    try:
        return resp.status, json.loads(text)
    except ValueError:
        return resp.status, text


def metric(url, name, label):
    _, text = request(url + "/metrics")
    for line in text.splitlines():
        if line.startswith(name + "{" + label + "}"):
            return float(line.split()[-1])
    return 0.0


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what, flush=True)


def completion(url, affinity=None, **extra):
    body = {"prompt": "Question: when did the canal open?", "max_tokens": 2, "temperature": 0}
    body.update(extra)
    headers = {"X-Chunkserve-Affinity": affinity} if affinity else {}
    status, j = request(url + "/v1/completions", "POST", body, headers)
    if status != 200:
        raise AssertionError("completion %s -> %s %s" % (url, status, j))
    return j


def chunk_kv_across_replicas(env):
    a, b = env["CS_REPLICA1_URL"], env["CS_REPLICA2_URL"]
    first = completion(a, documents=[DOC])
    check(first["usage"]["prompt_tokens_details"]["chunk_cached_tokens"] == 0, "replica A computes the chunk")
    # The engine computes a missed chunk's cache entry in a fill job right
    # after the request's prefill, and holds the response's end until it is
    # published: no waiting here, B is asked the moment A answered.
    check(metric(a, "chunkserve_chunk_cache_remote_total", 'event="published"') >= 1,
          "A published it to Redis before its response ended")
    second = completion(b, documents=[DOC])
    cached = second["usage"]["prompt_tokens_details"]["chunk_cached_tokens"]
    check(cached > 0, "replica B reuses %d chunk tokens on its first request" % cached)
    hits = second["usage"]["prompt_tokens_details"]["chunk_hits"]
    check(hits["remote"] >= 1 and hits["disk"] == 0, "B's usage counts its hit as remote: %s" % hits)
    check(metric(b, "chunkserve_chunk_cache_lookups_total", 'tier="remote"') >= 1, "B's hit came from Redis")
    third = completion(b, documents=[DOC])
    check(third["usage"]["prompt_tokens_details"]["cached_tokens"] >= cached and
          third["usage"]["prompt_tokens_details"]["chunk_hits"]["remote"] == 0 and
          metric(b, "chunkserve_chunk_cache_lookups_total", 'tier="remote"') == 1,
          "B serves it again from its own caches, without Redis")


def affinity(env):
    lb = env["CS_LB_URL"]
    for key in ("alpha", "beta", "gamma", "delta"):
        seen = {completion(lb, affinity=key)["model"] for _ in range(4)}
        check(len(seen) == 1, "affinity key %r stays on %s" % (key, seen))
    seen = {completion(lb)["model"] for _ in range(6)}
    check(len(seen) == 2, "requests without the header reach both replicas (%s)" % sorted(seen))


def freshness(env, chunkserve, work):
    a, b = env["CS_REPLICA1_URL"], env["CS_REPLICA2_URL"]
    request(a + "/v1/collections", "POST", {"name": "fresh"})
    status, j = request(a + "/v1/collections/fresh/documents", "POST",
                        {"name": "canal.txt", "text": "The aqueduct at Rochester carried the canal over the Genesee."})
    check(status in (200, 201), "upload through replica A (%s)" % status)
    deadline = time.time() + 5
    hits = []
    while time.time() < deadline:
        status, j = request(b + "/v1/search", "POST", {"collection": "fresh", "query": "aqueduct Genesee", "k": 3})
        hits = j.get("data", []) if isinstance(j, dict) else []
        if status == 200 and hits:
            break
        time.sleep(0.1)
    check(bool(hits), "replica B finds the document uploaded through A")
    rc = subprocess.run([chunkserve, "rm", "--db", env["CS_PG_URL"], "--collection", "fresh", "--document",
                         "canal.txt"], capture_output=True, text=True)
    check(rc.returncode == 0, "rm through the shared store: " + rc.stderr.strip())
    status, j = request(b + "/v1/search", "POST", {"collection": "fresh", "query": "aqueduct Genesee", "k": 3})
    check(status == 200 and not j.get("data"), "the deletion disappears on replica B")


def stream_tokens(lb, key, max_tokens, on_first=None):
    """Streams a completion; returns (n_events, done)."""
    host = lb.split("//", 1)[1]
    conn = http.client.HTTPConnection(host, timeout=60)
    body = {"prompt": "Once upon a time", "max_tokens": max_tokens, "ignore_eos": True, "stream": True,
            "temperature": 0}
    conn.request("POST", "/v1/completions", body=json.dumps(body),
                 headers={"Content-Type": "application/json", "X-Chunkserve-Affinity": key})
    resp = conn.getresponse()
    n, done = 0, False
    try:
        while True:
            line = resp.readline()
            if not line:
                break
            if line.startswith(b"data: [DONE]"):
                done = True
                break
            if line.startswith(b"data: "):
                n += 1
                if n == 1 and on_first:
                    on_first()
    except (http.client.HTTPException, OSError):
        pass
    conn.close()
    return n, done


def sigkill_mid_stream(env, cluster_dir):
    lb = env["CS_LB_URL"]
    owner = {}
    for i in range(40):
        owner.setdefault(completion(lb, affinity="key%d" % i)["model"], "key%d" % i)
        if len(owner) == 2:
            break
    check(len(owner) == 2, "found an affinity key for each replica")
    victim_model, victim_key = sorted(owner.items())[0]
    other_model, other_key = sorted(owner.items())[1]
    victim_pid = int(open(os.path.join(cluster_dir, victim_model + ".pid")).read())
    import threading
    survivor = {}
    t = threading.Thread(target=lambda: survivor.update(result=stream_tokens(lb, other_key, 400)))
    t.start()
    n, done = stream_tokens(lb, victim_key, 3000, on_first=lambda: os.kill(victim_pid, signal.SIGKILL))
    t.join()
    check(n >= 1 and not done, "the killed replica's stream fails after %d events" % n)
    check(survivor["result"][1], "the other replica's stream completes (%d events)" % survivor["result"][0])
    deadline = time.time() + 10
    model = None
    while time.time() < deadline:
        try:
            model = completion(lb, affinity=victim_key)["model"]
            break
        except (AssertionError, OSError):
            time.sleep(0.2)
    check(model == other_model, "the balancer routes %r to %s now" % (victim_key, model))


def main():
    chunkserve, fixture_tool, work = sys.argv[1], sys.argv[2], sys.argv[3]
    for tool, path in (("PostgreSQL", "/usr/lib/postgresql/15/bin/initdb"), ("redis-server", shutil.which("redis-server")),
                       ("haproxy", shutil.which("haproxy")), ("the fixture tool", fixture_tool)):
        if not path or not os.path.exists(path):
            print("SKIPPED: %s is not available" % tool)
            return SKIP
    os.makedirs(work, exist_ok=True)
    model = os.path.join(work, "cluster_model.gguf")
    # Random weights, sized so a stream lasts long enough to be killed mid-way.
    subprocess.run([fixture_tool, "-o", model, "--type", "q8_0", "--n-embd", "512", "--n-layer", "6", "--n-head", "8",
                    "--n-head-kv", "8", "--n-ff", "1536", "--ctx", "4096", "--quiet"], check=True)
    cluster_dir = "/tmp/chunkserve-cluster-test-%d" % os.getpid()
    env = dict(os.environ, CLUSTER_DIR=cluster_dir, REPLICAS="2", BASE_PORT=str(20000 + os.getpid() % 20000),
               CHUNKSERVE=chunkserve, THREADS="1")
    try:
        subprocess.run([CLUSTER, "up", model], env=env, check=True)
        urls = {}
        for line in open(os.path.join(cluster_dir, "env")):
            k, v = line.strip().split("=", 1)
            urls[k] = v.strip("'")
        chunk_kv_across_replicas(urls)
        affinity(urls)
        freshness(urls, chunkserve, work)
        sigkill_mid_stream(urls, cluster_dir)
    except Exception:
        for name in sorted(os.listdir(cluster_dir)) if os.path.isdir(cluster_dir) else []:
            if name.endswith(".log"):
                print("---- " + name)
                print(open(os.path.join(cluster_dir, name), errors="replace").read()[-3000:])
        raise
    finally:
        subprocess.run([CLUSTER, "down"], env=env)
        shutil.rmtree(cluster_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
