# tools/make_needle_model.py must reproduce tests/data/needle_recall.gguf byte
# for byte, and its NumPy forward pass must answer the task exactly (and
# only guess with the needle removed) on short haystacks.
# -DSOURCE_DIR=the repository root
find_program(PYTHON3 NAMES python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT PYTHON3)
  find_program(PYTHON3 python3)
endif()
execute_process(COMMAND ${PYTHON3} -c "import numpy" RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(NOT rc EQUAL 0)
  message("SKIPPED: no python3 with numpy")
  return()
endif()
set(SCRIPT "${SOURCE_DIR}/tools/make_needle_model.py")
execute_process(COMMAND ${PYTHON3} ${SCRIPT} --sha256 --check 64,160 --queries 3
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "make_needle_model.py --check failed (${rc}):\n${out}${err}")
endif()
file(SHA256 "${SOURCE_DIR}/tests/data/needle_recall.gguf" committed)
string(REGEX MATCH "^[0-9a-f]+" fresh "${out}")
if(NOT fresh STREQUAL committed)
  message(FATAL_ERROR "tests/data/needle_recall.gguf (${committed}) differs from what "
                      "tools/make_needle_model.py writes now (${fresh}): regenerate it with\n"
                      "  python3 tools/make_needle_model.py -o tests/data/needle_recall.gguf")
endif()
message("${out}")
