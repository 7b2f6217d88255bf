#include "reference/reference_util.h"

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>

namespace chunkserve::reference_test {

CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

const std::string& PythonWithNumpy() {
  static const std::string python = [] {
    const std::string p = "/usr/bin/python3";
    if (!std::filesystem::exists(p)) return std::string();
    return RunCommand(p + " -c 'import numpy'").exit_code == 0 ? p : std::string();
  }();
  return python;
}

std::string FixtureTool() {
  return std::string(CHUNKSERVE_BINARY_DIR) + "/tools/fixture/make_fixture_model";
}

std::string ReferenceScript() {
  return std::string(CHUNKSERVE_SOURCE_DIR) + "/tools/reference/gguf_reference.py";
}

std::string WorkDir() {
  static const std::string dir = [] {
    const std::string d = std::string(CHUNKSERVE_BINARY_DIR) + "/tests/reference/work";
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

std::vector<float> ReadF32File(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return {};
  const std::streamsize n_bytes = in.tellg();
  if (n_bytes < 0 || n_bytes % 4 != 0) return {};
  std::vector<float> v(static_cast<size_t>(n_bytes) / 4);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), n_bytes);
  if (!in) return {};
  return v;
}

void WriteF32File(const std::string& path, const std::vector<float>& values) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
}

std::string JoinInts(const std::vector<int32_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(v[i]);
  }
  return s;
}

}  // namespace chunkserve::reference_test
