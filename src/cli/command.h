// Subcommands of the `chunkserve` executable.
//
// Each src/cli/cmd_*.cpp defines one subcommand and registers it with a
// file-scope `RegisterCommand` object; main() dispatches on argv[1]. Commands
// print results to stdout, diagnostics to stderr, and return the process exit
// code (0 success, 1 runtime failure, 2 usage error).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace chunkserve::cli {

struct Command {
  std::string name;
  std::string summary;  // one line for `chunkserve help`
  std::string usage;    // full usage text, printed for --help and usage errors
  std::function<int(const std::vector<std::string>& args)> run;  // args after the name
};

std::map<std::string, Command>& CommandRegistry();

struct RegisterCommand {
  explicit RegisterCommand(Command c);
};

// A small flag parser: `--name value`, `--name=value`, boolean `--name`, and
// positional arguments. Unknown flags are an error naming the flag.
class Flags {
 public:
  // `value_flags` take a value; `bool_flags` do not. Names without dashes.
  static StatusOr<Flags> Parse(const std::vector<std::string>& args,
                               const std::vector<std::string>& value_flags,
                               const std::vector<std::string>& bool_flags);

  bool Has(std::string_view name) const;
  std::optional<std::string> Get(std::string_view name) const;
  std::string GetOr(std::string_view name, std::string fallback) const;
  // Parses an integer or float flag; an unparsable value is an error naming the flag.
  StatusOr<long long> GetInt(std::string_view name, long long fallback) const;
  StatusOr<double> GetDouble(std::string_view name, double fallback) const;
  // -t / --threads, the same on every command (list both in Parse).
  StatusOr<long long> GetThreads(long long fallback) const {
    return Has("t") ? GetInt("t", fallback) : GetInt("threads", fallback);
  }
  // `name`'s value, else the environment variable `env` (unset or empty:
  // nullopt): the documented defaults (README, "Defaults").
  std::optional<std::string> GetOrEnv(std::string_view name, const char* env) const;
  // Renamed flags keep their old spelling for one release: `name`'s value,
  // else `old_name`'s with a one-line deprecation note on stderr naming the
  // new spelling (list both in Parse).
  std::optional<std::string> GetRenamed(std::string_view name, std::string_view old_name,
                                        std::string_view command) const;
  // Every value given for a repeatable flag, in order.
  std::vector<std::string> GetAll(std::string_view name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::string> positional_;
};

// "chunkserve COMMAND: OLD is deprecated; use NEW; the old spelling goes
// away in the next release" on stderr: the one form of every deprecation note.
void DeprecationNote(std::string_view command, std::string_view old_spelling, std::string_view new_spelling);

// Prints "chunkserve NAME: message" to stderr and returns `exit_code`.
int Fail(std::string_view command, const Status& status, int exit_code = 1);
int UsageError(const Command& command, std::string_view message);

}  // namespace chunkserve::cli
