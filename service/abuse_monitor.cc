#include "service/abuse_monitor.h"

#include "common/log.h"
#include "egress/v1/abuse.pb.h"
#include "google/protobuf/util/json_util.h"
#include "service/proto_time.h"

namespace egress {
namespace {

constexpr char kDetectorActor[] = "abuse-detector";

// What a finding's policy makes of the lock (nullopt: alert only). A REJECT
// spike never locks: those attempts were refused already.
std::optional<AbuseLockWrite> LockFor(const AbuseFinding& finding, absl::Time now) {
  if (finding.kind == AbuseKind::kRejectSpike) return std::nullopt;
  const AbusePolicy& policy = finding.policy;
  if (policy.lock_action == AbuseLockAction::kAlertOnly) return std::nullopt;
  AbuseLockWrite lock;
  if (policy.lock_action == AbuseLockAction::kLockPorts) {
    lock.ports = finding.ports;
    // A finding with no port to name locks everything rather than nothing.
  }
  if (policy.lock_minutes > 0) lock.expires_at = now + absl::Minutes(policy.lock_minutes);
  lock.reason = absl::StrCat("Abuse detected: ", finding.detail);
  return lock;
}

}  // namespace

AbuseMonitor::AbuseMonitor(AbuseStore* abuse_store, RulesStore* rules_store,
                           ServiceMetrics* metrics, AbuseWebhook* webhook,
                           AbuseMonitorOptions options)
    : abuse_store_(*abuse_store),
      rules_store_(*rules_store),
      metrics_(metrics),
      webhook_(webhook),
      options_(options),
      detector_(options.clock) {}

AbuseMonitor::~AbuseMonitor() { Stop(); }

void AbuseMonitor::Start() {
  ReloadPolicies();
  thread_ = std::thread([this] { Run(); });
}

void AbuseMonitor::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
  // Its Done callbacks call into this monitor: none may run after Stop.
  if (webhook_ != nullptr) webhook_->Stop();
}

void AbuseMonitor::OnBatch(const std::string& node_id,
                           const std::vector<AbuseObservation>& records) {
  absl::MutexLock lock(&mutex_);
  std::vector<AbuseFinding> findings = detector_.Observe(node_id, records, policies_);
  for (AbuseFinding& finding : findings) {
    ++stats_.findings;
    if (pending_.size() >= kMaxPending) {
      ++stats_.findings_dropped;
      continue;
    }
    pending_.push_back(std::move(finding));
  }
}

void AbuseMonitor::ReloadPolicies() {
  absl::StatusOr<AbusePolicySet> policies = abuse_store_.LoadPolicies();
  if (!policies.ok()) {
    LogWarning("abuse_policies_unreadable", {{"error", policies.status().ToString()}});
    absl::MutexLock lock(&mutex_);
    ++stats_.errors;
    return;
  }
  absl::MutexLock lock(&mutex_);
  policies_ = *std::move(policies);
}

AbuseMonitorStats AbuseMonitor::stats() const {
  absl::MutexLock lock(&mutex_);
  return stats_;
}

void AbuseMonitor::Run() {
  absl::Time next_sweep = absl::Now();
  while (true) {
    std::optional<AbuseFinding> finding;
    {
      absl::MutexLock lock(&mutex_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mutex_) {
        return stopping_ || !pending_.empty();
      };
      mutex_.AwaitWithDeadline(absl::Condition(&ready), next_sweep);
      if (stopping_) return;
      if (!pending_.empty()) {
        finding = std::move(pending_.front());
        pending_.pop_front();
      }
    }
    if (finding.has_value()) Act(*finding);
    if (absl::Now() >= next_sweep) {
      Sweep();
      next_sweep = absl::Now() + options_.sweep_interval;
    }
  }
}

void AbuseMonitor::Act(const AbuseFinding& finding) {
  const absl::Time now = options_.clock->Now();
  AbuseIncidentReport report;
  report.account_id = finding.account_id;
  report.node_id = finding.node_id;
  report.kind = std::string(AbuseKindName(finding.kind));
  report.detail = finding.detail;
  report.ports = finding.ports;
  report.at = now;
  report.lock = LockFor(finding, now);
  const Actor actor{kDetectorActor, ActorRole::kAbuseDetector};
  absl::StatusOr<AbuseIncidentOutcome> outcome = abuse_store_.ReportIncident(report, actor);
  if (!outcome.ok()) {
    // An account deleted or moved meanwhile is no incident; anything else is
    // retried when the condition is reported again.
    if (outcome.status().code() != absl::StatusCode::kNotFound) {
      LogWarning("abuse_incident_failed", {{"account_id", finding.account_id},
                                           {"kind", report.kind},
                                           {"error", outcome.status().ToString()}});
      absl::MutexLock lock(&mutex_);
      ++stats_.errors;
    }
    return;
  }
  if (!outcome->opened) return;
  std::string lock_name = "none";
  if (report.lock.has_value()) lock_name = report.lock->ports.empty() ? "all" : "port";
  {
    absl::MutexLock lock(&mutex_);
    ++stats_.incidents_opened;
    if (outcome->locked) ++stats_.locks_set;
  }
  if (metrics_ != nullptr) metrics_->CountAbuseIncident(report.kind, lock_name);
  LogWarning("abuse_incident", {{"incident_id", outcome->incident_id},
                                {"account_id", finding.account_id},
                                {"node_id", finding.node_id},
                                {"kind", report.kind},
                                {"detail", finding.detail},
                                {"lock", lock_name}});
  if (webhook_ == nullptr || finding.policy.webhook_url.empty()) {
    // Nothing to send: no replica should send it later either.
    (void)abuse_store_.MarkNotified(outcome->incident_id);
    return;
  }
  AbuseIncidentRecord incident;
  incident.incident_id = outcome->incident_id;
  incident.account_id = finding.account_id;
  incident.node_id = finding.node_id;
  incident.kind = report.kind;
  incident.detail = finding.detail;
  incident.ports = finding.ports;
  incident.opened_at = now;
  incident.last_seen_at = now;
  incident.lock = lock_name == "none" ? "" : lock_name;
  Notify(incident, finding.policy.webhook_url);
}

void AbuseMonitor::Notify(const AbuseIncidentRecord& incident, const std::string& url) {
  {
    absl::MutexLock lock(&mutex_);
    if (given_up_.contains(incident.incident_id) ||
        !notifying_.insert(incident.incident_id).second) {
      return;
    }
  }
  egress::v1::AbuseIncidentEvent event;
  event.set_event("abuse.incident");
  egress::v1::AbuseIncident* out = event.mutable_incident();
  out->set_incident_id(incident.incident_id);
  out->set_account_id(incident.account_id);
  out->set_node_id(incident.node_id);
  out->set_kind(incident.kind);
  out->set_detail(incident.detail);
  for (uint16_t port : incident.ports) out->add_ports(port);
  TimeToProto(incident.opened_at, out->mutable_open_time());
  TimeToProto(incident.last_seen_at, out->mutable_last_seen_time());
  event.set_lock(incident.lock);
  std::string body;
  const uint64_t id = incident.incident_id;
  if (!google::protobuf::util::MessageToJsonString(event, &body).ok() ||
      !webhook_->Enqueue(url, id, std::move(body), [this, id](bool delivered) {
        if (delivered) (void)abuse_store_.MarkNotified(id);
        if (metrics_ != nullptr) metrics_->CountAbuseWebhook(delivered);
        absl::MutexLock lock(&mutex_);
        notifying_.erase(id);
        if (!delivered) given_up_.insert(id);
      })) {
    absl::MutexLock lock(&mutex_);
    notifying_.erase(id);
  }
}

void AbuseMonitor::Sweep() {
  const absl::Time now = options_.clock->Now();
  absl::StatusOr<int> expired = rules_store_.LiftExpiredAbuseLocks(now);
  absl::StatusOr<int> quiet = abuse_store_.CloseQuietIncidents(now - kAbuseWindow);
  if (!expired.ok() || !quiet.ok()) {
    LogWarning("abuse_sweep_failed",
               {{"error", (!expired.ok() ? expired.status() : quiet.status()).ToString()}});
  }
  if (expired.ok() && *expired > 0) {
    LogInfo("abuse_locks_expired", {{"count", static_cast<int64_t>(*expired)}});
  }
  ReloadPolicies();
  std::string url;
  {
    absl::MutexLock lock(&mutex_);
    url = policies_.Resolve("", "").webhook_url;
  }
  if (webhook_ != nullptr && !url.empty()) {
    absl::StatusOr<std::vector<AbuseIncidentRecord>> undelivered =
        abuse_store_.ListUnnotified(now - kRedeliverFor, 100);
    if (undelivered.ok()) {
      for (const AbuseIncidentRecord& incident : *undelivered) {
        if (incident.opened_at > now - kRedeliverAfter) break;  // oldest first
        Notify(incident, url);
      }
    }
  }
  absl::MutexLock lock(&mutex_);
  if (expired.ok()) stats_.locks_expired += *expired;
  if (!expired.ok() || !quiet.ok()) ++stats_.errors;
  detector_.Forget();
}

}  // namespace egress
