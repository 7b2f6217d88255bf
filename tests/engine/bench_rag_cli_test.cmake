# Runs `chunkserve bench-rag` end to end on the real stories260K model:
# the r = 1 line must be the exact twin of full prefill (top-1 agreement 1,
# KL 0) and every chunk must come from the cache tier under test.
# -DCHUNKSERVE=path/to/chunkserve -DMODEL_DIR=testdata/models/stories260K -DWORK_DIR=scratch
if(NOT EXISTS "${MODEL_DIR}/stories260K.bin")
  message("SKIPPED: no ${MODEL_DIR}")
  return()
endif()
set(GGUF "${WORK_DIR}/bench_rag_stories260K.gguf")
execute_process(COMMAND ${CHUNKSERVE} convert --from llama2c "${MODEL_DIR}/stories260K.bin"
                        --tokenizer "${MODEL_DIR}/tok512.bin" -o "${GGUF}"
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "convert failed (${rc}): ${err}")
endif()
execute_process(COMMAND ${CHUNKSERVE} bench-rag -m "${GGUF}" --chunks 4 --chunk-tokens 32 --question-tokens 16
                        --gen-tokens 8 --trials 2 --recompute 0,1 --threads 1 --json
                        --disk-dir "${WORK_DIR}/bench_rag_chunks"
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
file(REMOVE_RECURSE "${WORK_DIR}/bench_rag_chunks")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench-rag failed (${rc}): ${err}")
endif()
string(REGEX MATCHALL "[^\n]+" lines "${out}")
list(LENGTH lines n)
if(NOT n EQUAL 2)
  message(FATAL_ERROR "expected 2 JSON lines, got ${n}:\n${out}")
endif()
list(GET lines 1 exact)
foreach(field "\"recompute\":1," "\"top1_agreement\":1.0000" "\"kl_mean\":0.000000" "\"tokens_recomputed\":96")
  string(FIND "${exact}" "${field}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "r = 1 line lacks ${field}:\n${exact}")
  endif()
endforeach()
list(GET lines 0 reuse)
foreach(field "\"tokens_recomputed\":0," "\"ttft_full_ms\":" "\"ttft_prefix_ms\":" "\"ttft_chunk_ram_ms\":"
              "\"ttft_chunk_disk_ms\":" "\"top1_agreement\":" "\"kl_mean\":")
  string(FIND "${reuse}" "${field}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "r = 0 line lacks ${field}:\n${reuse}")
  endif()
endforeach()
execute_process(COMMAND ${CHUNKSERVE} bench-rag -m "${GGUF}" --recompute 2 RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "--recompute 2 should be a usage error, got ${rc}")
endif()
# stories260K's head_dim (8) is no vdpbf16ps shape, so its default is f32;
# --attention bf16 forces the bf16 operands (the scalar twin here), and the
# r = 1 line stays the exact twin of full prefill under them.
string(FIND "${exact}" "\"attention\":\"f32\"" at)
if(at EQUAL -1)
  message(FATAL_ERROR "default attention for head_dim 8 should be f32:\n${exact}")
endif()
execute_process(COMMAND ${CHUNKSERVE} bench-rag -m "${GGUF}" --chunks 4 --chunk-tokens 32 --question-tokens 16
                        --gen-tokens 8 --trials 1 --recompute 1 --threads 1 --json --attention bf16
                        --disk-dir "${WORK_DIR}/bench_rag_chunks_bf16"
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
file(REMOVE_RECURSE "${WORK_DIR}/bench_rag_chunks_bf16")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench-rag --attention bf16 failed (${rc}): ${err}")
endif()
foreach(field "\"attention\":\"bf16\"" "\"top1_agreement\":1.0000" "\"kl_mean\":0.000000")
  string(FIND "${out}" "${field}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "--attention bf16 r = 1 line lacks ${field}:\n${out}")
  endif()
endforeach()
execute_process(COMMAND ${CHUNKSERVE} bench-rag -m "${GGUF}" --attention f16 RESULT_VARIABLE rc OUTPUT_QUIET
                ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "--attention must be f32 or bf16")
  message(FATAL_ERROR "--attention f16 should be refused, got ${rc}: ${err}")
endif()
# --reference-attention: the reference from a second copy of the model; the
# same precision keeps r = 1 exact, a bad name is a usage error.
execute_process(COMMAND ${CHUNKSERVE} bench-rag -m "${GGUF}" --chunks 4 --chunk-tokens 32 --question-tokens 16
                        --gen-tokens 8 --trials 1 --recompute 1 --threads 1 --json --reference-attention f32
                        --disk-dir "${WORK_DIR}/bench_rag_chunks_ref"
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
file(REMOVE_RECURSE "${WORK_DIR}/bench_rag_chunks_ref")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "bench-rag --reference-attention f32 failed (${rc}): ${err}")
endif()
foreach(field "\"reference_attention\":\"f32\"" "\"top1_agreement\":1.0000" "\"kl_mean\":0.000000")
  string(FIND "${out}" "${field}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "--reference-attention f32 r = 1 line lacks ${field}:\n${out}")
  endif()
endforeach()
execute_process(COMMAND ${CHUNKSERVE} bench-rag -m "${GGUF}" --reference-attention f8 RESULT_VARIABLE rc OUTPUT_QUIET
                ERROR_QUIET)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "--reference-attention f8 should be a usage error, got ${rc}")
endif()
