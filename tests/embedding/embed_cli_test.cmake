# End to end through the executable with neural embedders: ingest a folder
# with a bert fixture (--embed-model), search --mode dense (a query equal to a
# chunk's text must return that chunk first: cosine 1), ask with the same
# model, then a different bert (other weights) and a decoder embedder on the
# same collection are refused with a clear error, while the decoder embeds
# its own collection and searches it.
# -DCHUNKSERVE=... -DFIXTURE_TOOL=... -DVOCAB=bert vocab GGUF -DWORK_DIR=scratch
if(NOT EXISTS "${FIXTURE_TOOL}" OR NOT EXISTS "${VOCAB}")
  message("SKIPPED: needs make_fixture_model and ${VOCAB}")
  return()
endif()
set(W "${WORK_DIR}/embed_cli")
file(REMOVE_RECURSE "${W}")
file(MAKE_DIRECTORY "${W}/docs")

function(run)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
  set(rc "${rc}" PARENT_SCOPE)
endfunction()
function(expect_ok what)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}\n${err}")
  endif()
endfunction()

set(bert_flags --arch bert --n-embd 64 --n-layer 2 --n-head 4 --n-ff 128 --ctx 128 --vocab-gguf "${VOCAB}" --quiet)
run(${FIXTURE_TOOL} ${bert_flags} --seed 1 --pooling 1 -o "${W}/bert.gguf")
expect_ok("fixture bert")
run(${FIXTURE_TOOL} ${bert_flags} --seed 2 --pooling 1 -o "${W}/bert2.gguf")
expect_ok("fixture bert2")
run(${FIXTURE_TOOL} --arch qwen3 --n-embd 64 --n-head 4 --n-head-kv 2 --quiet -o "${W}/qwen3.gguf")
expect_ok("fixture qwen3")

file(WRITE "${W}/docs/pets.txt" "The cat and the dog are pets.\n")
file(WRITE "${W}/docs/money.txt" "The treasury pays the debt with money.\n")
file(WRITE "${W}/docs/navy.txt" "A sailor waits in the harbor by the ship.\n")

run(${CHUNKSERVE} ingest "${W}/docs" --db "${W}/db" --collection c --embed-model "${W}/bert.gguf")
expect_ok("ingest --embed-model bert")
if(NOT err MATCHES "embedded 3 chunks")
  message(FATAL_ERROR "ingest did not embed 3 chunks:\n${err}")
endif()

file(WRITE "${W}/queries.txt"
  "A sailor waits in the harbor by the ship.\nThe cat and the dog are pets.\nThe treasury pays the debt with money.\n")
run(${CHUNKSERVE} search --db "${W}/db" --collection c --queries "${W}/queries.txt" --mode dense
    --embed-model "${W}/bert.gguf" -k 3)
expect_ok("search --mode dense (bert)")
string(REGEX MATCHALL "[^\n]+" lines "${out}")
list(LENGTH lines n)
if(NOT n EQUAL 3)
  message(FATAL_ERROR "search: expected 3 lines, got ${n}:\n${out}")
endif()
set(i 0)
foreach(expected navy pets money)
  list(GET lines ${i} line)
  string(JSON path GET "${line}" results 0 path)
  string(JSON n_results LENGTH "${line}" results)
  if(NOT path MATCHES "${expected}" OR NOT n_results EQUAL 3)
    message(FATAL_ERROR "search query ${i}: top hit ${path} of ${n_results}, expected ${expected}:\n${line}")
  endif()
  math(EXPR i "${i} + 1")
endforeach()

run(${CHUNKSERVE} ask "A sailor waits in the harbor by the ship." --db "${W}/db" --collection c --extractive --json
    --embed-model "${W}/bert.gguf")
expect_ok("ask --extractive (bert)")

# Another embedder on the same collection: refused, naming the embedders.
foreach(other bert2 qwen3)
  run(${CHUNKSERVE} search "sailor" --db "${W}/db" --collection c --mode dense --embed-model "${W}/${other}.gguf")
  if(rc EQUAL 0 OR NOT err MATCHES "embedder")
    message(FATAL_ERROR "search with ${other} on a bert collection was not refused (${rc}):\n${out}\n${err}")
  endif()
  run(${CHUNKSERVE} ingest "${W}/docs" --db "${W}/db" --collection c --embed-model "${W}/${other}.gguf")
  if(rc EQUAL 0 OR NOT err MATCHES "embedded with")
    message(FATAL_ERROR "ingest with ${other} into a bert collection was not refused (${rc}):\n${err}")
  endif()
endforeach()

# The decoder embedder on its own collection.
run(${CHUNKSERVE} ingest "${W}/docs" --db "${W}/db" --collection q --embed-model "${W}/qwen3.gguf")
expect_ok("ingest --embed-model qwen3")
run(${CHUNKSERVE} search --db "${W}/db" --collection q --queries "${W}/queries.txt" --mode dense
    --embed-model "${W}/qwen3.gguf" -k 1)
expect_ok("search --mode dense (qwen3)")
string(REGEX MATCHALL "[^\n]+" lines "${out}")
list(GET lines 0 line)
string(JSON path GET "${line}" results 0 path)
if(NOT path MATCHES "navy")
  message(FATAL_ERROR "qwen3 search: top hit ${path}, expected navy:\n${out}")
endif()

# A pooling override is part of the embedder: the collection embedded with
# --embed-pooling cls is searched with it, and refused without it.
run(${CHUNKSERVE} ingest "${W}/docs" --db "${W}/db" --collection p --embed-model "${W}/bert.gguf" --embed-pooling cls)
expect_ok("ingest --embed-pooling cls")
run(${CHUNKSERVE} search --db "${W}/db" --collection p --queries "${W}/queries.txt" --mode dense
    --embed-model "${W}/bert.gguf" --embed-pooling cls -k 1)
expect_ok("search --embed-pooling cls")
string(REGEX MATCHALL "[^\n]+" lines "${out}")
list(GET lines 0 line)
string(JSON path GET "${line}" results 0 path)
if(NOT path MATCHES "navy")
  message(FATAL_ERROR "cls search: top hit ${path}, expected navy:\n${out}")
endif()
run(${CHUNKSERVE} search "sailor" --db "${W}/db" --collection p --mode dense --embed-model "${W}/bert.gguf")
if(rc EQUAL 0 OR NOT err MATCHES "pool=cls")
  message(FATAL_ERROR "mean-pooled query on a cls collection was not refused (${rc}):\n${err}")
endif()
run(${CHUNKSERVE} search "sailor" --db "${W}/db" --collection p --mode dense --embed-model "${W}/bert.gguf"
    --embed-pooling max)
if(rc EQUAL 0 OR NOT err MATCHES "unknown pooling")
  message(FATAL_ERROR "--embed-pooling max was not refused (${rc}):\n${err}")
endif()
