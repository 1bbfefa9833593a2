#include "service/accounts_validation.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/field_status.h"
#include "common/note.h"
#include "common/status_macros.h"
#include "service/proto_time.h"

namespace egress {
namespace {

// A server address: given family, a real unicast host address.
absl::StatusOr<std::optional<IpAddress>> ServerIp(const std::string& text, IpAddress::Family family,
                                                  absl::string_view field) {
  if (text.empty()) return std::nullopt;
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(text);
  if (!ip.ok()) return AnnotateField(field, ip.status());
  if (ip->family() != family) {
    return InvalidField(field, absl::StrCat("must be an IPv", static_cast<int>(family),
                                            " address, got ", QuoteForMessage(text)));
  }
  if (ip->IsUnspecified() || ip->IsLoopback()) {
    return InvalidField(
        field, absl::StrCat(QuoteForMessage(text), " cannot be a server's public address"));
  }
  return *ip;
}

}  // namespace

absl::Status ValidateIdField(absl::string_view value, absl::string_view field) {
  if (value.empty()) return InvalidField(field, "is required");
  return AnnotateField(field, ValidateIdentifier(value));
}

absl::StatusOr<NodeSpec> NodeSpecFromProto(const egress::v1::Node& node) {
  NodeSpec spec;
  EGRESS_RETURN_IF_ERROR(ValidateIdField(node.node_id(), "node.node_id"));
  spec.node_id = node.node_id();
  EGRESS_ASSIGN_OR_RETURN(spec.server_ipv4,
                          ServerIp(node.server_ipv4(), IpAddress::Family::kV4, "node.server_ipv4"));
  EGRESS_ASSIGN_OR_RETURN(spec.server_ipv6,
                          ServerIp(node.server_ipv6(), IpAddress::Family::kV6, "node.server_ipv6"));
  if (node.exempt_networks_size() > kMaxExemptNetworks) {
    return InvalidField("node.exempt_networks",
                        absl::StrCat("at most ", kMaxExemptNetworks, " networks, got ",
                                     node.exempt_networks_size()));
  }
  std::set<IpNetwork> seen;
  for (int i = 0; i < node.exempt_networks_size(); ++i) {
    const std::string field = absl::StrCat("node.exempt_networks[", i, "]");
    absl::StatusOr<IpNetwork> network = IpNetwork::Parse(node.exempt_networks(i));
    if (!network.ok()) return AnnotateField(field, network.status());
    if (network->is_catch_all()) {
      // Exempt destinations are neither blocked nor recorded: a catch-all
      // would silently switch off every rule and lock on the node.
      return InvalidField(
          field, absl::StrCat(network->ToString(),
                              " would exempt (almost) every destination, switching off every "
                              "block rule and lock on the node; exempt networks must be /",
                              IpNetwork::kCatchAllV4Below, " or narrower for IPv4, /",
                              IpNetwork::kCatchAllV6Below, " or narrower for IPv6"));
    }
    if (!seen.insert(*network).second) {
      return InvalidField(field, absl::StrCat(network->ToString(), " is listed twice"));
    }
    spec.exempt_networks.push_back(*network);
  }
  return spec;
}

absl::StatusOr<AccountSpec> AccountSpecFromProto(const egress::v1::Account& account) {
  AccountSpec spec;
  EGRESS_RETURN_IF_ERROR(ValidateIdField(account.account_id(), "account.account_id"));
  EGRESS_RETURN_IF_ERROR(ValidateIdField(account.node_id(), "account.node_id"));
  spec.account_id = account.account_id();
  spec.node_id = account.node_id();
  if (account.uid() == 0) {
    return InvalidField("account.uid", "is required; uid 0 (root) cannot be a hosting account");
  }
  if (account.uid() == 4294967295u) {
    return InvalidField("account.uid", "4294967295 is the invalid uid (-1)");
  }
  spec.uid = account.uid();
  if (account.dedicated_ips_size() > kMaxDedicatedIps) {
    return InvalidField("account.dedicated_ips",
                        absl::StrCat("at most ", kMaxDedicatedIps, " addresses, got ",
                                     account.dedicated_ips_size()));
  }
  std::set<IpAddress> seen;
  for (int i = 0; i < account.dedicated_ips_size(); ++i) {
    const egress::v1::DedicatedIp& dedicated = account.dedicated_ips(i);
    const std::string field = absl::StrCat("account.dedicated_ips[", i, "]");
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(dedicated.ip());
    if (!ip.ok()) return AnnotateField(absl::StrCat(field, ".ip"), ip.status());
    if (ip->IsUnspecified() || ip->IsLoopback()) {
      return InvalidField(absl::StrCat(field, ".ip"),
                          absl::StrCat(ip->ToString(), " cannot be a dedicated IP"));
    }
    if (!seen.insert(*ip).second) {
      return InvalidField(absl::StrCat(field, ".ip"),
                          absl::StrCat(ip->ToString(), " is listed twice"));
    }
    EGRESS_ASSIGN_OR_RETURN(absl::Time ordered, TimeFromProto(dedicated.order_time(),
                                                              absl::StrCat(field, ".order_time")));
    spec.dedicated_ips.push_back(DedicatedIp{*ip, ordered});
  }
  return spec;
}

void NodeToProto(const NodeRecord& record, egress::v1::Node* node) {
  node->set_node_id(record.spec.node_id);
  if (record.spec.server_ipv4) node->set_server_ipv4(record.spec.server_ipv4->ToString());
  if (record.spec.server_ipv6) node->set_server_ipv6(record.spec.server_ipv6->ToString());
  for (const IpNetwork& network : record.spec.exempt_networks) {
    node->add_exempt_networks(network.ToString());
  }
  TimeToProto(record.created_at, node->mutable_create_time());
  TimeToProto(record.updated_at, node->mutable_update_time());
  node->set_rule_version(record.rule_version);
  node->set_applied_rule_version(record.applied_rule_version);
  node->set_account_count(record.account_count);
  if (record.agent_stats.has_value()) {
    const AgentStatsRecord& in = *record.agent_stats;
    TimeToProto(in.reported_at, node->mutable_agent_stats_time());
    node->set_agent_version(in.agent_version);
    egress::v1::AgentStats* out = node->mutable_agent_stats();
    out->set_conntrack_events(in.conntrack_events);
    out->set_reject_events(in.reject_events);
    out->set_unattributed_events(in.unattributed_events);
    out->set_netlink_overruns(in.netlink_overruns);
    out->set_resyncs(in.resyncs);
    out->set_records(in.records);
    out->set_batches_sent(in.batches_sent);
    out->set_batches_acked(in.batches_acked);
    out->set_spool_bytes(in.spool_bytes);
    out->set_spool_dropped_batches(in.spool_dropped_batches);
    out->set_applied_rule_version(in.applied_rule_version);
    out->set_nft_errors(in.nft_errors);
    out->set_conntrack_events_sysctl(in.conntrack_events_sysctl);
  }
}

void AccountToProto(const AccountRecord& record, egress::v1::Account* account) {
  account->set_account_id(record.spec.account_id);
  account->set_node_id(record.spec.node_id);
  account->set_uid(record.spec.uid);
  for (const DedicatedIp& dedicated : record.spec.dedicated_ips) {
    egress::v1::DedicatedIp* out = account->add_dedicated_ips();
    out->set_ip(dedicated.ip.ToString());
    TimeToProto(dedicated.ordered_at, out->mutable_order_time());
  }
  TimeToProto(record.created_at, account->mutable_create_time());
  TimeToProto(record.updated_at, account->mutable_update_time());
}

}  // namespace egress
