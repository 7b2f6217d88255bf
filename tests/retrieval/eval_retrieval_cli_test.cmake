# `chunkserve eval-retrieval` end to end: --corpus ingests the glove fixture,
# topics/qrels/evidence in TREC formats, one JSON line per run, the table on
# stderr, and precise errors for malformed judgement files.
# -DCHUNKSERVE=... -DWORK_DIR=scratch
set(W "${WORK_DIR}/eval_retrieval_cli")
file(REMOVE_RECURSE "${W}")
file(MAKE_DIRECTORY "${W}/docs")
include(${CMAKE_CURRENT_LIST_DIR}/glove_fixture.cmake)
write_glove_fixture("${W}")
run(${CHUNKSERVE} convert --from glove "${W}/glove.json" -o "${W}/glove.gguf")
expect_ok("convert --from glove")

string(ASCII 9 TAB)
file(WRITE "${W}/topics.tsv" "q1${TAB}kitten paw\nq2${TAB}sailor harbor\nq3${TAB}budget debt\nq4${TAB}unjudged\n")
file(WRITE "${W}/qrels.txt" "q1 0 pets.txt 2\nq1 0 navy.txt 0\nq2 0 navy.txt 1\nq3 0 money.txt 1\n")
# "A sailor waits in the harbor by the ship." in navy.txt.
file(WRITE "${W}/evidence.txt" "q2 navy.txt 27 68 2\n")

run(${CHUNKSERVE} eval-retrieval --corpus "${W}/docs" --db "${W}/db" --collection e --embed-model "${W}/glove.gguf"
    --topics "${W}/topics.tsv" --qrels "${W}/qrels.txt" --evidence "${W}/evidence.txt" --name fixture)
expect_ok("eval-retrieval --corpus")
string(REGEX MATCHALL "[^\n]+" lines "${out}")
list(LENGTH lines n)
# bm25, bm25+select, and dense / hybrid each plain, +situated, +select.
if(NOT n EQUAL 8)
  message(FATAL_ERROR "expected 8 JSON lines (runs), got ${n}:\n${out}\n${err}")
endif()
list(GET lines 0 first)
string(JSON run_name GET "${first}" run)
string(JSON set GET "${first}" set)
string(JSON queries GET "${first}" queries)
string(JSON ndcg GET "${first}" "ndcg@10")
string(JSON mrr GET "${first}" mrr)
string(JSON p_mrr GET "${first}" p_mrr)
string(JSON iou GET "${first}" iou)
if(NOT run_name STREQUAL "bm25" OR NOT set STREQUAL "fixture" OR NOT queries EQUAL 3 OR NOT ndcg STREQUAL "1.0"
   OR NOT mrr STREQUAL "1.0" OR NOT p_mrr STREQUAL "1.0")
  message(FATAL_ERROR "unexpected bm25 scores: ${first}")
endif()
if(NOT iou GREATER 0 OR NOT iou LESS 1)
  message(FATAL_ERROR "IoU of the cited chunks should lie in (0, 1): ${first}")
endif()
foreach(expected "1 of 4 topics have no relevant judgement" "hybrid\\+situated" "p_nDCG@10")
  if(NOT err MATCHES "${expected}")
    message(FATAL_ERROR "stderr lacks '${expected}':\n${err}")
  endif()
endforeach()

# The collection exists now: used as it is.
run(${CHUNKSERVE} eval-retrieval --corpus "${W}/docs" --db "${W}/db" --collection e --modes bm25 --vary nodedupe
    --topics "${W}/topics.tsv" --qrels "${W}/qrels.txt")
expect_ok("eval-retrieval on an existing collection")
string(REGEX MATCHALL "[^\n]+" lines "${out}")
list(LENGTH lines n)
if(NOT n EQUAL 2 OR NOT err MATCHES "exists; --corpus not ingested again")
  message(FATAL_ERROR "expected bm25 and bm25+nodedupe, and a note:\n${out}\n${err}")
endif()

# Malformed inputs: a precise error, nothing printed on stdout.
file(WRITE "${W}/bad_qrels.txt" "q1 0 pets.txt 2\nq2 0 navy.txt high\n")
run(${CHUNKSERVE} eval-retrieval --db "${W}/db" --collection e --topics "${W}/topics.tsv" --qrels "${W}/bad_qrels.txt")
expect_fail("bad qrels" "bad_qrels.txt: qrels: line 2: grade is not an integer")
file(WRITE "${W}/bad_evidence.txt" "q2 navy.txt 68 27\n")
run(${CHUNKSERVE} eval-retrieval --db "${W}/db" --collection e --topics "${W}/topics.tsv" --qrels "${W}/qrels.txt"
    --evidence "${W}/bad_evidence.txt")
expect_fail("bad evidence" "evidence: line 1: begin/end")
run(${CHUNKSERVE} eval-retrieval --db "${W}/db" --collection e --topics "${W}/topics.tsv" --qrels "${W}/qrels.txt"
    --vary sideways)
expect_fail("unknown --vary" "unknown option 'sideways'")
run(${CHUNKSERVE} eval-retrieval --db "${W}/db" --collection nope --topics "${W}/topics.tsv" --qrels "${W}/qrels.txt")
expect_fail("missing collection" "no collection named 'nope'")

# Situated vectors (issue 19, SitEmb-style): a collection setting chosen at
# ingest, recorded in its embedder id, followed by later ingests, and
# searched with the plain model.
file(MAKE_DIRECTORY "${W}/docs2")
file(WRITE "${W}/docs2/more.txt" "The fleet returned.\n\nThe kitten slept.\n")
run(${CHUNKSERVE} ingest "${W}/docs" --db "${W}/db" --collection s --embed-model "${W}/glove.gguf" --situated-context 4
    --chunk-tokens 16 --overlap 0 --quiet)
expect_ok("ingest --situated-context")
run(${CHUNKSERVE} ingest "${W}/docs2" --db "${W}/db" --collection s --chunk-tokens 16 --overlap 0 --quiet)
expect_ok("a later ingest into the situated collection")
run(${CHUNKSERVE} collections --db "${W}/db" --json)
expect_ok("collections")
string(JSON s_embedder GET "${out}" collections 1 embedder)
string(JSON s_chunks GET "${out}" collections 1 chunks)
string(JSON s_vectors GET "${out}" collections 1 chunks_with_vectors)
if(NOT s_embedder MATCHES "\\+situated:w=4$" OR NOT s_chunks EQUAL 5 OR NOT s_vectors EQUAL 5)
  message(FATAL_ERROR "the situated collection's embedder id or vectors are wrong:\n${out}")
endif()
run(${CHUNKSERVE} search "sailor harbor" --db "${W}/db" --collection s --mode dense --json)
expect_ok("dense search of a situated collection with the recorded (plain) model")
string(JSON path GET "${out}" results 0 path)
if(NOT path MATCHES "navy")
  message(FATAL_ERROR "situated dense search: top hit ${path}")
endif()
run(${CHUNKSERVE} ingest "${W}/docs" --db "${W}/db" --collection s --embed-model "${W}/glove.gguf" --situated-context 8 --quiet)
expect_fail("another situated setting" "embedded with")
run(${CHUNKSERVE} ingest "${W}/docs" --db "${W}/db" --collection t --situated-context 0)
expect_fail("--situated-context 0" "between 1 and 10000")

# ingest --near-duplicates reports copies (MinHash LSH over the collection).
file(MAKE_DIRECTORY "${W}/dups")
file(WRITE "${W}/dups/a.txt" "The navy fleet is at sea with every sailor of the harbor aboard the ships tonight.\n")
file(WRITE "${W}/dups/b.txt" "The navy fleet is at sea with every sailor of the harbor aboard the ships tonight!\n")
file(WRITE "${W}/dups/c.txt" "A kitten has fur and a paw, and the dog sleeps by the fire in the evening.\n")
run(${CHUNKSERVE} ingest "${W}/dups" --db "${W}/db" --collection d --near-duplicates)
expect_ok("ingest --near-duplicates")
if(NOT err MATCHES "near-duplicates: 1 of 3 chunks nearly duplicate an earlier one \\(0 within their own document")
  message(FATAL_ERROR "ingest --near-duplicates did not report the copy:\n${err}")
endif()
