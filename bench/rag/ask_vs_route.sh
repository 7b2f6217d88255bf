#!/usr/bin/env bash
# `ask --json` vs /v1/rag/chat/completions: prompt tokens and greedy answer for one
# question over one collection, through the CLI and through `serve`, so the two
# paths can be compared (they build their prompts through one assembler).
#   bench/rag/ask_vs_route.sh CHUNKSERVE DB COLLECTION MODEL "QUESTION"
set -u
B=$1; DB=$2; C=$3; M=$4; Q=$5
"$B" ask "$Q" --db "$DB" --collection "$C" -m "$M" --temp 0 --max-tokens 24 --json --chunk-cache-dir none \
  --threads 1 2>/dev/null |
  python3 -c 'import json,sys; j=json.load(sys.stdin); print("ask  prompt_tokens", j["generation"]["n_prompt_tokens"], "answer", repr(j["answer"]))'
PORT_FILE=$(mktemp)
"$B" serve -m "$M" --db "$DB" --port 0 --port-file "$PORT_FILE" --threads 1 --http-threads 4 --grace-s 1 2>/dev/null &
PID=$!
for _ in $(seq 100); do [ -s "$PORT_FILE" ] && break; sleep 0.1; done
BODY=$(python3 -c 'import json,sys; print(json.dumps({"collection": sys.argv[1], "messages": [{"role": "user", "content": sys.argv[2]}], "max_tokens": 24, "temperature": 0}))' "$C" "$Q")
curl -s "localhost:$(cat "$PORT_FILE")/v1/rag/chat/completions" -H 'Content-Type: application/json' -d "$BODY" |
  python3 -c 'import json,sys; j=json.load(sys.stdin); print("http prompt_tokens", j["usage"]["prompt_tokens"], "answer", repr(j["choices"][0]["message"]["content"]))'
kill $PID; wait $PID 2>/dev/null; rm -f "$PORT_FILE"
