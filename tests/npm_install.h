// InstallNpmPackages: npm packages the tests drive reference clients with,
// installed once per build tree. ctest -j runs several test processes that
// may want the same folder: one installs under a lock, the others wait, and
// a marker written after a complete install means a half-installed tree is
// never taken for a ready one.
#pragma once

#include <cstdio>
#include <filesystem>
#include <string>

namespace chunkserve::testing {

// Installs `packages` (npm install arguments) into `dir` unless a complete
// install is there already. Returns "" when ready, else why not (no node,
// npm or flock, or npm's own output).
inline std::string InstallNpmPackages(const std::filesystem::path& dir, const std::string& packages) {
  namespace fs = std::filesystem;
  const fs::path installed = dir / ".installed";
  if (fs::exists(installed)) return "";
  if (std::system("{ command -v node && command -v npm && command -v flock; } > /dev/null 2>&1") != 0)
    return "node/npm (or flock) not installed";
  fs::create_directories(dir);
  const std::string command = "flock '" + (dir / ".lock").string() + "' sh -c '[ -f \"" + installed.string() +
                              "\" ] || { rm -rf \"" + (dir / "node_modules").string() +
                              "\" && timeout 300 npm install --prefix \"" + dir.string() + "\" " + packages +
                              " --no-audit --no-fund && touch \"" + installed.string() + "\"; }' 2>&1";
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) return "could not run npm";
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int rc = pclose(p);
  if (rc != 0 || !fs::exists(installed)) return "npm install " + packages + " failed: " + out.substr(0, 400);
  return "";
}

}  // namespace chunkserve::testing
