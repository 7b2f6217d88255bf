// TempPath: a file path private to the running test case and process.
//
// ctest runs every discovered case as its own process, in parallel, and other
// build directories may run the same binaries at the same time; a fixed name
// in the shared temp directory would race. The name carries the pid and the
// test's suite and case names. Files at these paths are removed when the
// process exits.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

namespace chunkserve::testing_util {

inline std::string TempPath(const std::string& name) {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string tag = std::to_string(getpid());
  if (info) tag += std::string("_") + info->test_suite_name() + "_" + info->name();
  for (char& c : tag) {
    if (c == '/') c = '_';
  }
  const std::string path = (std::filesystem::path(::testing::TempDir()) / ("cs_" + tag + "_" + name)).string();
  // Remember it for removal at exit. The handler is registered after the
  // vector is constructed, so it runs before the vector is destroyed.
  static std::mutex mu;
  static std::vector<std::string> paths;
  static const bool registered = [] {
    return std::atexit([] {
      std::error_code ec;
      for (const std::string& p : paths) std::filesystem::remove(p, ec);
    }) == 0;
  }();
  (void)registered;
  std::lock_guard<std::mutex> lock(mu);
  paths.push_back(path);
  return path;
}

}  // namespace chunkserve::testing_util
