#include "service/domain/abuse_policy.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace egress {

absl::string_view AbuseKindName(AbuseKind kind) {
  switch (kind) {
    case AbuseKind::kSmtp:
      return "smtp";
    case AbuseKind::kScan:
      return "scan";
    case AbuseKind::kRejectSpike:
      return "reject_spike";
    case AbuseKind::kWatchedPort:
      return "watched_port";
  }
  return "unknown";
}

absl::string_view AbuseLockActionName(AbuseLockAction action) {
  switch (action) {
    case AbuseLockAction::kAlertOnly:
      return "alert";
    case AbuseLockAction::kLockAll:
      return "all";
    case AbuseLockAction::kLockPorts:
      return "port";
  }
  return "unknown";
}

AbusePolicy AbusePolicySet::Resolve(const std::string& node_id,
                                    const std::string& account_id) const {
  AbusePolicy policy = abuse_policy::Apply(AbusePolicy(), default_scope);
  if (auto it = nodes.find(node_id); it != nodes.end()) {
    policy = abuse_policy::Apply(std::move(policy), it->second);
  }
  if (auto it = accounts.find(account_id); it != accounts.end()) {
    policy = abuse_policy::Apply(std::move(policy), it->second);
  }
  return policy;
}

namespace abuse_policy {
namespace {

absl::Status Field(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("policy.", field, ": ", problem));
}

absl::Status CheckThreshold(absl::string_view field, const std::optional<int64_t>& value) {
  if (!value.has_value()) return absl::OkStatus();
  if (*value < 1 || *value > kMaxAbuseThreshold) {
    return Field(field, absl::StrCat(*value, " is out of range 1..", kMaxAbuseThreshold));
  }
  return absl::OkStatus();
}

}  // namespace

AbusePolicy Apply(AbusePolicy base, const AbusePolicyOverride& over) {
  if (over.enabled) base.enabled = *over.enabled;
  if (over.smtp_max_connections) base.smtp_max_connections = *over.smtp_max_connections;
  if (over.scan_max_destinations) base.scan_max_destinations = *over.scan_max_destinations;
  if (over.reject_max) base.reject_max = *over.reject_max;
  if (over.watched_ports) base.watched_ports = *over.watched_ports;
  if (over.mail_server_uids) base.mail_server_uids = *over.mail_server_uids;
  if (over.lock_action) base.lock_action = *over.lock_action;
  if (over.lock_minutes) base.lock_minutes = *over.lock_minutes;
  if (over.webhook_url) base.webhook_url = *over.webhook_url;
  return base;
}

bool IsWebhookUrl(absl::string_view url) {
  if (url.empty()) return true;
  std::string lower = absl::AsciiStrToLower(url);
  absl::string_view rest;
  if (absl::StartsWith(lower, "http://")) {
    rest = absl::string_view(lower).substr(7);
  } else if (absl::StartsWith(lower, "https://")) {
    rest = absl::string_view(lower).substr(8);
  } else {
    return false;
  }
  if (rest.empty() || rest[0] == '/' || rest[0] == ':' || rest[0] == '?') return false;
  for (char c : url) {
    // Control characters and spaces would let a URL smuggle headers.
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

absl::Status Validate(const AbusePolicyOverride& policy, AbuseScope scope) {
  if (absl::Status s = CheckThreshold("smtp_max_connections", policy.smtp_max_connections);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckThreshold("scan_max_destinations", policy.scan_max_destinations);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckThreshold("reject_max", policy.reject_max); !s.ok()) return s;
  if (policy.watched_ports) {
    if (static_cast<int>(policy.watched_ports->size()) > kMaxWatchedPorts) {
      return Field("watched_ports", absl::StrCat("at most ", kMaxWatchedPorts, " ports"));
    }
    std::set<uint16_t> seen;
    for (size_t i = 0; i < policy.watched_ports->size(); ++i) {
      const uint16_t port = (*policy.watched_ports)[i];
      if (port == 0) return Field(absl::StrCat("watched_ports[", i, "]"), "0 is not a port");
      if (!seen.insert(port).second) {
        return Field(absl::StrCat("watched_ports[", i, "]"), absl::StrCat(port, " is repeated"));
      }
    }
  }
  if (policy.mail_server_uids) {
    if (scope == AbuseScope::kAccount) {
      return Field("mail_server_uids", "is a node setting (set it in the default or node scope)");
    }
    if (static_cast<int>(policy.mail_server_uids->size()) > kMaxMailServerUids) {
      return Field("mail_server_uids", absl::StrCat("at most ", kMaxMailServerUids, " uids"));
    }
    for (size_t i = 0; i < policy.mail_server_uids->size(); ++i) {
      const uint32_t uid = (*policy.mail_server_uids)[i];
      if (uid == 0 || uid == 4294967295u) {
        return Field(absl::StrCat("mail_server_uids[", i, "]"),
                     absl::StrCat(uid, " is not an account uid"));
      }
    }
  }
  if (policy.lock_minutes &&
      (*policy.lock_minutes < 0 || *policy.lock_minutes > kMaxAbuseLockMinutes)) {
    return Field("lock_minutes", absl::StrCat(*policy.lock_minutes, " is out of range 0..",
                                              kMaxAbuseLockMinutes, " (0: until lifted)"));
  }
  if (policy.webhook_url) {
    if (scope != AbuseScope::kDefault) {
      return Field("webhook_url", "is set only in the default scope");
    }
    if (policy.webhook_url->size() > kMaxWebhookUrlLength) {
      return Field("webhook_url", absl::StrCat("longer than ", kMaxWebhookUrlLength, " bytes"));
    }
    if (!IsWebhookUrl(*policy.webhook_url)) {
      return Field("webhook_url", "must be an http:// or https:// URL with a host");
    }
  }
  return absl::OkStatus();
}

}  // namespace abuse_policy
}  // namespace egress
