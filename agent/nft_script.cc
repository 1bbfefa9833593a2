#include "agent/nft_script.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/connection_event.h"
#include "common/field_status.h"
#include "common/ip_address.h"
#include "common/status_macros.h"

namespace egress::agent {
namespace {

enum class SetKind { kPort, kProto, kAddr };

// (uid, family v4?, kind, protocol name, port) -> networks.
using GroupKey = std::tuple<uint32_t, bool, SetKind, std::string, uint32_t>;

// Drops networks contained in another network of the list; sorts the rest.
std::vector<IpNetwork> WithoutContained(std::vector<IpNetwork> networks) {
  std::sort(networks.begin(), networks.end(), [](const IpNetwork& a, const IpNetwork& b) {
    // Wider networks first so that a contained one meets its container.
    if (a.address() != b.address()) return a.address() < b.address();
    return a.prefix_length() < b.prefix_length();
  });
  // CIDR blocks are nested or disjoint, and the kept ones are disjoint: in
  // this order only the last kept one can contain the next (O(n log n); the
  // pairwise check cost 0.4 s per apply for 10,000 rules of one account).
  std::vector<IpNetwork> kept;
  for (const IpNetwork& n : networks) {
    if (!kept.empty() && kept.back().Contains(n)) continue;
    kept.push_back(n);
  }
  return kept;
}

std::string ProtoName(v1::Protocol p) {
  switch (p) {
    case v1::PROTOCOL_TCP:
      return "tcp";
    case v1::PROTOCOL_UDP:
      return "udp";
    case v1::PROTOCOL_ICMP:
      return "icmp";
    case v1::PROTOCOL_ICMPV6:
      return "ipv6-icmp";
    default:
      return "";
  }
}

void AppendSet(std::string* out, absl::string_view name, absl::string_view type, bool interval,
               const std::vector<std::string>& elements) {
  absl::StrAppend(out, "  set ", name, " {\n    type ", type, ";\n");
  if (interval) absl::StrAppend(out, "    flags interval;\n");
  if (!elements.empty()) {
    absl::StrAppend(out, "    elements = { ", absl::StrJoin(elements, ",\n      "), " }\n");
  }
  absl::StrAppend(out, "  }\n");
}

void AppendMap(std::string* out, absl::string_view name, absl::string_view type,
               const std::vector<std::string>& elements) {
  absl::StrAppend(out, "  map ", name, " {\n    type ", type, ";\n");
  if (!elements.empty()) {
    absl::StrAppend(out, "    elements = { ", absl::StrJoin(elements, ",\n      "), " }\n");
  }
  absl::StrAppend(out, "  }\n");
}

absl::Status AddRule(uint32_t uid, const v1::RuleMatch& rule, const std::string& field,
                     std::map<GroupKey, std::vector<IpNetwork>>* groups) {
  auto parsed = IpNetwork::Parse(rule.network());
  if (!parsed.ok()) return AnnotateField(field + ".network", parsed.status());
  const IpNetwork network = *parsed;
  const bool v4 = network.address().is_v4();
  if (rule.port() > 65535) return InvalidField(field + ".port", "must be 0..65535");
  const uint32_t port = rule.port();
  switch (rule.protocol()) {
    case v1::PROTOCOL_TCP:
    case v1::PROTOCOL_UDP:
      if (port == 0) {
        (*groups)[{uid, v4, SetKind::kProto, ProtoName(rule.protocol()), 0}].push_back(network);
      } else {
        (*groups)[{uid, v4, SetKind::kPort, ProtoName(rule.protocol()), port}].push_back(network);
      }
      return absl::OkStatus();
    case v1::PROTOCOL_ICMP:
    case v1::PROTOCOL_ICMPV6: {
      if (port != 0) return InvalidField(field + ".port", "must be 0 for icmp and icmpv6");
      const bool icmp4 = rule.protocol() == v1::PROTOCOL_ICMP;
      if (icmp4 != v4) {
        return InvalidField(field + ".protocol", icmp4 ? "icmp applies to IPv4 networks only"
                                                       : "icmpv6 applies to IPv6 networks only");
      }
      (*groups)[{uid, v4, SetKind::kProto, ProtoName(rule.protocol()), 0}].push_back(network);
      return absl::OkStatus();
    }
    case v1::PROTOCOL_ANY:
      if (port == 0) {
        (*groups)[{uid, v4, SetKind::kAddr, "", 0}].push_back(network);
      } else {
        (*groups)[{uid, v4, SetKind::kPort, "tcp", port}].push_back(network);
        (*groups)[{uid, v4, SetKind::kPort, "udp", port}].push_back(network);
      }
      return absl::OkStatus();
    default:
      return InvalidField(field + ".protocol", "must be tcp, udp, icmp, icmpv6 or any");
  }
}

absl::StatusOr<std::string> EgressAddress(const std::string& text, bool v4) {
  EGRESS_ASSIGN_OR_RETURN(IpAddress address, IpAddress::Parse(text));
  if (address.is_v4() != v4) {
    return absl::InvalidArgumentError(v4 ? "must be an IPv4 address" : "must be an IPv6 address");
  }
  return address.ToString();
}

}  // namespace

absl::StatusOr<NftElements> BuildElements(const v1::RuleSet& rules) {
  std::vector<IpNetwork> exempt4, exempt6;
  for (int i = 0; i < rules.exempt_networks_size(); ++i) {
    auto network = IpNetwork::Parse(rules.exempt_networks(i));
    if (!network.ok()) {
      return AnnotateField(absl::StrCat("exempt_networks[", i, "]"), network.status());
    }
    (network->address().is_v4() ? exempt4 : exempt6).push_back(*network);
  }

  std::vector<std::string> uid2mark, block_all, snat4, snat6;
  std::map<GroupKey, std::vector<IpNetwork>> groups;
  absl::flat_hash_set<uint32_t> uids;
  for (int a = 0; a < rules.accounts_size(); ++a) {
    const v1::AccountRules& account = rules.accounts(a);
    const std::string field = absl::StrCat("accounts[", a, "]");
    if (!uids.insert(account.uid()).second) {
      return InvalidField(absl::StrCat(field, ".uid"),
                          absl::StrCat("uid ", account.uid(), " is listed twice"));
    }
    if ((account.uid() & kAccountMarkBit) != 0) {
      return InvalidField(absl::StrCat(field, ".uid"), "must be below 2^31");
    }
    uid2mark.push_back(absl::StrFormat("%u : 0x%08x", account.uid(), AccountMark(account.uid())));
    if (account.block_all()) block_all.push_back(absl::StrCat(account.uid()));
    for (int r = 0; r < account.rules_size(); ++r) {
      EGRESS_RETURN_IF_ERROR(AddRule(account.uid(), account.rules(r),
                                     absl::StrCat(field, ".rules[", r, "]"), &groups));
    }
    if (!account.egress_ipv4().empty()) {
      auto address = EgressAddress(account.egress_ipv4(), true);
      if (!address.ok())
        return AnnotateField(absl::StrCat(field, ".egress_ipv4"), address.status());
      snat4.push_back(absl::StrCat(account.uid(), " : ", *address));
    }
    if (!account.egress_ipv6().empty()) {
      auto address = EgressAddress(account.egress_ipv6(), false);
      if (!address.ok())
        return AnnotateField(absl::StrCat(field, ".egress_ipv6"), address.status());
      snat6.push_back(absl::StrCat(account.uid(), " : ", *address));
    }
  }

  // Elements per set name.
  std::map<std::string, std::vector<std::string>> elements;
  for (auto& [key, networks] : groups) {
    const auto& [uid, v4, kind, proto, port] = key;
    const std::string family = v4 ? "4" : "6";
    for (const IpNetwork& n : WithoutContained(networks)) {
      // Single addresses (most rules: "block this IP") go to hash sets, whose
      // elements change in O(1); only real networks need the interval sets,
      // where libnftables and the kernel's pipapo set pay for every element
      // of the set on each change.
      const bool host = n.is_host();
      const std::string suffix = host ? "_host" : "";
      const std::string address = host ? n.address().ToString() : n.ToString();
      switch (kind) {
        case SetKind::kPort:
          elements["rej" + family + "_port" + suffix].push_back(
              absl::StrCat(uid, " . ", address, " . ", proto, " . ", port));
          break;
        case SetKind::kProto:
          elements["rej" + family + "_proto" + suffix].push_back(
              absl::StrCat(uid, " . ", address, " . ", proto));
          break;
        case SetKind::kAddr:
          elements["rej" + family + "_addr" + suffix].push_back(absl::StrCat(uid, " . ", address));
          break;
      }
    }
  }
  auto networks_text = [](const std::vector<IpNetwork>& networks) {
    std::vector<std::string> out;
    for (const IpNetwork& n : WithoutContained(networks)) out.push_back(n.ToString());
    return out;
  };

  elements["uid2mark"] = uid2mark;
  elements["snat4"] = snat4;
  elements["snat6"] = snat6;
  elements["exempt4"] = networks_text(exempt4);
  elements["exempt6"] = networks_text(exempt6);
  elements["block_all"] = block_all;
  for (auto& [name, list] : elements) std::sort(list.begin(), list.end());
  return elements;
}

std::string RenderScript(const NftElements& all, uint64_t version, const NftOptions& options,
                         NftApplyMode mode) {
  auto elements = [&](const std::string& name) -> const std::vector<std::string>& {
    static const std::vector<std::string> kEmpty;
    auto it = all.find(name);
    return it == all.end() ? kEmpty : it->second;
  };
  const std::string& t = options.table;
  const std::vector<std::string> kNone;
  // The table; without contents: only the declarations (empty sets, empty
  // chains with their hooks), which nft accepts again for an existing table.
  auto table = [&](bool contents) {
    auto e = [&](const std::vector<std::string>& v) -> const std::vector<std::string>& {
      return contents ? v : kNone;
    };
    std::string s = absl::StrCat("table inet ", t, " {\n");
    AppendMap(&s, "uid2mark", "uid : mark", e(elements("uid2mark")));
    AppendMap(&s, "snat4", "uid : ipv4_addr", e(elements("snat4")));
    AppendMap(&s, "snat6", "uid : ipv6_addr", e(elements("snat6")));
    AppendSet(&s, "exempt4", "ipv4_addr", true, e(elements("exempt4")));
    AppendSet(&s, "exempt6", "ipv6_addr", true, e(elements("exempt6")));
    AppendSet(&s, "block_all", "uid", false, e(elements("block_all")));
    for (const std::string family : {"4", "6"}) {
      const std::string addr = family == "4" ? "ipv4_addr" : "ipv6_addr";
      AppendSet(&s, "rej" + family + "_port",
                absl::StrCat("uid . ", addr, " . inet_proto . inet_service"), true,
                e(elements("rej" + family + "_port")));
      AppendSet(&s, "rej" + family + "_proto", absl::StrCat("uid . ", addr, " . inet_proto"), true,
                e(elements("rej" + family + "_proto")));
      AppendSet(&s, "rej" + family + "_addr", absl::StrCat("uid . ", addr), true,
                e(elements("rej" + family + "_addr")));
      AppendSet(&s, "rej" + family + "_port_host",
                absl::StrCat("uid . ", addr, " . inet_proto . inet_service"), false,
                e(elements("rej" + family + "_port_host")));
      AppendSet(&s, "rej" + family + "_proto_host", absl::StrCat("uid . ", addr, " . inet_proto"),
                false, e(elements("rej" + family + "_proto_host")));
      AppendSet(&s, "rej" + family + "_addr_host", absl::StrCat("uid . ", addr), false,
                e(elements("rej" + family + "_addr_host")));
    }
    absl::StrAppend(&s, "  chain reject_and_log {\n");
    if (contents) {
      absl::StrAppend(&s, "    ct state new log group ", options.nflog_group,
                      "\n"
                      "    meta l4proto tcp reject with tcp reset\n"
                      "    meta nfproto ipv4 reject with icmp type admin-prohibited\n"
                      "    reject with icmpv6 type admin-prohibited\n");
    }
    absl::StrAppend(&s,
                    "  }\n"
                    "  chain output {\n"
                    "    type filter hook output priority filter; policy accept;\n");
    if (contents) {
      absl::StrAppend(
          &s,
          "    oifname \"lo\" accept\n"
          "    ip daddr @exempt4 accept\n"
          "    ip6 daddr @exempt6 accept\n"
          "    ct state new ct mark set meta skuid map @uid2mark\n"
          "    ct state new ct mark 0 ct mark set 0x40000000\n"
          "    meta skuid @block_all jump reject_and_log\n"
          "    meta skuid . ip daddr . meta l4proto . th dport @rej4_port_host jump "
          "reject_and_log\n"
          "    meta skuid . ip daddr . meta l4proto @rej4_proto_host jump reject_and_log\n"
          "    meta skuid . ip daddr @rej4_addr_host jump reject_and_log\n"
          "    meta skuid . ip6 daddr . meta l4proto . th dport @rej6_port_host jump "
          "reject_and_log\n"
          "    meta skuid . ip6 daddr . meta l4proto @rej6_proto_host jump reject_and_log\n"
          "    meta skuid . ip6 daddr @rej6_addr_host jump reject_and_log\n"
          "    meta skuid . ip daddr . meta l4proto . th dport @rej4_port jump reject_and_log\n"
          "    meta skuid . ip daddr . meta l4proto @rej4_proto jump reject_and_log\n"
          "    meta skuid . ip daddr @rej4_addr jump reject_and_log\n"
          "    meta skuid . ip6 daddr . meta l4proto . th dport @rej6_port jump reject_and_log\n"
          "    meta skuid . ip6 daddr . meta l4proto @rej6_proto jump reject_and_log\n"
          "    meta skuid . ip6 daddr @rej6_addr jump reject_and_log\n");
    }
    absl::StrAppend(&s,
                    "  }\n"
                    "  chain postrouting {\n"
                    "    type nat hook postrouting priority srcnat; policy accept;\n");
    if (contents) {
      absl::StrAppend(&s,
                      "    oifname \"lo\" accept\n"
                      "    ip daddr @exempt4 accept\n"
                      "    ip6 daddr @exempt6 accept\n"
                      "    meta nfproto ipv4 snat ip to meta skuid map @snat4\n"
                      "    meta nfproto ipv6 snat ip6 to meta skuid map @snat6\n");
    }
    absl::StrAppend(&s, "  }\n}\n");
    return s;
  };

  std::string s;
  absl::StrAppend(&s, "# egress-agent rule set version ", version, "\n");
  if (mode == NftApplyMode::kRecreate) {
    absl::StrAppend(&s, "add table inet ", t, "\ndelete table inet ", t, "\n");
  } else {
    // Declare (a no-op when the table exists), empty every chain and set,
    // refill. The hooks stay registered throughout; deleting and recreating
    // the table in one transaction measurably let connections through.
    absl::StrAppend(&s, table(false), "flush table inet ", t, "\n");
    for (const char* map : {"uid2mark", "snat4", "snat6"}) {
      absl::StrAppend(&s, "flush map inet ", t, " ", map, "\n");
    }
    for (const char* set :
         {"exempt4", "exempt6", "block_all", "rej4_port", "rej4_proto", "rej4_addr", "rej6_port",
          "rej6_proto", "rej6_addr", "rej4_port_host", "rej4_proto_host", "rej4_addr_host",
          "rej6_port_host", "rej6_proto_host", "rej6_addr_host"}) {
      absl::StrAppend(&s, "flush set inet ", t, " ", set, "\n");
    }
  }
  absl::StrAppend(&s, table(true));
  return s;
}

absl::StatusOr<std::string> RenderRuleSet(const v1::RuleSet& rules, const NftOptions& options,
                                          NftApplyMode mode) {
  EGRESS_ASSIGN_OR_RETURN(NftElements elements, BuildElements(rules));
  return RenderScript(elements, rules.version(), options, mode);
}

std::string RenderDelta(const NftElements& from, const NftElements& to, uint64_t version,
                        const NftOptions& options) {
  static const std::vector<std::string> kEmpty;
  auto get = [](const NftElements& e, const std::string& name) -> const std::vector<std::string>& {
    auto it = e.find(name);
    return it == e.end() ? kEmpty : it->second;
  };
  std::set<std::string> names;
  for (const auto& [name, list] : from) names.insert(name);
  for (const auto& [name, list] : to) names.insert(name);
  std::string deletes, adds;
  for (const std::string& name : names) {
    const bool is_map = name == "uid2mark" || name == "snat4" || name == "snat6";
    const std::vector<std::string>& a = get(from, name);
    const std::vector<std::string>& b = get(to, name);
    std::vector<std::string> removed, added;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(removed));
    std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(added));
    if (!removed.empty()) {
      // A map element is deleted by its key.
      std::vector<std::string> keys;
      for (const std::string& e : removed) {
        keys.push_back(is_map ? e.substr(0, e.find(" : ")) : e);
      }
      absl::StrAppend(&deletes, "delete element inet ", options.table, " ", name, " { ",
                      absl::StrJoin(keys, ", "), " }\n");
    }
    if (!added.empty()) {
      absl::StrAppend(&adds, "add element inet ", options.table, " ", name, " { ",
                      absl::StrJoin(added, ", "), " }\n");
    }
  }
  if (deletes.empty() && adds.empty()) return "";
  return absl::StrCat("# egress-agent rule set version ", version, " (delta)\n", deletes, adds);
}

std::string RenderDeleteTable(const NftOptions& options) {
  return absl::StrCat("add table inet ", options.table, "\ndelete table inet ", options.table,
                      "\n");
}

}  // namespace egress::agent
