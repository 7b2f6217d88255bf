// chunkserve: retrieval-augmented generation with a built-in inference engine.
// Dispatches `chunkserve COMMAND ARGS...` to the registered subcommands.
#include <cstdio>
#include <string>
#include <vector>

#include "cli/command.h"

namespace {

void PrintHelp() {
  std::printf("usage: chunkserve COMMAND [ARGS...]\n\ncommands:\n");
  for (const auto& [name, command] : chunkserve::cli::CommandRegistry())
    std::printf("  %-12s %s\n", name.c_str(), command.summary.c_str());
  std::printf("\n`chunkserve help COMMAND` (or `COMMAND --help`) shows a command's flags; `chunkserve --version` the\n"
              "version.\n");
}

}  // namespace

int main(int argc, char** argv) {
  auto& registry = chunkserve::cli::CommandRegistry();
  if (argc >= 3 && std::string(argv[1]) == "help") {  // `chunkserve help CMD` = `chunkserve CMD --help`
    auto it = registry.find(argv[2]);
    if (it == registry.end()) {
      std::fprintf(stderr, "chunkserve help: unknown command '%s'\n\n", argv[2]);
      PrintHelp();
      return 2;
    }
    std::printf("%s\n", it->second.usage.c_str());
    return 0;
  }
  if (argc < 2 || std::string(argv[1]) == "help" || std::string(argv[1]) == "--help" ||
      std::string(argv[1]) == "-h") {
    PrintHelp();
    return argc < 2 ? 2 : 0;
  }
  if (std::string(argv[1]) == "--version" || std::string(argv[1]) == "version") {
    std::printf("chunkserve %s\n", CHUNKSERVE_VERSION);
    return 0;
  }
  auto it = registry.find(argv[1]);
  if (it == registry.end()) {
    std::fprintf(stderr, "chunkserve: unknown command '%s'\n\n", argv[1]);
    PrintHelp();
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  for (const auto& a : args) {
    if (a == "--help" || a == "-h") {
      std::printf("%s\n", it->second.usage.c_str());
      return 0;
    }
  }
  return it->second.run(args);
}
