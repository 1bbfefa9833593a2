// Who owns an IP address: the network it belongs to, that network's
// autonomous system (number and name) and country, from an IP-range dataset
// held in memory.
//
// Implementations: LiblocOwnerDatabase (the IPFire location database, the
// default) and MaxmindOwnerDatabase (a MaxMind-format ASN/country .mmdb).
#ifndef EGRESS_SERVICE_ENRICHMENT_OWNER_DATABASE_H_
#define EGRESS_SERVICE_ENRICHMENT_OWNER_DATABASE_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/ip_address.h"

namespace egress {

struct OwnerInfo {
  // The most specific network of the dataset that holds the address.
  IpNetwork network;
  // Autonomous system number; 0 if the dataset has none for the network.
  uint32_t asn = 0;
  // Name of the autonomous system (organisation); empty if unknown.
  std::string as_name;
  // ISO 3166-1 alpha-2 code, upper case; empty if unknown.
  std::string country;
  // The network is anycast (served from many places; the country is then
  // where it is registered, not where the packets go).
  bool anycast = false;

  friend bool operator==(const OwnerInfo&, const OwnerInfo&) = default;
  friend std::ostream& operator<<(std::ostream& os, const OwnerInfo& o) {
    return os << o.network << " AS" << o.asn << " \"" << o.as_name << "\" " << o.country
              << (o.anycast ? " anycast" : "");
  }
};

// Counters and facts about the loaded data, for stats and logs.
struct OwnerDatabaseInfo {
  std::string path;
  // "libloc" or "maxmind".
  std::string kind;
  // When the dataset was built (from its metadata); InfinitePast if unknown.
  absl::Time built_at = absl::InfinitePast();
  // When this process loaded it.
  absl::Time loaded_at = absl::InfinitePast();
  // Networks (libloc) or 0 when the format does not tell.
  uint64_t networks = 0;
  uint64_t reloads = 0;
  uint64_t failed_reloads = 0;
};

// Thread-safe: any number of threads may call Lookup concurrently with each
// other and with Reload/ReloadIfChanged. A reload builds the new data aside
// and swaps it in atomically: a lookup sees either the old or the new data,
// never a mix, and is never blocked for the duration of a reload.
class OwnerDatabase {
 public:
  virtual ~OwnerDatabase() = default;

  // The owner of `ip`, or nullopt if the dataset has no network holding it
  // (private, reserved and unannounced space). Never fails: the data is in
  // memory. A raw v4-mapped address is looked up as IPv4.
  virtual std::optional<OwnerInfo> Lookup(const IpAddress& ip) const = 0;

  // Loads the file again (after `location update` or a new .mmdb was
  // installed). On error the old data stays in use and the error is
  // returned: NOT_FOUND (no file), DATA_LOSS (corrupt file), INTERNAL.
  virtual absl::Status Reload() = 0;

  // Reloads if the file's identity (inode, size, mtime) changed since the
  // last (attempted) load; OK without doing anything otherwise. Cheap (one
  // stat): call it periodically and on SIGHUP.
  virtual absl::Status ReloadIfChanged() = 0;

  virtual OwnerDatabaseInfo info() const = 0;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_OWNER_DATABASE_H_
