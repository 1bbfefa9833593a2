#include "service/abuse_detector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace egress {
namespace {

bool IsSmtpPort(uint16_t port) {
  return std::find(std::begin(kSmtpPorts), std::end(kSmtpPorts), port) != std::end(kSmtpPorts);
}

bool Contains(const std::vector<uint32_t>& values, uint32_t value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

bool Contains(const std::vector<uint16_t>& values, uint16_t value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

}  // namespace

void AbuseDetector::Ring::Add(int64_t bucket, uint64_t n) {
  if (bucket > newest) {
    for (int64_t b = std::max(newest + 1, bucket - kBuckets + 1); b <= bucket; ++b) {
      counts[b % kBuckets] = 0;
    }
    newest = bucket;
  }
  if (bucket <= newest - kBuckets) return;  // older than the window
  counts[bucket % kBuckets] += n;
}

uint64_t AbuseDetector::Ring::Sum(int64_t now_bucket) const {
  uint64_t sum = 0;
  for (int i = 0; i < kBuckets; ++i) {
    const int64_t b = newest - i;
    if (b <= now_bucket - kBuckets || b < 0) break;
    sum += counts[b % kBuckets];
  }
  return sum;
}

int64_t AbuseDetector::BucketOf(absl::Time t) const {
  return absl::ToInt64Seconds(t - absl::UnixEpoch()) / kAbuseBucketSeconds;
}

bool AbuseDetector::Due(AccountWindow& window, AbuseKind kind, absl::Time now) {
  auto [it, inserted] = window.reported.try_emplace(static_cast<int>(kind), now);
  if (inserted) return true;
  if (now - it->second < kRepeatAfter) return false;
  it->second = now;
  return true;
}

std::vector<AbuseFinding> AbuseDetector::Observe(const std::string& node_id,
                                                 const std::vector<AbuseObservation>& records,
                                                 const AbusePolicySet& policies) {
  const absl::Time now = clock_.Now();
  const int64_t bucket = BucketOf(now);
  // Accounts touched by this batch, in first-seen order (deterministic).
  std::vector<std::string> touched;
  absl::flat_hash_map<std::string, AbusePolicy> policy_of;
  for (const AbuseObservation& record : records) {
    auto [policy_it, first] = policy_of.try_emplace(record.account_id);
    if (first) {
      policy_it->second = policies.Resolve(node_id, record.account_id);
      touched.push_back(record.account_id);
    }
    const AbusePolicy& policy = policy_it->second;
    if (!policy.enabled || record.count == 0) continue;
    AccountWindow& window = windows_[{node_id, record.account_id}];
    window.last_bucket = bucket;
    if (record.action == Action::kReject) {
      window.rejects.Add(bucket, record.count);
      continue;
    }
    const bool tcp_or_udp = record.protocol == Protocol::kTcp || record.protocol == Protocol::kUdp;
    if (!tcp_or_udp) continue;
    if (record.protocol == Protocol::kTcp && IsSmtpPort(record.port) &&
        !Contains(policy.mail_server_uids, record.uid)) {
      window.smtp.Add(bucket, record.count);
    }
    if (Contains(policy.watched_ports, record.port)) {
      window.watched.Add(bucket, record.count);
      if (!Contains(window.watched_ports_seen, record.port)) {
        window.watched_ports_seen.push_back(record.port);
      }
    }
    auto port_it = window.scan.find(record.port);
    if (port_it == window.scan.end()) {
      if (window.scan.size() >= kMaxTrackedPorts) {
        // Prune ports with nothing left in the window before giving up.
        absl::erase_if(window.scan, [&](const auto& entry) {
          for (const auto& [ip, seen] : entry.second) {
            if (seen > bucket - kBuckets) return false;
          }
          return true;
        });
        if (window.scan.size() >= kMaxTrackedPorts) continue;
      }
      port_it = window.scan.try_emplace(record.port).first;
    }
    auto& addresses = port_it->second;
    const size_t cap = static_cast<size_t>(policy.scan_max_destinations) + 1;
    if (addresses.size() >= cap && !addresses.contains(record.ip)) {
      absl::erase_if(addresses,
                     [&](const auto& entry) { return entry.second <= bucket - kBuckets; });
      // Still over: the scan is known; more addresses would only cost memory.
      if (addresses.size() >= cap) continue;
    }
    addresses[record.ip] = bucket;
  }

  std::vector<AbuseFinding> findings;
  for (const std::string& account_id : touched) {
    auto window_it = windows_.find({node_id, account_id});
    if (window_it == windows_.end()) continue;
    AccountWindow& window = window_it->second;
    const AbusePolicy& policy = policy_of[account_id];
    auto report = [&](AbuseKind kind, uint64_t measure, uint64_t threshold, std::string detail,
                      std::vector<uint16_t> ports) {
      if (!Due(window, kind, now)) return;
      AbuseFinding finding;
      finding.node_id = node_id;
      finding.account_id = account_id;
      finding.kind = kind;
      finding.detail = std::move(detail);
      finding.ports = std::move(ports);
      finding.measure = measure;
      finding.threshold = threshold;
      finding.policy = policy;
      findings.push_back(std::move(finding));
    };
    const uint64_t smtp = window.smtp.Sum(bucket);
    if (smtp > static_cast<uint64_t>(policy.smtp_max_connections)) {
      report(AbuseKind::kSmtp, smtp, policy.smtp_max_connections,
             absl::StrCat(smtp, " SMTP connections (ports 25/465/587) in 10 minutes (limit ",
                          policy.smtp_max_connections, ")"),
             std::vector<uint16_t>(std::begin(kSmtpPorts), std::end(kSmtpPorts)));
    }
    // The port with the most distinct addresses in the window.
    uint16_t scan_port = 0;
    uint64_t scan_count = 0;
    for (auto& [port, addresses] : window.scan) {
      uint64_t live = 0;
      for (const auto& [ip, seen] : addresses) live += seen > bucket - kBuckets ? 1 : 0;
      if (live > scan_count || (live == scan_count && port < scan_port)) {
        scan_port = port;
        scan_count = live;
      }
    }
    if (scan_count > static_cast<uint64_t>(policy.scan_max_destinations)) {
      report(AbuseKind::kScan, scan_count, policy.scan_max_destinations,
             absl::StrCat("connections to ", scan_count, " distinct addresses on port ", scan_port,
                          " in 10 minutes (limit ", policy.scan_max_destinations, ")"),
             {scan_port});
    }
    const uint64_t rejects = window.rejects.Sum(bucket);
    if (rejects > static_cast<uint64_t>(policy.reject_max)) {
      report(AbuseKind::kRejectSpike, rejects, policy.reject_max,
             absl::StrCat(rejects, " refused connection attempts in 10 minutes (limit ",
                          policy.reject_max, ")"),
             {});
    }
    const uint64_t watched = window.watched.Sum(bucket);
    if (watched > 0) {
      std::vector<uint16_t> ports;
      for (uint16_t port : window.watched_ports_seen) {
        if (Contains(policy.watched_ports, port)) ports.push_back(port);
      }
      std::sort(ports.begin(), ports.end());
      std::string list;
      for (uint16_t port : ports) absl::StrAppend(&list, list.empty() ? "" : ", ", port);
      report(AbuseKind::kWatchedPort, watched, 0,
             absl::StrCat(watched, " connections to watched port(s) ", list, " in 10 minutes"),
             ports);
    } else {
      window.watched_ports_seen.clear();
    }
  }
  return findings;
}

size_t AbuseDetector::Forget() {
  const int64_t bucket = BucketOf(clock_.Now());
  absl::erase_if(windows_,
                 [&](const auto& entry) { return entry.second.last_bucket <= bucket - kBuckets; });
  return windows_.size();
}

}  // namespace egress
