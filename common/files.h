// Reading a whole small file (tokens, secrets, PEM, the agent's state), with
// one error behaviour everywhere: a file that cannot be read is an error
// naming the path and the reason, never an empty string.
#ifndef EGRESS_COMMON_FILES_H_
#define EGRESS_COMMON_FILES_H_

#include <string>

#include "absl/status/statusor.h"

namespace egress {

// The file's bytes. NOT_FOUND when it does not exist, PERMISSION_DENIED when
// it may not be read, FAILED_PRECONDITION when it is a directory or larger
// than `max_bytes`, UNAVAILABLE for any other read error; each message is
// "cannot read <path>: <reason>". These messages hold a path, so they are
// for logs and command-line errors, never for an RPC status.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path,
                                          size_t max_bytes = 64 * 1024 * 1024);

// ReadWholeFile with leading and trailing ASCII whitespace removed (token and
// secret files usually end in a newline).
absl::StatusOr<std::string> ReadTrimmedFile(const std::string& path);

}  // namespace egress

#endif  // EGRESS_COMMON_FILES_H_
