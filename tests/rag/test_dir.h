// TestDir: a fresh temporary directory per test, removed afterwards.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace chunkserve::rag {

class TestDir {
 public:
  explicit TestDir(const std::string& name) {
    root_ = std::filesystem::temp_directory_path() /
            ("chunkserve_rag_" + name + "_" + std::to_string(::getpid()));
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
  }
  ~TestDir() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  std::string path(const std::string& rel = "") const { return rel.empty() ? root_.string() : (root_ / rel).string(); }
  void Write(const std::string& rel, const std::string& bytes) const {
    const auto p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << bytes;
  }

 private:
  std::filesystem::path root_;
};

}  // namespace chunkserve::rag
