#!/usr/bin/env bash
# The main job as it stands (`make demo`): ingest this repository's docs, search
# them, then generate with a GGUF model and report its speed.
#
#   tools/demo.sh BUILD_DIR [MODEL.gguf] [DOCS_DIR]
#
# Without MODEL a small random-weight fixture model is written first: its text
# is noise, but prefill / decode speeds are real. Works from the repository
# alone (no ../shared).
set -euo pipefail
build=${1:-build}
model=${2:-}
docs=${3:-docs}
cs="$build/chunkserve"
work="$build/demo"
mkdir -p "$work"

step() { printf '\n== %s\n' "$*"; }

if [ -z "$model" ]; then
  model="$work/fixture-qwen2-q8_0.gguf"
  if [ ! -f "$model" ]; then
    step "No MODEL= given: writing a random-weight Qwen2-style fixture model"
    "$build/tools/fixture/make_fixture_model" -o "$model" --arch qwen2 --type q8_0 \
      --n-embd 512 --n-layer 8 --n-head 8 --n-head-kv 2 --n-ff 1536 --seed 7
  fi
fi

step "Model"
"$cs" info "$model" | head -n 12

step "Ingest $docs and README.md into $work/demo.db"
"$cs" ingest "$docs" README.md --db "$work/demo.db" --collection demo --chunker structure --chunk-tokens 200

step "Search: 'how are chunks cached and reused'"
"$cs" search "how are chunks cached and reused" --db "$work/demo.db" --collection demo -k 3

step "Generate (greedy, 64 positions)"
"$cs" generate -m "$model" -p "The chunk cache" -n 64 --temp 0 --threads 2
echo

step "Benchmark: 128-token prompt, 32 generated tokens, 2 threads"
"$cs" bench -m "$model" --prompt-tokens 128 --gen-tokens 32 --threads 2 --json
