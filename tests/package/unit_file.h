// Reads a systemd unit file the way the package test needs it: the keys of
// its sections, the environment its service gets (Environment=,
// EnvironmentFile=) and its ExecStart= command line with the environment
// expanded, so that a test can run what an installed unit would run when
// systemd is not PID 1. Covers the subset our units use: no line
// continuations, no specifiers (%i), no ExecStart prefixes (-, @, +, !).
#ifndef EGRESS_TESTS_PACKAGE_UNIT_FILE_H_
#define EGRESS_TESTS_PACKAGE_UNIT_FILE_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace egress::testing {

class UnitFile {
 public:
  // Parses unit text. INVALID_ARGUMENT for a line that is neither a
  // section, a comment nor Key=Value, or a key outside any section.
  static absl::StatusOr<UnitFile> Parse(const std::string& text);
  static absl::StatusOr<UnitFile> Read(const std::string& path);

  // Every value of `key` in `section`, in file order.
  std::vector<std::string> Values(const std::string& section, const std::string& key) const;
  // The last value of `key` in `section`, or `fallback`.
  std::string Value(const std::string& section, const std::string& key,
                    const std::string& fallback = "") const;

  // The service's environment: Environment= assignments and the files of
  // EnvironmentFile= (KEY=VALUE lines, # comments; a "-" before the path
  // means optional), later ones overriding earlier ones. NOT_FOUND for a
  // missing file that is not optional.
  absl::StatusOr<std::map<std::string, std::string>> ServiceEnvironment() const;

  // ExecStart= split into words (double or single quotes group), with
  // ${NAME} replaced by the variable's value as one word and $NAME by its
  // value split on whitespace (none when empty), as systemd does.
  // INVALID_ARGUMENT when there is not exactly one ExecStart= or it uses a
  // prefix or a specifier.
  absl::StatusOr<std::vector<std::string>> ExecStart(
      const std::map<std::string, std::string>& environment) const;

 private:
  std::vector<std::pair<std::string, std::pair<std::string, std::string>>> entries_;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_PACKAGE_UNIT_FILE_H_
