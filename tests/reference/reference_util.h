// Helpers for the NumPy-reference tests: paths of the fixture tool and the
// reference script, running them, reading their float32 dumps.
//
// The tests run tools/fixture/make_fixture_model and
// tools/reference/gguf_reference.py (system /usr/bin/python3 + numpy) as child
// processes; every case writes its own files (named after the case) under
// the build tree, so cases may run in parallel.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace chunkserve::reference_test {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `command` through /bin/sh, capturing its output.
CommandResult RunCommand(const std::string& command);

// The python the reference needs; empty when /usr/bin/python3 cannot import
// numpy (the tests skip then).
const std::string& PythonWithNumpy();

std::string FixtureTool();      // absolute path of make_fixture_model
std::string ReferenceScript();  // absolute path of gguf_reference.py
// A fresh-enough directory for this binary's files (created on first use).
std::string WorkDir();

// Reads a raw little-endian float32 file; empty on failure.
std::vector<float> ReadF32File(const std::string& path);

// Writes raw little-endian float32 (kept next to the reference dumps so a
// failing case can be inspected with NumPy); failures are ignored.
void WriteF32File(const std::string& path, const std::vector<float>& values);

std::string JoinInts(const std::vector<int32_t>& v);

}  // namespace chunkserve::reference_test
