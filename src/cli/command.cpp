#include "cli/command.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

namespace chunkserve::cli {

std::map<std::string, Command>& CommandRegistry() {
  static std::map<std::string, Command> registry;
  return registry;
}

RegisterCommand::RegisterCommand(Command c) {
  std::string name = c.name;
  CommandRegistry().emplace(std::move(name), std::move(c));
}

StatusOr<Flags> Flags::Parse(const std::vector<std::string>& args,
                             const std::vector<std::string>& value_flags,
                             const std::vector<std::string>& bool_flags) {
  auto contains = [](const std::vector<std::string>& v, const std::string& s) {
    for (const auto& x : v)
      if (x == s) return true;
    return false;
  };
  Flags f;
  bool only_positional = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (only_positional || a.size() < 2 || a[0] != '-' || (a[1] != '-' && a.size() != 2) ||
        (a[1] != '-' && std::isdigit(static_cast<unsigned char>(a[1])))) {
      f.positional_.push_back(a);
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (contains(value_flags, name)) {
      if (inline_value) {
        f.values_.emplace_back(name, *inline_value);
      } else {
        if (i + 1 >= args.size()) return InvalidArgumentError("flag --" + name + " needs a value");
        f.values_.emplace_back(name, args[++i]);
      }
    } else if (contains(bool_flags, name)) {
      if (inline_value) return InvalidArgumentError("flag --" + name + " takes no value");
      f.values_.emplace_back(name, "true");
    } else {
      return InvalidArgumentError("unknown flag " + a);
    }
  }
  return f;
}

bool Flags::Has(std::string_view name) const {
  for (const auto& [k, v] : values_)
    if (k == name) return true;
  return false;
}

std::optional<std::string> Flags::Get(std::string_view name) const {
  std::optional<std::string> out;
  for (const auto& [k, v] : values_)
    if (k == name) out = v;  // the last one wins
  return out;
}

std::string Flags::GetOr(std::string_view name, std::string fallback) const {
  auto v = Get(name);
  return v ? *v : fallback;
}

StatusOr<long long> Flags::GetInt(std::string_view name, long long fallback) const {
  auto v = Get(name);
  if (!v) return fallback;
  char* end = nullptr;
  long long x = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0')
    return InvalidArgumentError("flag --" + std::string(name) + " needs an integer, got '" + *v + "'");
  return x;
}

StatusOr<double> Flags::GetDouble(std::string_view name, double fallback) const {
  auto v = Get(name);
  if (!v) return fallback;
  char* end = nullptr;
  double x = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || !std::isfinite(x))
    return InvalidArgumentError("flag --" + std::string(name) + " needs a finite number, got '" + *v + "'");
  return x;
}

std::optional<std::string> Flags::GetOrEnv(std::string_view name, const char* env) const {
  if (auto v = Get(name)) return v;
  const char* value = std::getenv(env);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::optional<std::string> Flags::GetRenamed(std::string_view name, std::string_view old_name,
                                             std::string_view command) const {
  if (auto v = Get(name)) return v;
  auto old = Get(old_name);
  if (old) DeprecationNote(command, "--" + std::string(old_name), "--" + std::string(name));
  return old;
}

void DeprecationNote(std::string_view command, std::string_view old_spelling, std::string_view new_spelling) {
  std::fprintf(stderr,
               "chunkserve %.*s: %.*s is deprecated; use %.*s; the old spelling goes away in the next release\n",
               static_cast<int>(command.size()), command.data(), static_cast<int>(old_spelling.size()),
               old_spelling.data(), static_cast<int>(new_spelling.size()), new_spelling.data());
}

std::vector<std::string> Flags::GetAll(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : values_)
    if (k == name) out.push_back(v);
  return out;
}

int Fail(std::string_view command, const Status& status, int exit_code) {
  std::fprintf(stderr, "chunkserve %.*s: %s\n", static_cast<int>(command.size()), command.data(),
               status.ToString().c_str());
  return exit_code;
}

int UsageError(const Command& command, std::string_view message) {
  std::fprintf(stderr, "chunkserve %s: %.*s\n\n%s\n", command.name.c_str(),
               static_cast<int>(message.size()), message.data(), command.usage.c_str());
  return 2;
}

}  // namespace chunkserve::cli
