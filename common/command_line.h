// Command-line parsing shared by every egress binary (Abseil flags).
#ifndef EGRESS_COMMON_COMMAND_LINE_H_
#define EGRESS_COMMON_COMMAND_LINE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace egress {

// Sets the --help text, then parses the flags and returns the positional
// arguments (without argv[0]). Unlike bare Abseil flags:
//  - flag names may be written with dashes (--time-zone) as well as with
//    underscores (--time_zone), as ops expect from Unix tools;
//  - --help lists the flags of this project's files, not Abseil's own.
// Exits (as Abseil does) on unknown flags or bad values, with the reason.
std::vector<std::string> ParseCommandLine(int argc, char** argv, absl::string_view usage);

}  // namespace egress

#endif  // EGRESS_COMMON_COMMAND_LINE_H_
