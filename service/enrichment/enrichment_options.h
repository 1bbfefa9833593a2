// Everything the enrichment needs to be told, filled by the service's main.cc
// from flags and validated once.
#ifndef EGRESS_SERVICE_ENRICHMENT_ENRICHMENT_OPTIONS_H_
#define EGRESS_SERVICE_ENRICHMENT_ENRICHMENT_OPTIONS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/enrichment/libloc_owner_database.h"

namespace egress {

enum class OwnerDatabaseKind {
  // The IPFire location database through libloc (the default; Debian ships
  // it in libloc-database and `location update` refreshes it).
  kLibloc,
  // A MaxMind-format .mmdb with autonomous_system_number /
  // autonomous_system_organization (and country.iso_code if present).
  kMaxmind,
  // No owner data (only PTRs).
  kNone,
};

struct EnrichmentOptions {
  // --- Owner data.
  OwnerDatabaseKind owner_database_kind = OwnerDatabaseKind::kLibloc;
  std::string owner_database_path = kDefaultLiblocDatabasePath;
  // How often the file's identity is checked for a reload (besides SIGHUP).
  absl::Duration owner_database_check_interval = absl::Minutes(1);

  // --- PTR lookups (c-ares).
  // "ip", "ip:port", "[ipv6]:port"; empty: the system's (/etc/resolv.conf).
  std::vector<std::string> resolvers;
  // First try per resolver; c-ares doubles it each round.
  absl::Duration resolver_timeout = absl::Seconds(2);
  int resolver_tries = 2;
  // Lookups in flight at once (DNS concurrency) per replica.
  int max_in_flight = 64;

  // --- Cache (ip_info).
  // How long an answer with a PTR is kept before it is looked up again.
  absl::Duration positive_ttl = absl::Hours(24);
  // The same for "no PTR" answers and temporary failures.
  absl::Duration negative_ttl = absl::Hours(1);

  // --- Background worker.
  // Run the background worker (several replicas may all run it: claims are
  // leased, no IP is looked up twice at once).
  bool worker_enabled = true;
  // How long a claimed IP is reserved for this replica; must exceed the
  // longest lookup (PTR + confirmation, all tries), or another replica may
  // repeat it. Also how long a crashed replica's claims wait.
  absl::Duration claim_lease = absl::Minutes(2);
  // When the backlog is empty, how often to look for due rows (new IPs from
  // other replicas, expired entries). Wake() skips the wait.
  absl::Duration idle_poll_interval = absl::Seconds(2);
  // Results saved per statement at most.
  int save_batch = 256;
};

// "libloc", "maxmind" or "none" (for the --owner-database-type flag);
// INVALID_ARGUMENT otherwise.
absl::StatusOr<OwnerDatabaseKind> ParseOwnerDatabaseKind(absl::string_view text);

// INVALID_ARGUMENT naming the option for values out of range, and when the
// claim lease does not cover the longest possible lookup.
absl::Status ValidateEnrichmentOptions(const EnrichmentOptions& options);

// The longest a PTR lookup with confirmation can take with these options
// (c-ares's doubling timeouts over every try of every resolver, twice).
absl::Duration WorstCaseLookupTime(const EnrichmentOptions& options);

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_ENRICHMENT_OPTIONS_H_
