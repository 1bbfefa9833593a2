// Small file helpers for tests.
#ifndef EGRESS_TESTS_SUPPORT_FILES_H_
#define EGRESS_TESTS_SUPPORT_FILES_H_

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace egress::testing {

// The whole file as text; "" when it cannot be read (tests then fail on
// what they expected to find in it).
inline std::string ReadFileText(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_FILES_H_
