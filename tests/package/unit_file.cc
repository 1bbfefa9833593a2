#include "tests/package/unit_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "tests/support/files.h"

namespace egress::testing {
namespace {

bool IsName(const std::string& text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string Unquote(absl::string_view value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front()) {
    value = value.substr(1, value.size() - 2);
  }
  return std::string(value);
}

// Words of a command line; quotes group and are removed.
absl::StatusOr<std::vector<std::string>> SplitWords(absl::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char c : line) {
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word.push_back(c);
      }
    } else if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (quote != 0) return absl::InvalidArgumentError("ExecStart: unterminated quote");
  if (in_word) words.push_back(std::move(word));
  return words;
}

}  // namespace

absl::StatusOr<UnitFile> UnitFile::Parse(const std::string& text) {
  UnitFile unit;
  std::string section;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    const absl::string_view line = absl::StripAsciiWhitespace(raw);
    if (line.empty() || line.front() == '#' || line.front() == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = std::string(line.substr(1, line.size() - 2));
      continue;
    }
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos || section.empty() || line.back() == '\\') {
      return absl::InvalidArgumentError(absl::StrCat("unit line not understood: ", line));
    }
    unit.entries_.push_back({section,
                             {std::string(absl::StripAsciiWhitespace(line.substr(0, equals))),
                              std::string(absl::StripAsciiWhitespace(line.substr(equals + 1)))}});
  }
  return unit;
}

absl::StatusOr<UnitFile> UnitFile::Read(const std::string& path) {
  if (!std::filesystem::exists(path)) return absl::NotFoundError(absl::StrCat(path, " missing"));
  return Parse(ReadFileText(path));
}

std::vector<std::string> UnitFile::Values(const std::string& section,
                                          const std::string& key) const {
  std::vector<std::string> values;
  for (const auto& [entry_section, entry] : entries_) {
    if (entry_section == section && entry.first == key) values.push_back(entry.second);
  }
  return values;
}

std::string UnitFile::Value(const std::string& section, const std::string& key,
                            const std::string& fallback) const {
  std::vector<std::string> values = Values(section, key);
  return values.empty() ? fallback : values.back();
}

absl::StatusOr<std::map<std::string, std::string>> UnitFile::ServiceEnvironment() const {
  std::map<std::string, std::string> environment;
  for (const std::string& assignments : Values("Service", "Environment")) {
    absl::StatusOr<std::vector<std::string>> words = SplitWords(assignments);
    if (!words.ok()) return words.status();
    for (const std::string& word : *words) {
      const size_t equals = word.find('=');
      if (equals == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("Environment: ", word));
      }
      environment[word.substr(0, equals)] = word.substr(equals + 1);
    }
  }
  for (const std::string& entry : Values("Service", "EnvironmentFile")) {
    absl::string_view path_view = entry;
    const bool optional = absl::ConsumePrefix(&path_view, "-");
    const std::string path(path_view);
    if (!std::filesystem::exists(path)) {
      if (optional) continue;
      return absl::NotFoundError(absl::StrCat("EnvironmentFile ", path, " missing"));
    }
    for (absl::string_view raw : absl::StrSplit(ReadFileText(path), '\n')) {
      const absl::string_view line = absl::StripAsciiWhitespace(raw);
      if (line.empty() || line.front() == '#' || line.front() == ';') continue;
      const size_t equals = line.find('=');
      if (equals == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat(path, ": ", line));
      }
      environment[std::string(absl::StripAsciiWhitespace(line.substr(0, equals)))] =
          Unquote(absl::StripAsciiWhitespace(line.substr(equals + 1)));
    }
  }
  return environment;
}

absl::StatusOr<std::vector<std::string>> UnitFile::ExecStart(
    const std::map<std::string, std::string>& environment) const {
  const std::vector<std::string> lines = Values("Service", "ExecStart");
  if (lines.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(lines.size(), " ExecStart= lines, want 1"));
  }
  if (lines[0].empty() || absl::StrContains("-@+!:", lines[0][0]) ||
      absl::StrContains(lines[0], '%')) {
    return absl::InvalidArgumentError(absl::StrCat("ExecStart= not supported: ", lines[0]));
  }
  absl::StatusOr<std::vector<std::string>> words = SplitWords(lines[0]);
  if (!words.ok()) return words.status();
  auto lookup = [&environment](const std::string& name) {
    auto found = environment.find(name);
    return found == environment.end() ? std::string() : found->second;
  };
  std::vector<std::string> argv;
  for (const std::string& word : *words) {
    if (word.size() > 1 && word[0] == '$' && IsName(word.substr(1))) {
      for (absl::string_view part :
           absl::StrSplit(lookup(word.substr(1)), absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
        argv.emplace_back(part);
      }
      continue;
    }
    std::string expanded;
    for (size_t i = 0; i < word.size(); ++i) {
      const size_t close = word.find('}', i);
      if (word.compare(i, 2, "${") == 0 && close != std::string::npos &&
          IsName(word.substr(i + 2, close - i - 2))) {
        expanded += lookup(word.substr(i + 2, close - i - 2));
        i = close;
      } else {
        expanded.push_back(word[i]);
      }
    }
    argv.push_back(std::move(expanded));
  }
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    return absl::InvalidArgumentError("ExecStart= must start with an absolute path");
  }
  return argv;
}

}  // namespace egress::testing
