#!/usr/bin/env bash
# End-to-end test of `chunkserve chat` on fixture models: two user lines piped
# in must give two replies, the second reusing the first turn's KV cache.
#   chat_cli_test.sh CHUNKSERVE MAKE_FIXTURE_MODEL SET_TEMPLATE WORK_DIR TESTDATA_DIR SOURCE_DIR [basic|qwen3]
# Exit 0 pass, 1 fail, 77 skipped (shared test data absent).
set -u
CHUNKSERVE=$1 MAKE_FIXTURE=$2 SET_TEMPLATE=$3 WORK=$4 TESTDATA=$5 SRC=$6 MODE=${7:-basic}
mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }

# Runs chat with two user lines; checks exit code, two replies and the stats lines.
two_turns() {
  local name=$1; shift
  printf 'Hello there\nHow are you today?\n' | "$CHUNKSERVE" chat "$@" --stats -n 12 --temp 0 -t 1 \
    >"$WORK/$name.out" 2>"$WORK/$name.err"
  local rc=$?
  [ $rc -eq 0 ] || { cat "$WORK/$name.err" >&2; fail "$name: exit code $rc"; }
  grep -q 'chat: turn 1: ' "$WORK/$name.err" || { cat "$WORK/$name.err" >&2; fail "$name: no first reply"; }
  grep -q 'chat: turn 2: ' "$WORK/$name.err" || { cat "$WORK/$name.err" >&2; fail "$name: no second reply"; }
  # The second turn's prompt starts with the first turn's: its KV is reused.
  local reused
  reused=$(sed -n 's/.*turn 2: prompt [0-9]* tokens (\([0-9]*\) reused.*/\1/p' "$WORK/$name.err")
  [ "${reused:-0}" -gt 0 ] || fail "$name: second turn reused no KV ($reused)"
  echo "ok: $name"
}

if [ "$MODE" = qwen3 ]; then
  VOCAB="$TESTDATA/tokenizers/qwen3/tokenizer.json"
  [ -f "$VOCAB" ] || { echo "skip: $VOCAB absent"; exit 77; }
  "$MAKE_FIXTURE" --arch qwen3 --type q8_0 --vocab-json "$VOCAB" --seed 3 --quiet -o "$WORK/qwen3.gguf" \
    || fail "make_fixture_model (qwen3)"
  two_turns qwen3_template -m "$WORK/qwen3.gguf" --system "You are terse."
  # The real Qwen3 template was used: no ChatML fallback notice.
  grep -q 'no chat template' "$WORK/qwen3_template.err" && fail "qwen3: fell back to ChatML"
  exit 0
fi

"$MAKE_FIXTURE" --arch llama --seed 5 --quiet -o "$WORK/chatml.gguf" || fail "make_fixture_model"
"$SET_TEMPLATE" "$WORK/chatml.gguf" "$WORK/no_template.gguf" --remove || fail "removing the template"
M="$WORK/no_template.gguf"

# The fixture's own (ChatML) template from the GGUF metadata.
two_turns gguf_template -m "$WORK/chatml.gguf"
grep -q 'no chat template' "$WORK/gguf_template.err" && fail "gguf_template: fell back to ChatML"

# No template in the file: ChatML fallback, announced; same prompt as the fixture's ChatML.
two_turns fallback -m "$M"
grep -q 'has no chat template' "$WORK/fallback.err" || fail "fallback: no ChatML notice"
[ "$(wc -l <"$WORK/fallback.out")" -ge 2 ] || fail "fallback: fewer than two reply lines"
cmp -s "$WORK/fallback.out" "$WORK/gguf_template.out" || fail "ChatML fallback differs from the ChatML template"

# Same seed and input, same output.
two_turns fallback_again -m "$M"
cmp -s "$WORK/fallback.out" "$WORK/fallback_again.out" || fail "same seed gave different replies"

# A model whose own template is unsupported: a clear error naming the construct.
printf '{%% extends "base.html" %%}\n' >"$WORK/unsupported.jinja"
"$SET_TEMPLATE" "$WORK/chatml.gguf" "$WORK/unsupported.gguf" "$WORK/unsupported.jinja" || fail "setting a template"
echo hi | "$CHUNKSERVE" chat -m "$WORK/unsupported.gguf" >/dev/null 2>"$WORK/unsupported.err"
[ $? -eq 1 ] || fail "unsupported template: expected exit 1"
grep -q "extends" "$WORK/unsupported.err" || { cat "$WORK/unsupported.err" >&2; fail "unsupported: construct not named"; }
two_turns unsupported_overridden -m "$WORK/unsupported.gguf" --chatml

# A template from a file, with a system message.
two_turns qwen25_file -m "$M" --template-file "$SRC/templates/qwen2.5.jinja" --system "Be brief."
# A template that rejects the system role: the system text is folded in.
two_turns gemma2_fold -m "$M" --template-file "$SRC/templates/gemma-2.jinja" --system "Be brief."
grep -q 'rejects a system message' "$WORK/gemma2_fold.err" || fail "gemma2: no fold notice"
# Sampling with a seed and a stop string.
two_turns sampled -m "$M" --temp 0.9 --seed 11 --stop "zz"

# A broken template names the line; missing -m is a usage error.
printf 'ok\n{%% if x %%}\n{{ messages[0] }\n' >"$WORK/broken.jinja"
echo hi | "$CHUNKSERVE" chat -m "$M" --template-file "$WORK/broken.jinja" >/dev/null 2>"$WORK/broken.err"
[ $? -eq 1 ] || fail "broken template: expected exit 1"
grep -q 'line 3' "$WORK/broken.err" || { cat "$WORK/broken.err" >&2; fail "broken template: line not named"; }
"$CHUNKSERVE" chat </dev/null >/dev/null 2>&1
[ $? -eq 2 ] || fail "missing -m: expected exit 2"
"$CHUNKSERVE" chat -m "$WORK/does-not-exist.gguf" </dev/null >/dev/null 2>"$WORK/missing.err"
[ $? -eq 1 ] || fail "missing model file: expected exit 1"
echo "all chat CLI checks passed"
