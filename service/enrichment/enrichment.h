// The enrichment as the service wires it: owner database, c-ares resolver,
// the ip_info cache on PostgreSQL and the background worker, built from one
// EnrichmentOptions.
//
//   EGRESS_ASSIGN_OR_RETURN(auto enrichment, Enrichment::Create(options, database));
//   enrichment->worker().Start();
//   // ingest, after committing a batch:
//   enrichment->store().EnqueueNew(new_ips);  enrichment->worker().Wake();
//   // SIGHUP:
//   enrichment->ReloadOwnerDatabase();
//   // AccountsService.LookupIp:
//   enrichment->worker().Lookup(ip, request.refresh()) -> IpInfoRecordToProto(...)
//   // shutdown (before the Database goes):
//   enrichment.reset();
#ifndef EGRESS_SERVICE_ENRICHMENT_ENRICHMENT_H_
#define EGRESS_SERVICE_ENRICHMENT_ENRICHMENT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "service/enrichment/cares_ptr_resolver.h"
#include "service/enrichment/enrichment_options.h"
#include "service/enrichment/enrichment_worker.h"
#include "service/enrichment/ip_info_store.h"
#include "service/enrichment/owner_database.h"
#include "service/enrichment/ptr_resolver.h"
#include "service/storage/database.h"

namespace egress {

class Enrichment {
 public:
  // Validates the options, loads the owner database (NOT_FOUND / DATA_LOSS
  // if the file is missing or broken: start-up should fail loudly rather
  // than show no owners), creates the resolver. Does not start the worker.
  // `database` must outlive the result.
  static absl::StatusOr<std::unique_ptr<Enrichment>> Create(const EnrichmentOptions& options,
                                                            Database* database);
  // Stops the worker, then the resolver.
  ~Enrichment();

  EnrichmentWorker& worker() { return *worker_; }
  IpInfoStore& store() { return *store_; }
  // Null when owner_database_kind is kNone.
  OwnerDatabase* owner_database() { return owner_.get(); }
  PtrResolver& resolver() { return *resolver_; }
  // DNS counters (timeouts, SERVFAIL, in flight, ...) for stats and logs.
  PtrResolverStats resolver_stats() const;

  // For SIGHUP: reloads the owner database now (old data stays on error).
  absl::Status ReloadOwnerDatabase();

 private:
  Enrichment() = default;

  std::unique_ptr<OwnerDatabase> owner_;
  std::unique_ptr<CaresPtrResolver> resolver_;
  std::unique_ptr<IpInfoStore> store_;
  std::unique_ptr<EnrichmentWorker> worker_;
};

// Opens the owner database the options name (nullptr for kNone).
absl::StatusOr<std::unique_ptr<OwnerDatabase>> OpenOwnerDatabase(const EnrichmentOptions& options);

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_ENRICHMENT_H_
