// Holds data loaded from a file and swaps in a freshly loaded copy when asked
// or when the file changed, without blocking readers for the load.
// Shared by the owner databases.
#ifndef EGRESS_SERVICE_ENRICHMENT_FILE_RELOADER_H_
#define EGRESS_SERVICE_ENRICHMENT_FILE_RELOADER_H_

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "service/enrichment/owner_database.h"

namespace egress {

// What identifies one version of a file: replaced (rename) or rewritten in
// place, at least one of these changes.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = -1;
  int64_t mtime_ns = -1;
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

inline absl::StatusOr<FileIdentity> StatFile(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    int error = errno;
    std::string message = absl::StrCat(path, ": ", std::strerror(error));
    return error == ENOENT ? absl::NotFoundError(message) : absl::InternalError(message);
  }
  return FileIdentity{st.st_dev, st.st_ino, st.st_size,
                      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

// T: the loaded data (immutable once loaded). Thread-safe.
template <typename T>
class FileReloader {
 public:
  // Loads the file into a T; `built_at` may be left alone if unknown.
  using Loader = std::function<absl::StatusOr<std::shared_ptr<const T>>(const std::string& path,
                                                                        absl::Time* built_at)>;
  using Counter = std::function<uint64_t(const T&)>;

  FileReloader(std::string path, std::string kind, Loader loader, Counter counter)
      : path_(std::move(path)),
        kind_(std::move(kind)),
        loader_(std::move(loader)),
        counter_(std::move(counter)) {}

  // The current data; the caller keeps it alive as long as it needs it.
  std::shared_ptr<const T> Current() const {
    absl::ReaderMutexLock lock(&mutex_);
    return current_;
  }

  // Runs `fn(const T&)` on the current data without touching the reference
  // count (a shared reader lock, held only by readers and the swap).
  template <typename Fn>
  auto With(Fn&& fn) const {
    absl::ReaderMutexLock lock(&mutex_);
    return fn(*current_);
  }

  absl::Status Reload() {
    absl::MutexLock reload_lock(&reload_mutex_);
    return ReloadLocked();
  }

  absl::Status ReloadIfChanged() {
    absl::MutexLock reload_lock(&reload_mutex_);
    absl::StatusOr<FileIdentity> identity = StatFile(path_);
    if (identity.ok() && *identity == identity_) return absl::OkStatus();
    if (!identity.ok() && absl::IsNotFound(identity.status()) && missing_reported_) {
      return absl::OkStatus();  // still missing: reported once already
    }
    return ReloadLocked();
  }

  OwnerDatabaseInfo info() const {
    absl::ReaderMutexLock lock(&mutex_);
    OwnerDatabaseInfo info = info_;
    return info;
  }

 private:
  absl::Status ReloadLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mutex_) {
    absl::StatusOr<FileIdentity> identity = StatFile(path_);
    absl::Time built_at = absl::InfinitePast();
    absl::StatusOr<std::shared_ptr<const T>> loaded =
        identity.ok() ? loader_(path_, &built_at) : identity.status();
    if (!loaded.ok()) {
      missing_reported_ = absl::IsNotFound(loaded.status());
      if (identity.ok()) identity_ = *identity;  // do not retry a bad file until it changes
      absl::MutexLock lock(&mutex_);
      ++info_.failed_reloads;
      LogError("owner_database_load_failed",
               {{"path", path_}, {"error", loaded.status().ToString()}});
      return loaded.status();
    }
    missing_reported_ = false;
    identity_ = *identity;
    uint64_t networks = counter_(**loaded);
    std::shared_ptr<const T> old;
    {
      absl::MutexLock lock(&mutex_);
      old = std::move(current_);
      current_ = *std::move(loaded);
      if (old != nullptr) ++info_.reloads;
      info_.path = path_;
      info_.kind = kind_;
      info_.built_at = built_at;
      info_.loaded_at = absl::Now();
      info_.networks = networks;
    }
    LogInfo("owner_database_loaded", {{"path", path_},
                                      {"kind", kind_},
                                      {"networks", networks},
                                      {"built_at", absl::FormatTime(built_at)}});
    // `old` is released here, outside the lock, unless a reader still holds it.
    return absl::OkStatus();
  }

  const std::string path_;
  const std::string kind_;
  const Loader loader_;
  const Counter counter_;

  absl::Mutex reload_mutex_;
  FileIdentity identity_ ABSL_GUARDED_BY(reload_mutex_);
  bool missing_reported_ ABSL_GUARDED_BY(reload_mutex_) = false;

  mutable absl::Mutex mutex_;
  std::shared_ptr<const T> current_ ABSL_GUARDED_BY(mutex_);
  OwnerDatabaseInfo info_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_FILE_RELOADER_H_
