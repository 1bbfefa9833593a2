// OwnerDatabase over a MaxMind-format .mmdb (libmaxminddb), for providers who
// license GeoLite2/GeoIP2 ASN data or use another vendor's ASN .mmdb.
//
// Read per entry: autonomous_system_number, autonomous_system_organization,
// and country.iso_code (or registered_country.iso_code) when the database
// has them. The network reported is the tree's record, which is smaller than
// the announced prefix where a more specific network splits it (an .mmdb is
// flattened). MaxMind ASN databases have no country and no anycast flag.
// Lookups go straight to the memory-mapped file (libmaxminddb lookups are
// thread-safe); a reload maps the new file and unmaps the old one when the
// last lookup using it ends.
#ifndef EGRESS_SERVICE_ENRICHMENT_MAXMIND_OWNER_DATABASE_H_
#define EGRESS_SERVICE_ENRICHMENT_MAXMIND_OWNER_DATABASE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "service/enrichment/file_reloader.h"
#include "service/enrichment/owner_database.h"

namespace egress {

struct MmdbHandle;  // maxmind_owner_database.cc

class MaxmindOwnerDatabase : public OwnerDatabase {
 public:
  // NOT_FOUND if `path` does not exist, DATA_LOSS if it is not an .mmdb.
  static absl::StatusOr<std::unique_ptr<MaxmindOwnerDatabase>> Create(const std::string& path);

  std::optional<OwnerInfo> Lookup(const IpAddress& ip) const override;
  absl::Status Reload() override;
  absl::Status ReloadIfChanged() override;
  OwnerDatabaseInfo info() const override;

 private:
  explicit MaxmindOwnerDatabase(const std::string& path);

  FileReloader<MmdbHandle> reloader_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_MAXMIND_OWNER_DATABASE_H_
