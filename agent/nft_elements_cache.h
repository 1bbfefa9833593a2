// The elements of the agent's nftables sets, kept per account (uid) between
// RuleSets so that a new RuleSet costs in proportion to what changed in it.
//
// The service always sends whole RuleSets. Validating and rebuilding every
// element of a RuleSet holding 10,000 rules took ~5-15 ms per apply here
// (bench/README.md, "Rule apply") while the kernel transaction of a one-rule
// change took ~1 ms. The cache remembers, per account, the input that the
// elements are made of (uid, block_all, egress addresses and each rule's
// network, protocol and port; account_id and rule_id make no element) and
// the networks of each group of rules. A new RuleSet then only:
//  - compares each account's input with the remembered one (no parsing);
//  - for an account that changed, parses and validates the rules in the
//    stretch between the longest common prefix and suffix of its rule list
//    (the rest is the same text, already validated), and recomputes only the
//    groups those rules fall into;
//  - re-parses the exempt networks only when they changed (no account
//    element depends on them: exemption is a rule of the chains).
//
// This is also the only implementation of the elements: BuildElements
// (nft_script.h) runs a fresh cache, so a full build and an incremental one
// cannot disagree on what a rule means.
//
// Not thread-safe: the owner serialises calls (NftablesEnforcer holds its
// mutex).
#ifndef EGRESS_AGENT_NFT_ELEMENTS_CACHE_H_
#define EGRESS_AGENT_NFT_ELEMENTS_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/nft_script.h"
#include "common/ip_address.h"
#include "egress/v1/collector.pb.h"

namespace egress::agent {

// The cache's state, in a namespace of its own so that the helpers in the
// .cc can name it; nothing else should.
namespace nft_elements_internal {

// RuleMatch.expire_time in Unix microseconds; kNever for a permanent rule.
inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// The fields of a RuleMatch that decide its elements.
struct Rule {
  std::string network;
  v1::Protocol protocol = v1::PROTOCOL_UNSPECIFIED;
  uint32_t port = 0;
  int64_t until_us = kNever;
};

// One rule's network in a group, and until when it holds.
struct Entry {
  IpNetwork network;
  int64_t until_us = kNever;

  friend bool operator==(const Entry&, const Entry&) = default;
  // By network, then the longest-lived first: of equal networks the first
  // is the one kept.
  friend bool operator<(const Entry& a, const Entry& b) {
    if (a.network != b.network) return a.network < b.network;
    return a.until_us > b.until_us;
  }
};

enum class SetKind { kPort, kProto, kAddr };

// The rules of one account that fill the same sets: (IPv4?, kind, protocol,
// port). "Any protocol" with a port counts as tcp and as udp; kAddr groups
// have PROTOCOL_ANY and port 0, kProto groups port 0.
using GroupKey = std::tuple<bool, SetKind, v1::Protocol, uint32_t>;

struct Group {
  // One per rule (and per protocol, for "any protocol" + port), sorted.
  std::vector<Entry> networks;
  // The distinct networks that no other network of the group contains for
  // their whole life: these become elements (interval sets refuse
  // overlapping elements). A single address that outlives a network
  // containing it is kept too (it goes to a hash set: no overlap); a
  // network that outlives a network containing it is not (see Prepare).
  std::vector<Entry> kept;
};

// What the elements are made of, of one AccountRules besides its uid and
// rules.
struct AccountInput {
  bool block_all = false;
  std::string egress_ipv4;
  std::string egress_ipv6;
  // The snat4 / snat6 elements ("uid : address"), empty for none.
  std::string snat4;
  std::string snat6;
};

struct Account {
  AccountInput input;
  std::vector<Rule> rules;
  std::map<GroupKey, Group> groups;
  // The earliest expiry among the rules, after the Prepare that built this
  // state: from then on the account is recomputed whole (what ran out goes,
  // what it hid comes back) even if its rules stay the same.
  int64_t next_expiry_us = kNever;
};

}  // namespace nft_elements_internal

class NftElementsCache {
 public:
  // The validated difference between the cache and one RuleSet: the element
  // delta that turns the cache's table into that RuleSet's, and the new state
  // of the accounts that changed. Valid only for the cache that prepared it,
  // until that cache's next Commit or Clear.
  class Update;

  NftElementsCache() = default;
  NftElementsCache(const NftElementsCache&) = delete;
  NftElementsCache& operator=(const NftElementsCache&) = delete;

  // Validates `rules` where they differ from the cache (what is the same was
  // validated when it was committed; validity of a rule depends on nothing
  // else) and computes the delta. InvalidArgument naming the field as
  // BuildElements does ("accounts[1].rules[0].network: ..."); the first bad
  // field in RuleSet order is named. Never changes the cache.
  //
  // Temporary rules (RuleMatch.expire_time): an added rule whose expiry is
  // at or before `now` makes no element; the others' elements carry their
  // expiry (delta().expiries), which the renderer turns into kernel
  // timeouts, so the kernel drops them on time by itself. Elements whose
  // expiry is at or before `now` are not deleted (the kernel dropped them
  // already; deleting them would fail). A temporary network that contains
  // a longer-lived network of the same group hides it until it expires;
  // the kernel enforces the inner one again from the next Prepare at or
  // after that expiry, with the same rules too (the agent applies its rule
  // set again at NextExpiry()). A single address is never hidden so.
  absl::StatusOr<Update> Prepare(const v1::RuleSet& rules,
                                 absl::Time now = absl::InfinitePast()) const;

  // Makes the RuleSet that `update` was prepared from the cache's state (call
  // it once the kernel holds that RuleSet).
  void Commit(Update update);

  // Forgets every account: the next Prepare's delta adds every element.
  void Clear();

  // Every element of the committed RuleSet, as BuildElements returns them.
  NftElements Elements() const;
  // The expiries of the temporary ones among them.
  NftElementExpiries Expiries() const;
  // The earliest expiry of a committed rule that was still to come when it
  // was prepared (InfiniteFuture: none): the next Prepare at or after it
  // changes the elements even for the same RuleSet.
  absl::Time NextExpiry() const;

 private:
  using Account = nft_elements_internal::Account;
  using AccountInput = nft_elements_internal::AccountInput;
  using Group = nft_elements_internal::Group;
  using GroupKey = nft_elements_internal::GroupKey;

  // Adds one account's groups that change (and their delta) to `update`.
  absl::Status PrepareAccount(int index, const v1::AccountRules& account, const Account* before,
                              int64_t now_us, Update* update) const;

  std::map<uint32_t, Account> accounts_;
  // exempt_networks as given, and the exempt4 / exempt6 elements.
  std::vector<std::string> exempt_input_;
  std::vector<std::string> exempt4_;
  std::vector<std::string> exempt6_;
};

class NftElementsCache::Update {
 public:
  Update(Update&&) = default;
  Update& operator=(Update&&) = default;

  // Every list sorted; a set absent or empty in both has nothing to change.
  const NftElementsDelta& delta() const { return delta_; }

 private:
  friend class NftElementsCache;
  Update() = default;

  struct AccountChange {
    bool removed = false;
    AccountInput input;
    // The committed rules [rules_begin, rules_end) become `rules`: only the
    // stretch that changed is copied.
    size_t rules_begin = 0;
    size_t rules_end = 0;
    std::vector<nft_elements_internal::Rule> rules;
    int64_t next_expiry_us = nft_elements_internal::kNever;
    // The groups that change; a group without networks is gone.
    std::map<GroupKey, Group> groups;
  };

  NftElementsDelta delta_;
  std::map<uint32_t, AccountChange> accounts_;
  bool exempt_changed_ = false;
  std::vector<std::string> exempt_input_;
  std::vector<std::string> exempt4_;
  std::vector<std::string> exempt6_;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_NFT_ELEMENTS_CACHE_H_
