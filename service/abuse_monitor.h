// Outbound abuse detection in the service: feeds every committed batch to
// the AbuseDetector and acts on what it finds, and sweeps what time ends.
//
//  * OnBatch (the collector's on_committed_records) only counts, under a
//    mutex, and queues findings (bounded: past kMaxPending they are dropped
//    and counted; the condition is reported again kRepeatAfter later).
//  * One background thread turns findings into incidents
//    (AbuseStore::ReportIncident: de-duplicated per (account, kind) in the
//    database, audited, locking as the policy says), counts them
//    (egress_abuse_incidents_total) and queues the webhook; and every
//    `sweep_interval` lifts expired abuse locks, closes quiet incidents,
//    re-reads the policies, forgets idle accounts and queues again the
//    webhook of incidents no replica delivered (restarted meanwhile):
//    delivery is at least once, kRedeliverAfter after the incident opened,
//    and receivers de-duplicate by incident id.
//
// Thread-safe; the stores, metrics and webhook must outlive it. Stop() (or
// the destructor) ends its thread and stops the webhook's (whose callbacks
// call back into the monitor).
#ifndef EGRESS_SERVICE_ABUSE_MONITOR_H_
#define EGRESS_SERVICE_ABUSE_MONITOR_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "service/abuse_detector.h"
#include "service/abuse_webhook.h"
#include "service/service_metrics.h"
#include "service/storage/abuse_store.h"
#include "service/storage/rules_store.h"

namespace egress {

struct AbuseMonitorOptions {
  absl::Duration sweep_interval = absl::Seconds(2);
  const Clock* clock = RealClock::Get();
};

struct AbuseMonitorStats {
  uint64_t findings = 0;
  uint64_t findings_dropped = 0;
  uint64_t incidents_opened = 0;
  uint64_t locks_set = 0;
  uint64_t locks_expired = 0;
  uint64_t errors = 0;
};

class AbuseMonitor {
 public:
  static constexpr size_t kMaxPending = 10000;
  // An undelivered incident is sent again by any replica's sweeper after
  // this (its own replica may still be retrying until then), for a day.
  static constexpr absl::Duration kRedeliverAfter = absl::Minutes(5);
  static constexpr absl::Duration kRedeliverFor = absl::Hours(24);

  // `metrics` and `webhook` may be null.
  AbuseMonitor(AbuseStore* abuse_store, RulesStore* rules_store, ServiceMetrics* metrics,
               AbuseWebhook* webhook, AbuseMonitorOptions options);
  ~AbuseMonitor();

  // Reads the policies and starts the thread.
  void Start();
  void Stop();

  void OnBatch(const std::string& node_id, const std::vector<AbuseObservation>& records);
  // Re-reads the policies now (after SetAbusePolicy on this replica).
  void ReloadPolicies();

  AbuseMonitorStats stats() const;

 private:
  void Run();
  void Act(const AbuseFinding& finding);
  void Sweep();
  // Queues the incident's webhook POST to `url` unless it is queued already
  // or was given up on by this replica.
  void Notify(const AbuseIncidentRecord& incident, const std::string& url);

  AbuseStore& abuse_store_;
  RulesStore& rules_store_;
  ServiceMetrics* const metrics_;
  AbuseWebhook* const webhook_;
  const AbuseMonitorOptions options_;

  mutable absl::Mutex mutex_;
  AbuseDetector detector_ ABSL_GUARDED_BY(mutex_);
  AbusePolicySet policies_ ABSL_GUARDED_BY(mutex_);
  std::deque<AbuseFinding> pending_ ABSL_GUARDED_BY(mutex_);
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  // Incidents whose webhook POST is queued or in flight, or was given up on
  // (answered 4xx, or out of attempts) by this replica.
  absl::flat_hash_set<uint64_t> notifying_ ABSL_GUARDED_BY(mutex_);
  absl::flat_hash_set<uint64_t> given_up_ ABSL_GUARDED_BY(mutex_);
  AbuseMonitorStats stats_ ABSL_GUARDED_BY(mutex_);
  std::thread thread_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ABUSE_MONITOR_H_
