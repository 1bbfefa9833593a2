// What the abuse detector looks for and what it does about it: the shipped
// defaults, per-node and per-account overrides, and their validation. Pure
// (no SQL, no gRPC), unit-tested without a database.
//
// Resolution: a setting of the account's override wins over the node's,
// which wins over the default scope's, which falls back on the shipped
// default below. The shipped defaults (docs/operations.md, "Abuse
// detection") are chosen so that an ordinary site never trips them and a
// spam run or a scan trips them within seconds:
//   - SMTP (25/465/587) from a uid that is not the node's mail server:
//     100 connections per 10 minutes. Sites send mail through the local MTA
//     (a mail-server uid, exempt); direct SMTP from a site is what a
//     compromised script does, and a spam run makes thousands.
//   - Scan: 500 distinct destination addresses on one port in 10 minutes.
//     Busy sites reach tens of CDN and API addresses on 443, not hundreds.
//   - REJECT spike: 1000 refused attempts in 10 minutes (alert only: the
//     attempts were already refused).
//   - Watched ports: 23 and 2323 (telnet brute force, IoT botnets) and 6667
//     (IRC command and control): any accepted connection.
//   - Action: lock only the offending ports, until support lifts it.
#ifndef EGRESS_SERVICE_DOMAIN_ABUSE_POLICY_H_
#define EGRESS_SERVICE_DOMAIN_ABUSE_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace egress {

// The window every threshold counts over, and its resolution.
inline constexpr int kAbuseWindowSeconds = 600;
inline constexpr int kAbuseBucketSeconds = 10;
inline constexpr absl::Duration kAbuseWindow = absl::Seconds(kAbuseWindowSeconds);
inline constexpr absl::Duration kAbuseBucket = absl::Seconds(kAbuseBucketSeconds);

enum class AbuseKind { kSmtp, kScan, kRejectSpike, kWatchedPort };
// "smtp", "scan", "reject_spike", "watched_port" (incidents, audit, metrics).
absl::string_view AbuseKindName(AbuseKind kind);

enum class AbuseLockAction : int { kAlertOnly = 0, kLockAll = 1, kLockPorts = 2 };
absl::string_view AbuseLockActionName(AbuseLockAction action);

enum class AbuseScope : int { kDefault = 0, kNode = 1, kAccount = 2 };

// Destination ports that count as SMTP.
inline constexpr uint16_t kSmtpPorts[] = {25, 465, 587};

// Limits of what a policy may say (validated at the API).
inline constexpr int64_t kMaxAbuseThreshold = 10000000;
inline constexpr int kMaxWatchedPorts = 64;
inline constexpr int kMaxMailServerUids = 64;
inline constexpr int kMaxAbuseLockMinutes = 60 * 24 * 366;
inline constexpr size_t kMaxWebhookUrlLength = 2048;

// The settings in force for one account.
struct AbusePolicy {
  bool enabled = true;
  int64_t smtp_max_connections = 100;
  int64_t scan_max_destinations = 500;
  int64_t reject_max = 1000;
  std::vector<uint16_t> watched_ports = {23, 2323, 6667};
  std::vector<uint32_t> mail_server_uids;
  AbuseLockAction lock_action = AbuseLockAction::kLockPorts;
  // 0: until support lifts it.
  int lock_minutes = 0;
  // Where incidents are POSTed; "" for nowhere (default scope only).
  std::string webhook_url;
};

// One scope's settings; unset ones are inherited.
struct AbusePolicyOverride {
  std::optional<bool> enabled;
  std::optional<int64_t> smtp_max_connections;
  std::optional<int64_t> scan_max_destinations;
  std::optional<int64_t> reject_max;
  std::optional<std::vector<uint16_t>> watched_ports;
  std::optional<std::vector<uint32_t>> mail_server_uids;
  std::optional<AbuseLockAction> lock_action;
  std::optional<int> lock_minutes;
  std::optional<std::string> webhook_url;
};

// Every override in force: what the detector resolves policies from.
struct AbusePolicySet {
  AbusePolicyOverride default_scope;
  absl::flat_hash_map<std::string, AbusePolicyOverride> nodes;
  absl::flat_hash_map<std::string, AbusePolicyOverride> accounts;

  AbusePolicy Resolve(const std::string& node_id, const std::string& account_id) const;
};

namespace abuse_policy {

// `over` applied on top of `base`.
AbusePolicy Apply(AbusePolicy base, const AbusePolicyOverride& over);

// INVALID_ARGUMENT naming the field ("policy.smtp_max_connections: ...") for
// a threshold out of 1..kMaxAbuseThreshold, a port out of 1..65535 or
// repeated, too many ports or uids, a uid of 0, lock minutes out of range,
// a webhook URL that is not http(s) or set outside the default scope, mail
// server uids set on an account.
absl::Status Validate(const AbusePolicyOverride& policy, AbuseScope scope);

// Whether `url` is an http:// or https:// URL with a host ("" allowed: none).
bool IsWebhookUrl(absl::string_view url);

}  // namespace abuse_policy
}  // namespace egress

#endif  // EGRESS_SERVICE_DOMAIN_ABUSE_POLICY_H_
