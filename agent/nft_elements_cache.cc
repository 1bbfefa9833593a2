#include "agent/nft_elements_cache.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/connection_event.h"
#include "common/field_status.h"
#include "common/status_macros.h"

namespace egress::agent {

using nft_elements_internal::Account;
using nft_elements_internal::AccountInput;
using nft_elements_internal::Entry;
using nft_elements_internal::Group;
using nft_elements_internal::GroupKey;
using nft_elements_internal::kNever;
using nft_elements_internal::Rule;
using nft_elements_internal::SetKind;

namespace {

// One rule's network in one group.
using Placement = std::pair<GroupKey, Entry>;

int64_t UntilMicros(const v1::RuleMatch& rule) {
  if (!rule.has_expire_time()) return kNever;
  const google::protobuf::Timestamp& t = rule.expire_time();
  // Out-of-range values saturate: far past is expired, far future is later
  // than any rule the service accepts.
  if (t.seconds() >= std::numeric_limits<int64_t>::max() / 1000000 - 1) return kNever - 1;
  if (t.seconds() <= std::numeric_limits<int64_t>::min() / 1000000 + 1) {
    return std::numeric_limits<int64_t>::min();
  }
  return t.seconds() * 1000000 + t.nanos() / 1000;
}

const char* ProtoName(v1::Protocol p) {
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

std::string RuleField(int account, int rule) {
  return absl::StrCat("accounts[", account, "].rules[", rule, "]");
}

bool SameRule(const Rule& a, const v1::RuleMatch& b) {
  return a.port == b.port() && a.protocol == b.protocol() && a.network == b.network() &&
         a.until_us == UntilMicros(b);
}

// Validates one rule and appends where its network goes: one group, or two
// for "any protocol" with a port (tcp and udp). `field` is built only for an
// error, because a full build validates every rule.
// `placed` false: validate only (a rule that already expired).
absl::Status PlaceRule(const std::string& network_text, v1::Protocol protocol, uint32_t port,
                       int64_t until_us, int account_index, int rule_index,
                       std::vector<Placement>* out, bool placed = true) {
  auto parsed = IpNetwork::Parse(network_text);
  if (!parsed.ok()) {
    return AnnotateField(RuleField(account_index, rule_index) + ".network", parsed.status());
  }
  const Entry network{*parsed, until_us};
  std::vector<Placement> discard;
  if (!placed) out = &discard;
  const bool v4 = network.network.address().is_v4();
  if (port > 65535) {
    return InvalidField(RuleField(account_index, rule_index) + ".port", "must be 0..65535");
  }
  switch (protocol) {
    case v1::PROTOCOL_TCP:
    case v1::PROTOCOL_UDP:
      out->push_back({{v4, port == 0 ? SetKind::kProto : SetKind::kPort, protocol, port}, network});
      return absl::OkStatus();
    case v1::PROTOCOL_ICMP:
    case v1::PROTOCOL_ICMPV6: {
      if (port != 0) {
        return InvalidField(RuleField(account_index, rule_index) + ".port",
                            "must be 0 for icmp and icmpv6");
      }
      const bool icmp4 = protocol == v1::PROTOCOL_ICMP;
      if (icmp4 != v4) {
        return InvalidField(
            RuleField(account_index, rule_index) + ".protocol",
            icmp4 ? "icmp applies to IPv4 networks only" : "icmpv6 applies to IPv6 networks only");
      }
      out->push_back({{v4, SetKind::kProto, protocol, 0}, network});
      return absl::OkStatus();
    }
    case v1::PROTOCOL_ANY:
      if (port == 0) {
        out->push_back({{v4, SetKind::kAddr, v1::PROTOCOL_ANY, 0}, network});
      } else {
        out->push_back({{v4, SetKind::kPort, v1::PROTOCOL_TCP, port}, network});
        out->push_back({{v4, SetKind::kPort, v1::PROTOCOL_UDP, port}, network});
      }
      return absl::OkStatus();
    default:
      return InvalidField(RuleField(account_index, rule_index) + ".protocol",
                          "must be tcp, udp, icmp, icmpv6 or any");
  }
}

// `sorted` by address, then prefix length (IpNetwork's order). CIDR blocks
// are nested or disjoint, and the kept ones are disjoint: in this order a
// container comes before what it contains, and only the last kept block can
// contain the next one, so one pass drops every contained network and every
// repeat (the pairwise check cost 0.4 s per apply for 10,000 rules).
std::vector<IpNetwork> Kept(const std::vector<IpNetwork>& sorted) {
  std::vector<IpNetwork> kept;
  kept.reserve(sorted.size());
  for (const IpNetwork& n : sorted) {
    if (!kept.empty() && kept.back().Contains(n)) continue;
    kept.push_back(n);
  }
  return kept;
}

// The same for entries (Entry's order: equal networks longest-lived first).
// A contained entry is dropped only if its container lasts at least as long;
// a single address that outlives its container is kept (it becomes an
// element of a hash set, which the container's interval set does not
// overlap) without becoming the container of what follows.
std::vector<Entry> Kept(const std::vector<Entry>& sorted) {
  std::vector<Entry> kept;
  kept.reserve(sorted.size());
  size_t cover = 0;  // index in `kept` of the last block kept as a container
  bool have_cover = false;
  for (const Entry& e : sorted) {
    if (!kept.empty() && kept.back().network == e.network) continue;  // a shorter repeat
    if (have_cover && kept[cover].network.Contains(e.network)) {
      if (kept[cover].until_us >= e.until_us || !e.network.is_host()) continue;
      kept.push_back(e);
      continue;
    }
    kept.push_back(e);
    cover = kept.size() - 1;
    have_cover = true;
  }
  return kept;
}

// `before` without `removed` (as multisets: one occurrence per rule), plus
// `added`; all sorted.
std::vector<Entry> Replace(const std::vector<Entry>& before, const std::vector<Entry>& removed,
                           const std::vector<Entry>& added) {
  // A few changes (the usual case): a copy patched by binary search, i.e.
  // memmoves; comparing every network (below) cost more for 10,000 rules.
  if (removed.size() + added.size() <= 16) {
    std::vector<Entry> out = before;
    for (const Entry& n : removed) {
      auto it = std::lower_bound(out.begin(), out.end(), n);
      if (it != out.end() && *it == n) out.erase(it);
    }
    for (const Entry& n : added) out.insert(std::upper_bound(out.begin(), out.end(), n), n);
    return out;
  }
  std::vector<Entry> rest;
  rest.reserve(before.size());
  std::set_difference(before.begin(), before.end(), removed.begin(), removed.end(),
                      std::back_inserter(rest));
  std::vector<Entry> out;
  out.reserve(rest.size() + added.size());
  std::merge(rest.begin(), rest.end(), added.begin(), added.end(), std::back_inserter(out));
  return out;
}

// The networks only in `from` (gone) and only in `to` (come); both sorted
// and distinct. They are mostly the same: the common ends are skipped with
// ==, which is cheaper than ordering.
void DiffKept(const std::vector<Entry>& from, const std::vector<Entry>& to,
              std::vector<Entry>* gone, std::vector<Entry>* come) {
  auto [from_begin, to_begin] = std::mismatch(from.begin(), from.end(), to.begin(), to.end());
  auto [from_rend, to_rend] = std::mismatch(from.rbegin(), std::make_reverse_iterator(from_begin),
                                            to.rbegin(), std::make_reverse_iterator(to_begin));
  const auto from_end = from_rend.base();
  const auto to_end = to_rend.base();
  std::set_difference(from_begin, from_end, to_begin, to_end, std::back_inserter(*gone));
  std::set_difference(to_begin, to_end, from_begin, from_end, std::back_inserter(*come));
}

// Single addresses (most rules: "block this IP") go to hash sets, whose
// elements change in O(1); only real networks need the interval sets, where
// libnftables and the kernel's pipapo set pay for every element of the set
// on each change.
// The element's text is its match only; a temporary one's expiry goes to
// `expiries` (when given) under the same text.
void AppendGroupElement(uint32_t uid, const GroupKey& key, const Entry& entry, NftElements* out,
                        NftElementExpiries* expiries = nullptr) {
  const auto& [v4, kind, protocol, port] = key;
  const IpNetwork& n = entry.network;
  const bool host = n.is_host();
  const std::string address = host ? n.address().ToString() : n.ToString();
  const char* family = v4 ? "4" : "6";
  const char* suffix = host ? "_host" : "";
  std::string set, element;
  switch (kind) {
    case SetKind::kPort:
      set = absl::StrCat("rej", family, "_port", suffix);
      element = absl::StrCat(uid, " . ", address, " . ", ProtoName(protocol), " . ", port);
      break;
    case SetKind::kProto:
      set = absl::StrCat("rej", family, "_proto", suffix);
      element = absl::StrCat(uid, " . ", address, " . ", ProtoName(protocol));
      break;
    case SetKind::kAddr:
      set = absl::StrCat("rej", family, "_addr", suffix);
      element = absl::StrCat(uid, " . ", address);
      break;
  }
  if (expiries != nullptr && entry.until_us != kNever) (*expiries)[set][element] = entry.until_us;
  (*out)[set].push_back(std::move(element));
}

std::string Uid2Mark(uint32_t uid) { return absl::StrFormat("%u : 0x%08x", uid, AccountMark(uid)); }

// Every element `account` contributes (unsorted), but the temporary ones
// that expired at or before `expired_by` (Unix microseconds).
void AppendAccountElements(uint32_t uid, const Account& account, NftElements* out,
                           NftElementExpiries* expiries = nullptr,
                           int64_t expired_by = std::numeric_limits<int64_t>::min()) {
  (*out)["uid2mark"].push_back(Uid2Mark(uid));
  if (account.input.block_all) (*out)["block_all"].push_back(absl::StrCat(uid));
  if (!account.input.snat4.empty()) (*out)["snat4"].push_back(account.input.snat4);
  if (!account.input.snat6.empty()) (*out)["snat6"].push_back(account.input.snat6);
  for (const auto& [key, group] : account.groups) {
    for (const Entry& n : group.kept) {
      if (n.until_us > expired_by) AppendGroupElement(uid, key, n, out, expiries);
    }
  }
}

// "uid : address" for an egress address of the right family; empty text is
// no SNAT.
absl::StatusOr<std::string> SnatElement(uint32_t uid, const std::string& text, bool v4) {
  if (text.empty()) return std::string();
  EGRESS_ASSIGN_OR_RETURN(IpAddress address, IpAddress::Parse(text));
  if (address.is_v4() != v4) {
    return absl::InvalidArgumentError(v4 ? "must be an IPv4 address" : "must be an IPv6 address");
  }
  return absl::StrCat(uid, " : ", address.ToString());
}

// Adds to `delta` what turns the sorted, distinct `from` into `to`.
void DiffSorted(const std::string& name, const std::vector<std::string>& from,
                const std::vector<std::string>& to, NftElementsDelta* delta) {
  std::vector<std::string> removed, added;
  std::set_difference(from.begin(), from.end(), to.begin(), to.end(), std::back_inserter(removed));
  std::set_difference(to.begin(), to.end(), from.begin(), from.end(), std::back_inserter(added));
  if (!removed.empty()) delta->removed[name] = std::move(removed);
  if (!added.empty()) delta->added[name] = std::move(added);
}

}  // namespace

absl::StatusOr<NftElementsCache::Update> NftElementsCache::Prepare(const v1::RuleSet& rules,
                                                                   absl::Time now) const {
  Update update;
  const int64_t now_us =
      now == absl::InfinitePast() ? std::numeric_limits<int64_t>::min() : absl::ToUnixMicros(now);

  if (!std::equal(rules.exempt_networks().begin(), rules.exempt_networks().end(),
                  exempt_input_.begin(), exempt_input_.end())) {
    std::vector<IpNetwork> exempt4, exempt6;
    for (int i = 0; i < rules.exempt_networks_size(); ++i) {
      auto network = IpNetwork::Parse(rules.exempt_networks(i));
      if (!network.ok()) {
        return AnnotateField(absl::StrCat("exempt_networks[", i, "]"), network.status());
      }
      (network->address().is_v4() ? exempt4 : exempt6).push_back(*network);
    }
    auto text = [](std::vector<IpNetwork> networks) {
      std::sort(networks.begin(), networks.end());
      std::vector<std::string> out;
      for (const IpNetwork& n : Kept(networks)) out.push_back(n.ToString());
      std::sort(out.begin(), out.end());
      return out;
    };
    update.exempt_changed_ = true;
    update.exempt_input_.assign(rules.exempt_networks().begin(), rules.exempt_networks().end());
    update.exempt4_ = text(std::move(exempt4));
    update.exempt6_ = text(std::move(exempt6));
    DiffSorted("exempt4", exempt4_, update.exempt4_, &update.delta_);
    DiffSorted("exempt6", exempt6_, update.exempt6_, &update.delta_);
  }

  absl::flat_hash_set<uint32_t> uids;
  for (int a = 0; a < rules.accounts_size(); ++a) {
    const v1::AccountRules& account = rules.accounts(a);
    if (!uids.insert(account.uid()).second) {
      return InvalidField(absl::StrCat("accounts[", a, "].uid"),
                          absl::StrCat("uid ", account.uid(), " is listed twice"));
    }
    if ((account.uid() & kAccountMarkBit) != 0) {
      return InvalidField(absl::StrCat("accounts[", a, "].uid"), "must be below 2^31");
    }
    auto it = accounts_.find(account.uid());
    EGRESS_RETURN_IF_ERROR(
        PrepareAccount(a, account, it == accounts_.end() ? nullptr : &it->second, now_us, &update));
  }
  for (const auto& [uid, account] : accounts_) {
    if (uids.contains(uid)) continue;
    update.accounts_[uid].removed = true;
    AppendAccountElements(uid, account, &update.delta_.removed, nullptr, now_us);
  }

  for (NftElements* side : {&update.delta_.removed, &update.delta_.added}) {
    for (auto& [name, list] : *side) std::sort(list.begin(), list.end());
  }
  return update;
}

absl::Status NftElementsCache::PrepareAccount(int index, const v1::AccountRules& account,
                                              const Account* before, int64_t now_us,
                                              Update* update) const {
  static const Account kNew;
  const Account& old = before != nullptr ? *before : kNew;
  const uint32_t uid = account.uid();
  const std::vector<Rule>& old_rules = old.rules;
  const size_t old_size = old_rules.size();
  const size_t new_size = static_cast<size_t>(account.rules_size());

  // The rules between the longest common prefix and suffix changed; a rule
  // edited, added or removed in place leaves one rule in that stretch.
  size_t front = 0;
  while (front < old_size && front < new_size &&
         SameRule(old_rules[front], account.rules(static_cast<int>(front)))) {
    ++front;
  }
  const bool same_scalars = old.input.block_all == account.block_all() &&
                            old.input.egress_ipv4 == account.egress_ipv4() &&
                            old.input.egress_ipv6 == account.egress_ipv6();
  // A rule ran out since the account was prepared: recompute it whole, so
  // that what it hid is enforced again.
  const bool expired_since = before != nullptr && old.next_expiry_us <= now_us;
  if (before != nullptr && front == old_size && front == new_size && same_scalars &&
      !expired_since) {
    return absl::OkStatus();
  }
  if (expired_since) front = 0;
  size_t back = 0;
  while (!expired_since && back < old_size - front && back < new_size - front &&
         SameRule(old_rules[old_size - 1 - back],
                  account.rules(static_cast<int>(new_size - 1 - back)))) {
    ++back;
  }

  // Validate in RuleSet order (rules, then egress addresses), as a full
  // build does: the rules outside the stretch were valid when committed.
  std::vector<Placement> added, removed;
  for (size_t r = front; r < new_size - back; ++r) {
    const v1::RuleMatch& rule = account.rules(static_cast<int>(r));
    const int64_t until_us = UntilMicros(rule);
    EGRESS_RETURN_IF_ERROR(PlaceRule(rule.network(), rule.protocol(), rule.port(), until_us, index,
                                     static_cast<int>(r), &added, until_us > now_us));
  }
  Update::AccountChange change;
  AccountInput& input = change.input;
  input.block_all = account.block_all();
  input.egress_ipv4 = account.egress_ipv4();
  input.egress_ipv6 = account.egress_ipv6();
  auto snat4 = SnatElement(uid, input.egress_ipv4, true);
  if (!snat4.ok()) {
    return AnnotateField(absl::StrCat("accounts[", index, "].egress_ipv4"), snat4.status());
  }
  auto snat6 = SnatElement(uid, input.egress_ipv6, false);
  if (!snat6.ok()) {
    return AnnotateField(absl::StrCat("accounts[", index, "].egress_ipv6"), snat6.status());
  }
  input.snat4 = *std::move(snat4);
  input.snat6 = *std::move(snat6);
  for (size_t r = front; r < old_size - back; ++r) {
    const Rule& rule = old_rules[r];
    // Committed rules were valid; failing now would be a bug, and applying
    // nothing is the safe answer to it.
    if (absl::Status s = PlaceRule(rule.network, rule.protocol, rule.port, rule.until_us, index,
                                   static_cast<int>(r), &removed);
        !s.ok()) {
      return absl::InternalError(absl::StrCat("committed rule no longer valid: ", s.message()));
    }
  }
  change.rules_begin = front;
  change.rules_end = old_size - back;
  for (const v1::RuleMatch& rule : account.rules()) {
    const int64_t until_us = UntilMicros(rule);
    if (until_us > now_us) change.next_expiry_us = std::min(change.next_expiry_us, until_us);
  }
  change.rules.reserve(new_size - back - front);
  for (size_t r = front; r < new_size - back; ++r) {
    const v1::RuleMatch& rule = account.rules(static_cast<int>(r));
    change.rules.push_back({rule.network(), rule.protocol(), rule.port(), UntilMicros(rule)});
  }

  NftElementsDelta& delta = update->delta_;
  if (before == nullptr) delta.added["uid2mark"].push_back(Uid2Mark(uid));
  if (old.input.block_all != input.block_all) {
    (input.block_all ? delta.added : delta.removed)["block_all"].push_back(absl::StrCat(uid));
  }
  for (const auto& [name, from, to] : {std::tuple{"snat4", &old.input.snat4, &input.snat4},
                                       std::tuple{"snat6", &old.input.snat6, &input.snat6}}) {
    if (*from == *to) continue;
    if (!from->empty()) delta.removed[name].push_back(*from);
    if (!to->empty()) delta.added[name].push_back(*to);
  }

  // The groups the changed rules fall into: new networks, new kept
  // networks, and the kept ones that come and go are the delta.
  std::map<GroupKey, std::pair<std::vector<Entry>, std::vector<Entry>>> touched;
  for (const auto& [key, network] : removed) touched[key].first.push_back(network);
  for (const auto& [key, network] : added) touched[key].second.push_back(network);
  static const Group kEmptyGroup;
  for (auto& [key, networks] : touched) {
    auto& [out, in] = networks;
    std::sort(out.begin(), out.end());
    std::sort(in.begin(), in.end());
    if (out == in) continue;  // a rule moved within the stretch
    auto it = old.groups.find(key);
    const Group& from = it == old.groups.end() ? kEmptyGroup : it->second;
    Group to;
    to.networks = Replace(from.networks, out, in);
    to.kept = Kept(to.networks);
    std::vector<Entry> gone, come;
    DiffKept(from.kept, to.kept, &gone, &come);
    // What expired is gone from the kernel already: deleting it would fail.
    for (const Entry& n : gone) {
      if (n.until_us > now_us) AppendGroupElement(uid, key, n, &delta.removed);
    }
    for (const Entry& n : come) {
      AppendGroupElement(uid, key, n, &delta.added, &delta.expiries);
    }
    change.groups[key] = std::move(to);
  }
  update->accounts_[uid] = std::move(change);
  return absl::OkStatus();
}

void NftElementsCache::Commit(Update update) {
  for (auto& [uid, change] : update.accounts_) {
    if (change.removed) {
      accounts_.erase(uid);
      continue;
    }
    Account& account = accounts_[uid];
    account.input = std::move(change.input);
    account.next_expiry_us = change.next_expiry_us;
    const auto begin = account.rules.begin() + static_cast<ptrdiff_t>(change.rules_begin);
    const auto end = account.rules.begin() + static_cast<ptrdiff_t>(change.rules_end);
    account.rules.insert(account.rules.erase(begin, end),
                         std::make_move_iterator(change.rules.begin()),
                         std::make_move_iterator(change.rules.end()));
    for (auto& [key, group] : change.groups) {
      if (group.networks.empty()) {
        account.groups.erase(key);
      } else {
        account.groups[key] = std::move(group);
      }
    }
  }
  if (update.exempt_changed_) {
    exempt_input_ = std::move(update.exempt_input_);
    exempt4_ = std::move(update.exempt4_);
    exempt6_ = std::move(update.exempt6_);
  }
}

void NftElementsCache::Clear() {
  accounts_.clear();
  exempt_input_.clear();
  exempt4_.clear();
  exempt6_.clear();
}

NftElements NftElementsCache::Elements() const {
  NftElements all;
  // These always exist in a full build; the rej* sets only when filled.
  for (const char* name : {"uid2mark", "snat4", "snat6", "block_all"}) all[name];
  all["exempt4"] = exempt4_;
  all["exempt6"] = exempt6_;
  for (const auto& [uid, account] : accounts_) AppendAccountElements(uid, account, &all);
  for (auto& [name, list] : all) std::sort(list.begin(), list.end());
  return all;
}

absl::Time NftElementsCache::NextExpiry() const {
  int64_t next = kNever;
  for (const auto& [uid, account] : accounts_) next = std::min(next, account.next_expiry_us);
  return next == kNever ? absl::InfiniteFuture() : absl::FromUnixMicros(next);
}

NftElementExpiries NftElementsCache::Expiries() const {
  NftElements ignored;
  NftElementExpiries expiries;
  for (const auto& [uid, account] : accounts_) {
    AppendAccountElements(uid, account, &ignored, &expiries);
  }
  return expiries;
}

}  // namespace egress::agent
