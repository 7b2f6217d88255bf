#!/usr/bin/python3
# Manual measurement (not run by ctest) against a running
#   chunkserve serve -m MODEL.gguf --db DB --embed-model E.gguf --port-file PORT
# with an empty DB: uploads docs/architecture.md and README.md into a
# collection "docs", then prints one JSON line per figure:
#   1. a streaming RAG answer (/v1/rag/chat/completions, stream: true): time to
#      the first content piece vs the whole answer, cold and warm (chunk KV
#      cached);
#   2. issue 6: a non-streaming RAG request whose client closes its socket
#      mid-generation: time from close() until /metrics counts it as 499, and
#      the tokens it generated.
# usage: rag_stream_measure.py PORT_FILE [MAX_TOKENS] [REPO_DIR]
import json, os, socket, sys, time, urllib.request

port = int(open(sys.argv[1]).read())
max_tokens = int(sys.argv[2]) if len(sys.argv) > 2 else 32
repo = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "..", "..")
base = f"http://127.0.0.1:{port}"


def post(path, body):
    req = urllib.request.Request(base + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))


def sample(prefix):
    for line in urllib.request.urlopen(base + "/metrics").read().decode().splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    return 0.0


post("/v1/collections", {"name": "docs"})
for rel in ["docs/architecture.md", "README.md"]:
    t = time.time()
    r = post("/v1/collections/docs/documents",
             {"name": rel, "text": open(os.path.join(repo, rel)).read(), "format": "markdown"})
    print(json.dumps({"upload": rel, "chunks": r["chunks"], "embedded": r.get("embedded_chunks"),
                      "ms": round(1000 * (time.time() - t))}))
q = {"collection": "docs", "messages": [{"role": "user", "content": "How does the chunk cache store KV on disk?"}],
     "max_tokens": max_tokens, "ignore_eos": True, "k": 3, "token_budget": 600}
for run in ["cold", "warm"]:
    req = urllib.request.Request(base + "/v1/rag/chat/completions", json.dumps(dict(q, stream=True)).encode(),
                                 {"Content-Type": "application/json"})
    t0, first, n, usage = time.time(), None, 0, {}
    with urllib.request.urlopen(req) as r:
        for line in r:
            line = line.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            e = json.loads(line[6:])
            if e.get("choices") and e["choices"][0]["delta"].get("content"):
                n += 1
                first = first or time.time() - t0
            usage = e.get("usage", usage)
    print(json.dumps({"stream": run, "first_piece_ms": round(1000 * first), "answer_ms": round(1000 * (time.time() - t0)),
                      "pieces": n, "prompt_tokens": usage["prompt_tokens"],
                      "cached_tokens": usage["prompt_tokens_details"]["cached_tokens"]}))
body = json.dumps(dict(q, max_tokens=1500)).encode()
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"POST /v1/rag/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body)
time.sleep(1.5)
tokens_before = sample("chunkserve_completion_tokens_total")
s.close()
t0 = time.time()
while sample('chunkserve_requests_total{route="/v1/rag/chat/completions",code="499"}') < 1:
    if time.time() - t0 > 10:
        break
    time.sleep(0.005)
print(json.dumps({"disconnect": "non-streaming", "cancelled_after_close_ms": round(1000 * (time.time() - t0)),
                  "tokens_generated": round(sample("chunkserve_completion_tokens_total") - tokens_before),
                  "max_tokens": 1500}))
