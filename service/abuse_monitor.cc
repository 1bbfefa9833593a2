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
  if (webhook_ == nullptr || finding.policy.webhook_url.empty()) return;
  egress::v1::AbuseIncidentEvent event;
  event.set_event("abuse.incident");
  egress::v1::AbuseIncident* incident = event.mutable_incident();
  incident->set_incident_id(outcome->incident_id);
  incident->set_account_id(finding.account_id);
  incident->set_node_id(finding.node_id);
  incident->set_kind(report.kind);
  incident->set_detail(finding.detail);
  for (uint16_t port : finding.ports) incident->add_ports(port);
  TimeToProto(now, incident->mutable_open_time());
  TimeToProto(now, incident->mutable_last_seen_time());
  event.set_lock(lock_name == "none" ? "" : lock_name);
  std::string body;
  google::protobuf::util::JsonPrintOptions print;
  print.preserve_proto_field_names = false;
  if (!google::protobuf::util::MessageToJsonString(event, &body, print).ok()) return;
  webhook_->Enqueue(finding.policy.webhook_url, outcome->incident_id, std::move(body));
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
  absl::MutexLock lock(&mutex_);
  if (expired.ok()) stats_.locks_expired += *expired;
  if (!expired.ok() || !quiet.ok()) ++stats_.errors;
  detector_.Forget();
}

}  // namespace egress
