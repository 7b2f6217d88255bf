# Runs `chunkserve tokenize` / `detokenize` on golden vocabularies.
# -DCHUNKSERVE=path/to/chunkserve -DVOCAB_DIR=testdata/vocab -DWORK_DIR=scratch dir
if(NOT EXISTS "${VOCAB_DIR}/ggml-vocab-gpt-2.gguf")
  message("SKIPPED: no ${VOCAB_DIR}")
  return()
endif()

function(expect_output expected)
  execute_process(COMMAND ${CHUNKSERVE} ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "chunkserve ${ARGN} failed (${rc}): ${err}")
  endif()
  if(NOT out STREQUAL "${expected}")
    message(FATAL_ERROR "chunkserve ${ARGN}\n  printed  '${out}'\n  expected '${expected}'")
  endif()
endfunction()

set(GPT2 "${VOCAB_DIR}/ggml-vocab-gpt-2.gguf")
set(SPM "${VOCAB_DIR}/ggml-vocab-llama-spm.gguf")
# Golden ids from ggml-vocab-*.gguf.out.
expect_output("18435 11 995 0\n" tokenize -m ${GPT2} --text " Hello, world!")
expect_output("29871 15043 29892 3186 29991\n" tokenize -m ${SPM} --text " Hello, world!")
expect_output("1 15043 3186\n" tokenize -m ${SPM} --text "Hello world" --add-special)
# Special-token text is plain text unless --parse-special.
expect_output("27 91 437 1659 5239 91 29\n" tokenize -m ${GPT2} --text "<|endoftext|>")
expect_output("50256\n" tokenize -m ${GPT2} --text "<|endoftext|>" --parse-special)
file(WRITE "${WORK_DIR}/cli_test_input.txt" "Hello world")
expect_output("15496 995\n" tokenize -m ${GPT2} --file "${WORK_DIR}/cli_test_input.txt")
expect_output(" Hello, world!\n" detokenize -m ${GPT2} 18435 11 995 0)
expect_output("Hello world\n" detokenize -m ${SPM} --skip-special 1 15043 3186)

# Errors exit non-zero.
execute_process(COMMAND ${CHUNKSERVE} tokenize -m "${WORK_DIR}/missing.gguf" --text x
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(rc EQUAL 0)
  message(FATAL_ERROR "tokenize on a missing file succeeded")
endif()
execute_process(COMMAND ${CHUNKSERVE} detokenize -m ${GPT2} 99999999 RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(rc EQUAL 0)
  message(FATAL_ERROR "detokenize of an out-of-range id succeeded")
endif()

# stories260K through `chunkserve convert` (the model area's llama2.c
# converter) and `tokenize`: the ids llama2.c's encode() gives for the
# reference prompt (checked with an independent Python transcription of it).
set(S260 "${VOCAB_DIR}/../models/stories260K")
if(EXISTS "${S260}/stories260K.bin")
  execute_process(COMMAND ${CHUNKSERVE} convert --from llama2c "${S260}/stories260K.bin"
                          --tokenizer "${S260}/tok512.bin" -o "${WORK_DIR}/stories260K.gguf"
                  RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "chunkserve convert failed (${rc}): ${err}")
  endif()
  expect_output("1 274 287 269 345 400 428 263 377 267 265 282 295 433\n"
                tokenize -m "${WORK_DIR}/stories260K.gguf" --text "Tom and his dog went to the park" --add-special)
  expect_output("Tom and his dog went to the park\n"
                detokenize -m "${WORK_DIR}/stories260K.gguf" --skip-special
                1 274 287 269 345 400 428 263 377 267 265 282 295 433)
endif()
