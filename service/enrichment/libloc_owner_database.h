// OwnerDatabase over the IPFire location database (libloc; Debian packages
// libloc-dev and libloc-database, refreshed in production by libloc's own
// `location update`).
//
// The file is read once per (re)load into an OwnerRangeTable (about 1.3
// million networks and 90k AS names for the full database: ~1.5 s and
// ~70 MB), so lookups never touch libloc, whose reference counting is not
// thread-safe and whose own lookup is ~3x slower.
#ifndef EGRESS_SERVICE_ENRICHMENT_LIBLOC_OWNER_DATABASE_H_
#define EGRESS_SERVICE_ENRICHMENT_LIBLOC_OWNER_DATABASE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "service/enrichment/file_reloader.h"
#include "service/enrichment/owner_database.h"
#include "service/enrichment/owner_range_table.h"

namespace egress {

// Where Debian's libloc-database installs the database.
inline constexpr char kDefaultLiblocDatabasePath[] = "/usr/share/libloc-location/location.db";

class LiblocOwnerDatabase : public OwnerDatabase {
 public:
  // Loads `path`. NOT_FOUND if it does not exist, DATA_LOSS if libloc cannot
  // read it.
  static absl::StatusOr<std::unique_ptr<LiblocOwnerDatabase>> Create(const std::string& path);

  // Reads a libloc database file into a table (exposed for the benchmark).
  static absl::StatusOr<OwnerRangeTable> Load(const std::string& path, absl::Time* built_at);

  std::optional<OwnerInfo> Lookup(const IpAddress& ip) const override;
  absl::Status Reload() override;
  absl::Status ReloadIfChanged() override;
  OwnerDatabaseInfo info() const override;

 private:
  explicit LiblocOwnerDatabase(const std::string& path);

  FileReloader<OwnerRangeTable> reloader_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_LIBLOC_OWNER_DATABASE_H_
