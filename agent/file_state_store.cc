#include "agent/file_state_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/files.h"

namespace egress::agent {

absl::StatusOr<std::unique_ptr<FileStateStore>> FileStateStore::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", dir, ": ", ec.message()));
  return std::unique_ptr<FileStateStore>(new FileStateStore(dir));
}

absl::Status FileStateStore::WriteFileAtomically(const std::string& name,
                                                 const std::string& data) const {
  const std::string path = absl::StrCat(dir_, "/", name);
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", tmp, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return absl::InternalError(absl::StrCat("write ", tmp, ": ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("fsync ", tmp, ": ", std::strerror(errno)));
  }
  close(fd);
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("rename ", tmp, ": ", std::strerror(errno)));
  }
  const int dfd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

absl::Status FileStateStore::SaveRuleSet(const v1::RuleSet& rules) const {
  return WriteFileAtomically("rules.pb", rules.SerializeAsString());
}

absl::StatusOr<std::optional<v1::RuleSet>> FileStateStore::LoadRuleSet() const {
  const std::string path = absl::StrCat(dir_, "/rules.pb");
  absl::StatusOr<std::string> bytes = ReadWholeFile(path);
  if (absl::IsNotFound(bytes.status())) return std::optional<v1::RuleSet>();
  if (!bytes.ok()) return bytes.status();
  v1::RuleSet rules;
  if (!rules.ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat(path, " does not parse as a RuleSet"));
  }
  return std::optional<v1::RuleSet>(std::move(rules));
}

absl::Status FileStateStore::SaveTimeZone(const std::string& name) const {
  return WriteFileAtomically("time_zone", name + "\n");
}

std::string FileStateStore::LoadTimeZone() const {
  // No file (or an unreadable one): "", i.e. the configured default zone.
  absl::StatusOr<std::string> text = ReadTrimmedFile(absl::StrCat(dir_, "/time_zone"));
  if (!text.ok()) return "";
  return std::string(absl::StripAsciiWhitespace(text->substr(0, text->find('\n'))));
}

}  // namespace egress::agent
