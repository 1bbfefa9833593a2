#include "service/enrichment/enrichment.h"

#include <utility>

#include "common/status_macros.h"
#include "service/enrichment/cares_ptr_resolver.h"
#include "service/enrichment/libloc_owner_database.h"
#include "service/enrichment/maxmind_owner_database.h"
#include "service/storage/pg_ip_info_store.h"

namespace egress {

absl::StatusOr<std::unique_ptr<OwnerDatabase>> OpenOwnerDatabase(const EnrichmentOptions& options) {
  switch (options.owner_database_kind) {
    case OwnerDatabaseKind::kLibloc: {
      EGRESS_ASSIGN_OR_RETURN(auto db, LiblocOwnerDatabase::Create(options.owner_database_path));
      return std::unique_ptr<OwnerDatabase>(std::move(db));
    }
    case OwnerDatabaseKind::kMaxmind: {
      EGRESS_ASSIGN_OR_RETURN(auto db, MaxmindOwnerDatabase::Create(options.owner_database_path));
      return std::unique_ptr<OwnerDatabase>(std::move(db));
    }
    case OwnerDatabaseKind::kNone:
      return std::unique_ptr<OwnerDatabase>();
  }
  return absl::InvalidArgumentError("owner_database_kind: unknown");
}

absl::StatusOr<std::unique_ptr<Enrichment>> Enrichment::Create(const EnrichmentOptions& options,
                                                               Database* database) {
  EGRESS_RETURN_IF_ERROR(ValidateEnrichmentOptions(options));
  std::unique_ptr<Enrichment> enrichment(new Enrichment());
  EGRESS_ASSIGN_OR_RETURN(enrichment->owner_, OpenOwnerDatabase(options));
  CaresPtrResolverOptions resolver_options;
  resolver_options.servers = options.resolvers;
  resolver_options.timeout = options.resolver_timeout;
  resolver_options.tries = options.resolver_tries;
  resolver_options.max_in_flight = options.max_in_flight;
  // The worker never has more than max_in_flight outstanding; the queue only
  // holds on-demand lookups beyond that.
  resolver_options.max_queued = 1000;
  EGRESS_ASSIGN_OR_RETURN(enrichment->resolver_, CaresPtrResolver::Create(resolver_options));
  enrichment->store_ = std::make_unique<PgIpInfoStore>(database);
  EGRESS_ASSIGN_OR_RETURN(
      enrichment->worker_,
      EnrichmentWorker::Create(options, enrichment->owner_.get(), enrichment->resolver_.get(),
                               enrichment->store_.get()));
  return enrichment;
}

Enrichment::~Enrichment() {
  worker_.reset();
  resolver_.reset();
}

PtrResolverStats Enrichment::resolver_stats() const { return resolver_->stats(); }

absl::Status Enrichment::ReloadOwnerDatabase() {
  if (owner_ == nullptr) return absl::OkStatus();
  return owner_->Reload();
}

}  // namespace egress
