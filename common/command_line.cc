#include "common/command_line.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"

namespace egress {
namespace {

// Flags defined in the project's own sources (not in Abseil's or gRPC's).
bool IsProjectFile(absl::string_view path) {
  return !absl::StrContains(path, "absl/") && !absl::StrContains(path, "/usr/");
}

// --help, --helpfull, ... (with or without a value): Abseil prints the usage
// and exits.
bool IsUsageFlag(absl::string_view arg) {
  if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
  const absl::string_view name = arg.substr(0, arg.find('='));
  return name == "help" || name == "helpfull" || name == "helpshort" || name == "helppackage" ||
         name == "version";
}

// Abseil (this version) ends a usage request with exit status 1, which
// scripts and service managers read as a failure; asking for help is not
// one. Runs at that exit, after the text is written.
void ExitSuccessfully() {
  std::cout.flush();
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(0);
}

}  // namespace

std::vector<std::string> ParseCommandLine(int argc, char** argv, absl::string_view usage) {
  absl::FlagsUsageConfig config;
  config.contains_helpshort_flags = IsProjectFile;
  config.contains_help_flags = IsProjectFile;
  absl::SetFlagsUsageConfig(config);
  absl::SetProgramUsageMessage(usage);

  // "--time-zone=x" -> "--time_zone=x": the name only, never the value, and
  // nothing after a bare "--".
  std::vector<std::string> normalized(argv, argv + argc);
  for (size_t i = 1; i < normalized.size(); ++i) {
    std::string& arg = normalized[i];
    if (arg == "--") break;
    if (arg.size() < 3 || arg[0] != '-') continue;
    const size_t start = arg[1] == '-' ? 2 : 1;
    const size_t end = std::min(arg.find('='), arg.size());
    for (size_t j = start; j < end; ++j) {
      if (arg[j] == '-') arg[j] = '_';
    }
  }
  std::vector<char*> pointers;
  for (std::string& arg : normalized) pointers.push_back(arg.data());
  // Only usage flags: Abseil prints and exits, and nothing can fail meanwhile.
  if (normalized.size() > 1 &&
      std::all_of(normalized.begin() + 1, normalized.end(),
                  [](const std::string& arg) { return IsUsageFlag(arg); })) {
    std::atexit(ExitSuccessfully);
  }
  std::vector<char*> positional =
      absl::ParseCommandLine(static_cast<int>(pointers.size()), pointers.data());
  return std::vector<std::string>(positional.begin() + 1, positional.end());
}

}  // namespace egress
