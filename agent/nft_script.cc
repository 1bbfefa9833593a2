#include "agent/nft_script.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/nft_elements_cache.h"
#include "agent/reject_count_sets.h"
#include "common/status_macros.h"

namespace egress::agent {
namespace {

// An element as nft reads it: a temporary one with the time it has left at
// `now` (nft 1.0.6 reads "<s>s<ms>ms"; the kernel drops the element then).
// False for one that has no time left: `timeout 0` would mean "never".
bool ElementText(const std::string& element, const NftElementExpiries::mapped_type* expiries,
                 absl::Time now, std::string* out) {
  if (expiries == nullptr) {
    *out = element;
    return true;
  }
  auto it = expiries->find(element);
  if (it == expiries->end()) {
    *out = element;
    return true;
  }
  const int64_t left_ms = (it->second - absl::ToUnixMicros(now)) / 1000;
  if (left_ms <= 0) return false;
  *out = left_ms % 1000 == 0
             ? absl::StrCat(element, " timeout ", left_ms / 1000, "s")
             : absl::StrCat(element, " timeout ", left_ms / 1000, "s", left_ms % 1000, "ms");
  return true;
}

// `elements` as the body of an `elements = { ... }` or `add element`, with
// the timeouts of those in `expiries`; empty when none is left.
std::string JoinElements(const std::vector<std::string>& elements,
                         const NftElementExpiries::mapped_type* expiries, absl::Time now,
                         absl::string_view separator) {
  std::string out, text;
  for (const std::string& element : elements) {
    if (!ElementText(element, expiries, now, &text)) continue;
    if (!out.empty()) absl::StrAppend(&out, separator);
    absl::StrAppend(&out, text);
  }
  return out;
}

const NftElementExpiries::mapped_type* ExpiriesOf(const NftElementExpiries* expiries,
                                                  const std::string& name) {
  if (expiries == nullptr) return nullptr;
  auto it = expiries->find(name);
  return it == expiries->end() ? nullptr : &it->second;
}

// `timeout`: the set may hold temporary elements (the reject sets).
void AppendSet(std::string* out, absl::string_view name, absl::string_view type, bool interval,
               const std::vector<std::string>& elements, bool timeout = false,
               const NftElementExpiries::mapped_type* expiries = nullptr,
               absl::Time now = absl::InfinitePast()) {
  absl::StrAppend(out, "  set ", name, " {\n    type ", type, ";\n");
  if (interval && timeout) {
    absl::StrAppend(out, "    flags interval, timeout;\n");
  } else if (interval) {
    absl::StrAppend(out, "    flags interval;\n");
  } else if (timeout) {
    absl::StrAppend(out, "    flags timeout;\n");
  }
  const std::string body = JoinElements(elements, expiries, now, ",\n      ");
  if (!body.empty()) absl::StrAppend(out, "    elements = { ", body, " }\n");
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

}  // namespace

absl::StatusOr<NftElements> BuildElements(const v1::RuleSet& rules, NftElementExpiries* expiries,
                                          absl::Time now) {
  // One implementation of what a rule means: a fresh cache, whose delta
  // adds every element.
  NftElementsCache cache;
  EGRESS_ASSIGN_OR_RETURN(NftElementsCache::Update update, cache.Prepare(rules, now));
  NftElements elements = update.delta().added;
  if (expiries != nullptr) *expiries = update.delta().expiries;
  // These always exist; the rej* sets only when filled.
  for (const char* name : {"uid2mark", "snat4", "snat6", "exempt4", "exempt6", "block_all"}) {
    elements[name];
  }
  return elements;
}

std::string RenderScript(const NftElements& all, uint64_t version, const NftOptions& options,
                         NftApplyMode mode, const NftElementExpiries* expiries, absl::Time now) {
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
    // The reject sets take per-element timeouts (temporary rules).
    auto rej = [&](const std::string& name, const std::string& type, bool interval) {
      AppendSet(&s, name, type, interval, e(elements(name)), /*timeout=*/true,
                ExpiriesOf(expiries, name), now);
    };
    for (const std::string family : {"4", "6"}) {
      const std::string addr = family == "4" ? "ipv4_addr" : "ipv6_addr";
      rej("rej" + family + "_port", absl::StrCat("uid . ", addr, " . inet_proto . inet_service"),
          true);
      rej("rej" + family + "_proto", absl::StrCat("uid . ", addr, " . inet_proto"), true);
      rej("rej" + family + "_addr", absl::StrCat("uid . ", addr), true);
      rej("rej" + family + "_port_host",
          absl::StrCat("uid . ", addr, " . inet_proto . inet_service"), false);
      rej("rej" + family + "_proto_host", absl::StrCat("uid . ", addr, " . inet_proto"), false);
      rej("rej" + family + "_addr_host", absl::StrCat("uid . ", addr), false);
    }
    // The kernel's REJECT counters: declared by every apply, never flushed
    // by one (their elements are counts not yet read).
    absl::StrAppend(&s, RenderRejectCountObjects(contents));
    absl::StrAppend(&s, "  chain reject_and_log {\n");
    if (contents && options.count_rejects_in_kernel) {
      absl::StrAppend(&s, RenderRejectCountEntryRules());
    } else if (contents) {
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
      if (options.count_rejects_in_kernel && options.count_accepts_in_kernel) {
        absl::StrAppend(&s, RenderAcceptCountEntryRules());
      }
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
  NftElementsDelta delta;
  for (const std::string& name : names) {
    const std::vector<std::string>& a = get(from, name);
    const std::vector<std::string>& b = get(to, name);
    std::vector<std::string> removed, added;
    std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(removed));
    std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(added));
    if (!removed.empty()) delta.removed[name] = std::move(removed);
    if (!added.empty()) delta.added[name] = std::move(added);
  }
  return RenderDelta(delta, version, options);
}

std::string RenderDelta(const NftElementsDelta& delta, uint64_t version, const NftOptions& options,
                        absl::Time now) {
  auto is_map = [](const std::string& name) {
    return name == "uid2mark" || name == "snat4" || name == "snat6";
  };
  std::string deletes, adds;
  for (const auto& [name, removed] : delta.removed) {
    if (removed.empty()) continue;
    // A map element is deleted by its key.
    std::vector<std::string> keys;
    keys.reserve(removed.size());
    for (const std::string& e : removed) {
      keys.push_back(is_map(name) ? e.substr(0, e.find(" : ")) : e);
    }
    absl::StrAppend(&deletes, "delete element inet ", options.table, " ", name, " { ",
                    absl::StrJoin(keys, ", "), " }\n");
  }
  for (const auto& [name, added] : delta.added) {
    const std::string body = JoinElements(added, ExpiriesOf(&delta.expiries, name), now, ", ");
    if (body.empty()) continue;
    absl::StrAppend(&adds, "add element inet ", options.table, " ", name, " { ", body, " }\n");
  }
  if (deletes.empty() && adds.empty()) return "";
  return absl::StrCat("# egress-agent rule set version ", version, " (delta)\n", deletes, adds);
}

std::string RenderDeleteTable(const NftOptions& options) {
  return absl::StrCat("add table inet ", options.table, "\ndelete table inet ", options.table,
                      "\n");
}

}  // namespace egress::agent
