// Renders a RuleSet into the nftables script that enforces it: the agent's
// whole `inet <table>` table in one buffer, which libnftables applies as one
// atomic transaction (the old rules hold until the new ones do; a buffer with
// one bad element applies nothing). kInPlace (the default) declares the table,
// flushes its chains and sets and refills them, so the hooks stay registered;
// kRecreate deletes and recreates the table (needed when an older layout is
// installed) and, measured here, lets a few packets through during the swap.
//
// The table (see RenderRuleSet for the exact text):
//  - output chain (filter hook): loopback and exempt networks accepted first
//    (never marked, so never recorded, never blocked); then new connections
//    of accounts get the connection mark AccountMark(uid) through the map
//    uid2mark (nft 1.0.6 cannot load `ct mark set meta skuid`); then block-all
//    uids and the reject sets jump to reject_and_log.
//  - reject sets, per family, concatenated interval sets keyed by uid:
//      rej{4,6}_port  uid . addr . inet_proto . inet_service   (tcp/udp + port;
//                     "any protocol" + port becomes tcp and udp entries)
//      rej{4,6}_proto uid . addr . inet_proto                  (tcp/udp any port, icmp)
//      rej{4,6}_addr  uid . addr                               (any protocol, any port)
//    Networks contained in another network of the same (uid, protocol, port)
//    are dropped, because interval sets refuse overlapping elements.
//    Single addresses go to the matching *_host hash sets instead. Every
//    reject set has the `timeout` flag: a temporary rule's element carries
//    the time it has left (`timeout`), so the kernel stops enforcing it on
//    time by itself, also while the agent cannot reach the service.
//  - reject_and_log: new attempts are counted by the kernel's counting sets
//    (reject_count_sets.h; the agent reads them every tick) or, with
//    count_rejects_in_kernel false, logged to the NFLOG group; then TCP gets
//    a reset (ECONNREFUSED at once) and everything else ICMP(v6)
//    admin-prohibited (send() fails with EPERM). The counting sets, their
//    chains and maps are declared by every apply and never flushed by one.
//  - with count_accepts_in_kernel, the output chain ends with the rules that
//    add each account's new connection to the accept counting sets
//    (reject_count_sets.h): what no reject rule refused.
//  - postrouting chain (nat hook): SNAT to the account's egress address by
//    uid (maps snat4/snat6), except loopback and exempt destinations.
//
// The output chain always holds a `ct` expression, so the namespace keeps
// tracking connections even with an empty rule set.
//
// Pure functions, thread-safe.
#ifndef EGRESS_AGENT_NFT_SCRIPT_H_
#define EGRESS_AGENT_NFT_SCRIPT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "egress/v1/collector.pb.h"

namespace egress::agent {

struct NftOptions {
  // The table's name in family inet. The agent never touches other tables.
  std::string table = "egress";
  // NFLOG group the reject chain logs to (when not counting in the kernel).
  uint16_t nflog_group = 7;
  // REJECTs counted by the kernel's counting sets (reject_count_sets.h)
  // rather than logged to NFLOG; never both, so nothing is counted twice.
  bool count_rejects_in_kernel = true;
  // Accepted connections counted by the kernel's counting sets too (the
  // output chain's last rules) rather than read from conntrack events;
  // needs count_rejects_in_kernel (the two share generations).
  bool count_accepts_in_kernel = false;
};

// Validates `rules` and renders the script. InvalidArgument naming the field
// ("accounts[1].rules[0].network: ...") for a bad network, protocol, port,
// egress address or a uid listed twice; nothing is rendered then.
enum class NftApplyMode { kInPlace, kRecreate };

// The elements of every set and map of the table, by name, each list sorted:
// the only part of the table that depends on the RuleSet.
using NftElements = std::map<std::string, std::vector<std::string>>;

// When temporary elements stop: per set, element text (the match, as in
// NftElements) to its expiry in Unix microseconds. Permanent elements are
// absent. Rendered as `timeout` from the time of rendering, so the kernel
// drops each element on time by itself; an element already expired then is
// not rendered at all.
using NftElementExpiries = std::map<std::string, std::map<std::string, int64_t>>;

// What turns one table's elements into another's: per set, the elements to
// delete and the elements to add, each list sorted; and the expiries of the
// added ones.
struct NftElementsDelta {
  NftElements removed;
  NftElements added;
  NftElementExpiries expiries;
};

// Validates `rules` (errors as RenderRuleSet) and computes the elements.
// Costs in proportion to the whole RuleSet; NftElementsCache
// (nft_elements_cache.h) computes the same incrementally.
// With `expiries`, also the expiries of the temporary elements; rules whose
// expiry is at or before `now` make no element.
absl::StatusOr<NftElements> BuildElements(const v1::RuleSet& rules,
                                          NftElementExpiries* expiries = nullptr,
                                          absl::Time now = absl::InfinitePast());
// The full script for `elements`; those in `expiries` get the timeout left
// at `now` (and are left out once expired).
std::string RenderScript(const NftElements& elements, uint64_t version, const NftOptions& options,
                         NftApplyMode mode, const NftElementExpiries* expiries = nullptr,
                         absl::Time now = absl::Now());
// The script that turns a table holding `from` into one holding `to` (the
// chains never change): deletes, then adds, in one transaction. Empty when
// nothing changes. Cost is proportional to the change, not to the table.
std::string RenderDelta(const NftElements& from, const NftElements& to, uint64_t version,
                        const NftOptions& options);
// The same script for a delta already computed (deletes, then adds; empty
// when `delta` changes nothing); added elements in delta.expiries get the
// timeout left at `now`, or are left out once expired.
std::string RenderDelta(const NftElementsDelta& delta, uint64_t version, const NftOptions& options,
                        absl::Time now = absl::Now());

absl::StatusOr<std::string> RenderRuleSet(const v1::RuleSet& rules, const NftOptions& options,
                                          NftApplyMode mode = NftApplyMode::kInPlace);

// The script that removes the agent's table (and nothing else).
std::string RenderDeleteTable(const NftOptions& options);

}  // namespace egress::agent

#endif  // EGRESS_AGENT_NFT_SCRIPT_H_
