#include "service/abuse_policy_proto.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/field_status.h"
#include "common/note.h"
#include "common/status_macros.h"
#include "service/proto_time.h"

namespace egress {
namespace v1 = ::egress::v1;

absl::StatusOr<PolicyScopeRef> ScopeFromRequest(v1::AbusePolicyScope scope,
                                                const std::string& node_id,
                                                const std::string& account_id) {
  PolicyScopeRef ref;
  switch (scope) {
    case v1::ABUSE_POLICY_SCOPE_DEFAULT:
      if (!node_id.empty() || !account_id.empty()) {
        return InvalidField(node_id.empty() ? "account_id" : "node_id",
                            "must be empty for ABUSE_POLICY_SCOPE_DEFAULT");
      }
      ref.scope = AbuseScope::kDefault;
      return ref;
    case v1::ABUSE_POLICY_SCOPE_NODE:
      if (!account_id.empty()) {
        return InvalidField("account_id", "must be empty for ABUSE_POLICY_SCOPE_NODE");
      }
      EGRESS_RETURN_IF_ERROR(AnnotateField("node_id", ValidateIdentifier(node_id)));
      ref.scope = AbuseScope::kNode;
      ref.id = node_id;
      return ref;
    case v1::ABUSE_POLICY_SCOPE_ACCOUNT:
      if (!node_id.empty()) {
        return InvalidField("node_id", "must be empty for ABUSE_POLICY_SCOPE_ACCOUNT");
      }
      EGRESS_RETURN_IF_ERROR(AnnotateField("account_id", ValidateIdentifier(account_id)));
      ref.scope = AbuseScope::kAccount;
      ref.id = account_id;
      return ref;
    default:
      return InvalidField("scope",
                          "choose ABUSE_POLICY_SCOPE_DEFAULT, _NODE (with node_id) or _ACCOUNT "
                          "(with account_id)");
  }
}

absl::StatusOr<AbusePolicyOverride> PolicyFromProto(const v1::AbusePolicy& policy,
                                                    AbuseScope scope) {
  AbusePolicyOverride out;
  if (policy.has_enabled()) out.enabled = policy.enabled();
  if (policy.has_smtp_max_connections()) out.smtp_max_connections = policy.smtp_max_connections();
  if (policy.has_scan_max_destinations()) {
    out.scan_max_destinations = policy.scan_max_destinations();
  }
  if (policy.has_reject_max()) out.reject_max = policy.reject_max();
  if (policy.has_watched_ports()) {
    std::vector<uint16_t> ports;
    for (int i = 0; i < policy.watched_ports().ports_size(); ++i) {
      const uint32_t port = policy.watched_ports().ports(i);
      if (port < 1 || port > 65535) {
        return InvalidField(absl::StrCat("policy.watched_ports[", i, "]"),
                            absl::StrCat(port, " is not a port (1..65535)"));
      }
      ports.push_back(static_cast<uint16_t>(port));
    }
    out.watched_ports = std::move(ports);
  }
  if (policy.has_mail_server_uids()) {
    out.mail_server_uids = std::vector<uint32_t>(policy.mail_server_uids().uids().begin(),
                                                 policy.mail_server_uids().uids().end());
  }
  switch (policy.lock_action()) {
    case v1::ABUSE_LOCK_ACTION_UNSPECIFIED:
      break;
    case v1::ABUSE_LOCK_ACTION_ALERT:
      out.lock_action = AbuseLockAction::kAlertOnly;
      break;
    case v1::ABUSE_LOCK_ACTION_ALL:
      out.lock_action = AbuseLockAction::kLockAll;
      break;
    case v1::ABUSE_LOCK_ACTION_PORT:
      out.lock_action = AbuseLockAction::kLockPorts;
      break;
    default:
      return InvalidField("policy.lock_action", "unknown value");
  }
  if (policy.has_lock_minutes()) out.lock_minutes = policy.lock_minutes();
  if (policy.has_webhook_url()) out.webhook_url = policy.webhook_url();
  EGRESS_RETURN_IF_ERROR(abuse_policy::Validate(out, scope));
  return out;
}

namespace {

v1::AbuseLockAction ActionToProto(AbuseLockAction action) {
  switch (action) {
    case AbuseLockAction::kAlertOnly:
      return v1::ABUSE_LOCK_ACTION_ALERT;
    case AbuseLockAction::kLockAll:
      return v1::ABUSE_LOCK_ACTION_ALL;
    case AbuseLockAction::kLockPorts:
      return v1::ABUSE_LOCK_ACTION_PORT;
  }
  return v1::ABUSE_LOCK_ACTION_UNSPECIFIED;
}

}  // namespace

void PolicyToProto(const AbusePolicyOverride& policy, v1::AbusePolicy* out) {
  if (policy.enabled) out->set_enabled(*policy.enabled);
  if (policy.smtp_max_connections) out->set_smtp_max_connections(*policy.smtp_max_connections);
  if (policy.scan_max_destinations) out->set_scan_max_destinations(*policy.scan_max_destinations);
  if (policy.reject_max) out->set_reject_max(*policy.reject_max);
  if (policy.watched_ports) {
    v1::PortList* ports = out->mutable_watched_ports();
    for (uint16_t port : *policy.watched_ports) ports->add_ports(port);
  }
  if (policy.mail_server_uids) {
    v1::UidList* uids = out->mutable_mail_server_uids();
    for (uint32_t uid : *policy.mail_server_uids) uids->add_uids(uid);
  }
  if (policy.lock_action) out->set_lock_action(ActionToProto(*policy.lock_action));
  if (policy.lock_minutes) out->set_lock_minutes(*policy.lock_minutes);
  if (policy.webhook_url) out->set_webhook_url(*policy.webhook_url);
}

void EffectivePolicyToProto(const AbusePolicy& policy, v1::AbusePolicy* out) {
  AbusePolicyOverride all;
  all.enabled = policy.enabled;
  all.smtp_max_connections = policy.smtp_max_connections;
  all.scan_max_destinations = policy.scan_max_destinations;
  all.reject_max = policy.reject_max;
  all.watched_ports = policy.watched_ports;
  all.mail_server_uids = policy.mail_server_uids;
  all.lock_action = policy.lock_action;
  all.lock_minutes = policy.lock_minutes;
  all.webhook_url = policy.webhook_url;
  PolicyToProto(all, out);
}

absl::StatusOr<AbuseLockWrite> AbuseLockFromRequest(const v1::SetAbuseLockRequest& request,
                                                    absl::Time now) {
  AbuseLockWrite lock;
  if (request.ports_size() > kMaxAbuseLockPorts) {
    return InvalidField("ports", absl::StrCat("at most ", kMaxAbuseLockPorts, " ports"));
  }
  std::set<uint32_t> seen;
  for (int i = 0; i < request.ports_size(); ++i) {
    const uint32_t port = request.ports(i);
    if (port < 1 || port > 65535) {
      return InvalidField(absl::StrCat("ports[", i, "]"),
                          absl::StrCat(port, " is not a port (1..65535)"));
    }
    if (!seen.insert(port).second) {
      return InvalidField(absl::StrCat("ports[", i, "]"), absl::StrCat(port, " is repeated"));
    }
    lock.ports.push_back(static_cast<uint16_t>(port));
  }
  if (request.has_expire_time()) {
    EGRESS_ASSIGN_OR_RETURN(absl::Time expires,
                            TimeFromProto(request.expire_time(), "expire_time"));
    if (expires <= now) return InvalidField("expire_time", "must be in the future");
    lock.expires_at = expires;
  }
  if (request.reason().empty()) {
    return InvalidField("reason", "say why (the customer reads it)");
  }
  EGRESS_RETURN_IF_ERROR(AnnotateField("reason", ValidateNote(request.reason())));
  lock.reason = request.reason();
  return lock;
}

}  // namespace egress
