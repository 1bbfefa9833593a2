#include "common/files.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace egress {
namespace {

absl::Status ReadError(const std::string& path, int error) {
  const std::string message = absl::StrCat("cannot read ", path, ": ", strerror(error));
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EISDIR:
      return absl::FailedPreconditionError(message);
    default:
      return absl::UnavailableError(message);
  }
}

}  // namespace

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ReadError(path, errno);
  std::string bytes;
  absl::Status status;
  struct stat info;
  if (::fstat(fd, &info) == 0 && S_ISDIR(info.st_mode)) {
    status = ReadError(path, EISDIR);
  } else {
    char chunk[65536];
    while (true) {
      const ssize_t got = ::read(fd, chunk, sizeof(chunk));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        status = ReadError(path, errno);
        break;
      }
      if (got == 0) break;
      bytes.append(chunk, static_cast<size_t>(got));
      if (bytes.size() > max_bytes) {
        status = absl::FailedPreconditionError(
            absl::StrCat("cannot read ", path, ": larger than ", max_bytes, " bytes"));
        break;
      }
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return bytes;
}

absl::StatusOr<std::string> ReadTrimmedFile(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  return std::string(absl::StripAsciiWhitespace(*bytes));
}

}  // namespace egress
