// REJECT (and, with --accept-source=kernel-sets, ACCEPT) counting in the
// kernel (pure part): the nftables objects that count refused attempts and
// accepted connections with no listener, the scripts that switch between
// their two generations, the parsing of their JSON listings, and the
// bookkeeping that makes a kill -9 at any moment neither lose nor double a
// count.
//
// Objects (in the agent's table, never flushed or recreated by a rule apply):
//  - per generation g in {a, b}, dynamic sets with a counter per element and
//    a long timeout (an `add` never refreshes it, so `expires` tells when the
//    key was first seen):
//      rc4p_g  uid . ipv4_addr . inet_proto . inet_service   (tcp, udp)
//      rc4n_g  uid . ipv4_addr . inet_proto                  (icmp, others)
//      rc6p_g, rc6n_g                                        (the same, IPv6)
//      rc_over_g  uid          (attempts a full set could not take: a loss)
//    and the same five for accepted connections: ac4p_g, ac4n_g, ac6p_g,
//    ac6n_g, ac_over_g.
//  - chains rc4_g/rc6_g: add the attempt to the generation's sets, then goto
//    reject_now (the TCP reset / ICMP reject); chains ac4_g/ac6_g: add the
//    connection to the accept sets, then accept.
//  - map rc_gen (mark : mark): 0 -> active generation (0 a, 1 b),
//    1 -> number of a, 2 -> number of b. A number is the Unix second the
//    generation was switched in, strictly increasing; 0 = never used.
//  - counter unattributed: new connections of users that are not accounts,
//    when accepted connections are counted here (read and reset each tick).
//  - verdict maps rc_jump, ac_jump (nf_proto): the active generation's
//    chains. Empty (fresh table): the entry rules fall through to
//    generation a, so what happens before the agent first reads is counted
//    too.
//
// One tick: the idle generation (switched out at least a tick ago, so no
// packet is still adding to it) is read; if its number is above the mark
// persisted with the spool, its counts are sealed into the spool with the
// mark (RejectMark(number, kAllKeys)), and only then one transaction
// flushes it, gives it a new number and makes it active. A restart reads
// the mark back: an idle generation at or below it was counted (flush
// only), one above it was not (count it). A generation too big for one
// batch is sealed in parts, each with RejectMark(number, keys done) over
// the keys sorted (the idle sets do not change, so the order is stable).
//
// All functions are pure and thread-safe.
#ifndef EGRESS_AGENT_REJECT_COUNT_SETS_H_
#define EGRESS_AGENT_REJECT_COUNT_SETS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/ip_address.h"

namespace egress::agent {

// Elements live this long (the longest downtime counted); 1000 days.
inline constexpr int64_t kRejectCountTimeoutSeconds = 1000LL * 86400;
// Elements per counting set.
inline constexpr int kRejectCountSetSize = 65536;
// Sets per kind (REJECT, ACCEPT) and generation.
inline constexpr int kCountSetsPerKind = 5;

// The names of generation `g`'s (0 a, 1 b) sets: rc4p, rc4n, rc6p, rc6n,
// rc_over, then ac4p, ac4n, ac6p, ac6n, ac_over, in that order.
std::vector<std::string> RejectCountSetNames(int g);

// Declarations of the counting objects for the table body (indented like
// nft_script.cc's); with `rules`, the chains' rules too.
std::string RenderRejectCountObjects(bool rules);
// The rules of reject_and_log in kernel-counting mode.
std::string RenderRejectCountEntryRules();
// The output chain's last rules when accepted connections are counted in
// the kernel (--accept-source=kernel-sets).
std::string RenderAcceptCountEntryRules();

// `nft -j reset counter inet <table> unattributed`: its packets.
absl::StatusOr<uint64_t> ParseCounterPackets(absl::string_view json);

struct RejectGenerations {
  int active = 0;
  uint32_t number[2] = {0, 0};
  int idle() const { return 1 - active; }
  friend bool operator==(const RejectGenerations&, const RejectGenerations&) = default;
};

// `nft -j list map inet <table> rc_gen`. nullopt when the map is empty (a
// fresh table); InvalidArgument when it does not parse or is inconsistent.
absl::StatusOr<std::optional<RejectGenerations>> ParseRejectGenerations(absl::string_view json);

// One element of a counting set.
struct RejectCount {
  // Position in RejectCountSetNames (0 rc4p ... 4 rc_over, 5 ac4p ... 9
  // ac_over).
  int set = 0;
  bool accepted() const { return set >= kCountSetsPerKind; }
  bool overflow() const { return set % kCountSetsPerKind == 4; }
  uint32_t uid = 0;
  IpAddress dst;
  // IANA number; 0 for rc_over.
  int protocol = 0;
  uint16_t port = 0;
  uint64_t packets = 0;
  // Seconds left before the element expires (first seen = read time -
  // (timeout - expires)).
  int64_t expires_seconds = 0;
  friend auto operator<=>(const RejectCount&, const RejectCount&) = default;
};

// One element of the counting set at position `set` as the kernel stores
// it (nft_set_reader.h: the key's fields each padded to 4 bytes, the uid in
// host order, address and port in network order; the time left in ms).
// InvalidArgument when the key's size does not fit the set's type.
absl::StatusOr<RejectCount> DecodeCountElement(int set, absl::string_view key, uint64_t packets,
                                               uint64_t expires_ms);

// The persisted mark: generation number and how many of its keys (sorted)
// are in the spool; kAllKeys = all of them.
inline constexpr uint32_t kAllKeys = 0xffffffffu;
inline uint64_t RejectMark(uint32_t number, uint32_t keys_done) {
  return (static_cast<uint64_t>(number) << 32) | keys_done;
}
// Keys of generation `number` already counted according to `mark`.
uint64_t KeysCounted(uint64_t mark, uint32_t number);

// The number for a generation switched in at `now`: above every number
// used and above the persisted mark's.
uint32_t NextGenerationNumber(const RejectGenerations& gens, uint64_t mark, absl::Time now);

// When the element was first seen, clamped into the generation's interval
// [start, end] (Unix seconds; end 0 = unknown).
absl::Time RejectFirstSeen(const RejectCount& count, absl::Time read_time, uint32_t start,
                           uint32_t end);

// Makes a fresh table's generation a (already counting) the numbered,
// active one.
std::string RenderGenerationInit(absl::string_view table, uint32_t number);
// Flushes the idle generation, numbers it `number` and makes it active, in
// one transaction.
std::string RenderGenerationSwitch(absl::string_view table, const RejectGenerations& gens,
                                   uint32_t number);

}  // namespace egress::agent

#endif  // EGRESS_AGENT_REJECT_COUNT_SETS_H_
