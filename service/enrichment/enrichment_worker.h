// The background enrichment: claims due IPs from the ip_info cache, looks up
// their owner (in-process) and PTR (asynchronously), saves the results in
// batches. Also the on-demand lookup behind AccountsService.LookupIp.
#ifndef EGRESS_SERVICE_ENRICHMENT_ENRICHMENT_WORKER_H_
#define EGRESS_SERVICE_ENRICHMENT_ENRICHMENT_WORKER_H_

#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/enrichment/enrichment_options.h"
#include "service/enrichment/ip_info_store.h"
#include "service/enrichment/owner_database.h"
#include "service/enrichment/ptr_resolver.h"

namespace egress {

// Counters since creation, plus the last backlog seen.
struct EnrichmentStats {
  uint64_t claimed = 0;
  // Lookups finished (background and on demand).
  uint64_t looked_up = 0;
  uint64_t ptr_found = 0;
  uint64_t ptr_confirmed = 0;
  uint64_t no_ptr = 0;
  uint64_t temporary_failures = 0;
  uint64_t owner_found = 0;
  uint64_t saved = 0;
  uint64_t claim_errors = 0;
  uint64_t save_errors = 0;
  uint64_t owner_reload_errors = 0;
  int64_t in_flight = 0;
  // Rows due (new, expired or with a lapsed claim) and never looked up, at
  // `backlog_at` (refreshed every few seconds while running; -1 unknown).
  int64_t backlog = -1;
  int64_t pending = -1;
  absl::Time backlog_at = absl::InfinitePast();
};

class EnrichmentWorker {
 public:
  // The dependencies are borrowed and must outlive the worker. `owner` may
  // be null (no owner data). INVALID_ARGUMENT for bad options.
  static absl::StatusOr<std::unique_ptr<EnrichmentWorker>> Create(const EnrichmentOptions& options,
                                                                  OwnerDatabase* owner,
                                                                  PtrResolver* resolver,
                                                                  IpInfoStore* store);
  // Stops (see Stop).
  ~EnrichmentWorker();

  // Starts the background thread. Call once.
  void Start();
  // Stops claiming, waits for the lookups in flight (they end within the
  // resolver's timeouts), saves their results and joins the thread.
  // Idempotent.
  // Rows claimed but not saved become due again when their lease ends.
  void Stop();

  // Tells the worker that new IPs were enqueued, so it claims them now
  // instead of at its next idle poll. Cheap, any thread; call it after
  // IpInfoStore::EnqueueNew on the ingest path.
  void Wake();

  // For AccountsService.LookupIp / `egressctl lookup [--refresh]`: with
  // `refresh` false, the cached row if the IP was looked up before (even if
  // expired: the background refresh is on its way); otherwise (unknown,
  // pending, or `refresh`) looks it up now — blocking for up to the longest
  // lookup time — saves the answer and returns the row as stored (so a
  // temporary failure shows the earlier answer it kept, with expires_at
  // telling when it is retried). Thread-safe. Storage errors as IpInfoStore.
  absl::StatusOr<IpInfoRecord> Lookup(const IpAddress& ip, bool refresh);

  EnrichmentStats stats() const;

 private:
  EnrichmentWorker(const EnrichmentOptions& options, OwnerDatabase* owner, PtrResolver* resolver,
                   IpInfoStore* store);
  void Run();
  // Owner fields of a result (the PTR fields are filled by the resolver).
  IpInfoResult OwnerResult(const IpAddress& ip);
  void Complete(IpInfoResult result, const PtrLookupResult& ptr)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void Save(std::vector<IpInfoResult>& results);

  const EnrichmentOptions options_;
  OwnerDatabase* const owner_;
  PtrResolver* const resolver_;
  IpInfoStore* const store_;
  const int low_water_;

  std::thread thread_;
  mutable absl::Mutex mutex_;
  bool started_ ABSL_GUARDED_BY(mutex_) = false;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  bool wake_ ABSL_GUARDED_BY(mutex_) = false;
  int64_t in_flight_ ABSL_GUARDED_BY(mutex_) = 0;
  std::vector<IpInfoResult> completed_ ABSL_GUARDED_BY(mutex_);
  EnrichmentStats stats_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_ENRICHMENT_WORKER_H_
