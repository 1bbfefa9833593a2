#include "service/enrichment/enrichment_options.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace egress {

absl::StatusOr<OwnerDatabaseKind> ParseOwnerDatabaseKind(absl::string_view text) {
  if (text == "libloc") return OwnerDatabaseKind::kLibloc;
  if (text == "maxmind") return OwnerDatabaseKind::kMaxmind;
  if (text == "none") return OwnerDatabaseKind::kNone;
  return absl::InvalidArgumentError(
      absl::StrCat("owner database type \"", text, "\": expected libloc, maxmind or none"));
}

absl::Duration WorstCaseLookupTime(const EnrichmentOptions& options) {
  const int servers = std::max<int>(1, static_cast<int>(options.resolvers.size()));
  absl::Duration one_query;
  // c-ares 1.18: try n (0-based, over all servers) waits timeout << (n / servers).
  for (int n = 0; n < options.resolver_tries * servers; ++n) {
    one_query += options.resolver_timeout * (int64_t{1} << std::min(n / servers, 20));
  }
  return 2 * one_query;
}

absl::Status ValidateEnrichmentOptions(const EnrichmentOptions& o) {
  auto bad = [](absl::string_view option, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(option, ": ", why));
  };
  if (o.owner_database_kind != OwnerDatabaseKind::kNone && o.owner_database_path.empty()) {
    return bad("owner_database_path", "must not be empty");
  }
  if (o.owner_database_check_interval < absl::Seconds(1)) {
    return bad("owner_database_check_interval", "must be at least 1s");
  }
  if (o.resolver_timeout < absl::Milliseconds(10) || o.resolver_timeout > absl::Minutes(1)) {
    return bad("resolver_timeout", "must be 10ms..1m");
  }
  if (o.resolver_tries < 1 || o.resolver_tries > 10) return bad("resolver_tries", "must be 1..10");
  if (o.max_in_flight < 1 || o.max_in_flight > 10000) {
    return bad("max_in_flight", "must be 1..10000");
  }
  if (o.positive_ttl < absl::Minutes(1)) return bad("positive_ttl", "must be at least 1m");
  if (o.negative_ttl < absl::Seconds(10)) return bad("negative_ttl", "must be at least 10s");
  if (o.idle_poll_interval < absl::Milliseconds(10)) {
    return bad("idle_poll_interval", "must be at least 10ms");
  }
  if (o.save_batch < 1 || o.save_batch > 100000) return bad("save_batch", "must be 1..100000");
  const absl::Duration worst = WorstCaseLookupTime(o);
  if (o.claim_lease <= worst) {
    return bad("claim_lease",
               absl::StrCat("must exceed the longest lookup (", absl::FormatDuration(worst),
                            " with these resolver timeouts and tries)"));
  }
  return absl::OkStatus();
}

}  // namespace egress
