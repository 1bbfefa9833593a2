#include "agent/reject_count_sets.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace egress::agent {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

constexpr const char* kGen[2] = {"a", "b"};

absl::Status Bad(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("set listing: ", what));
}

absl::StatusOr<Struct> ParseJson(absl::string_view json) {
  Struct root;
  if (!google::protobuf::util::JsonStringToMessage(std::string(json), &root).ok()) {
    return Bad("not JSON");
  }
  return root;
}

// The objects of kind `kind` ("set", "map") in an `nft -j` listing.
absl::StatusOr<std::vector<const Struct*>> Objects(const Struct& root, absl::string_view kind) {
  auto it = root.fields().find("nftables");
  if (it == root.fields().end() || !it->second.has_list_value()) return Bad("no nftables list");
  std::vector<const Struct*> out;
  for (const Value& item : it->second.list_value().values()) {
    if (!item.has_struct_value()) continue;
    auto obj = item.struct_value().fields().find(std::string(kind));
    if (obj != item.struct_value().fields().end() && obj->second.has_struct_value()) {
      out.push_back(&obj->second.struct_value());
    }
  }
  return out;
}

bool Number(const Value& v, double lo, double hi, double* out) {
  if (!v.has_number_value()) return false;
  const double d = v.number_value();
  if (!(d >= lo && d <= hi) || d != std::floor(d)) return false;
  *out = d;
  return true;
}

// Both verdict maps pointed at generation `g`'s chains. Flushed, not
// deleted by key: a table made by an older agent has an empty ac_jump.
std::string JumpsTo(absl::string_view table, int g) {
  return absl::StrCat("flush map inet ", table, " rc_jump\n", "add element inet ", table,
                      " rc_jump { ipv4 : goto rc4_", kGen[g], ", ipv6 : goto rc6_", kGen[g], " }\n",
                      "flush map inet ", table, " ac_jump\n", "add element inet ", table,
                      " ac_jump { ipv4 : jump ac4_", kGen[g], ", ipv6 : jump ac6_", kGen[g],
                      " }\n");
}

}  // namespace

std::vector<std::string> RejectCountSetNames(int g) {
  const char* s = kGen[g];
  std::vector<std::string> names;
  for (const char* kind : {"rc", "ac"}) {
    for (const char* set : {"4p_", "4n_", "6p_", "6n_", "_over_"}) {
      names.push_back(absl::StrCat(kind, set, s));
    }
  }
  return names;
}

std::string RenderRejectCountObjects(bool rules) {
  std::string s;
  const std::string flags =
      absl::StrCat("    size ", kRejectCountSetSize, ";\n    flags dynamic,timeout;\n    timeout ",
                   kRejectCountTimeoutSeconds / 86400, "d;\n    counter;\n");
  for (int g = 0; g < 2; ++g) {
    const std::vector<std::string> n = RejectCountSetNames(g);
    const char* types[kCountSetsPerKind] = {
        "uid . ipv4_addr . inet_proto . inet_service", "uid . ipv4_addr . inet_proto",
        "uid . ipv6_addr . inet_proto . inet_service", "uid . ipv6_addr . inet_proto", "uid"};
    for (size_t i = 0; i < n.size(); ++i) {
      absl::StrAppend(&s, "  set ", n[i], " {\n    type ", types[i % kCountSetsPerKind], ";\n",
                      flags, "  }\n");
    }
  }
  // New connections of users that are not accounts, counted when accepted
  // connections are (the statistic conntrack's listener keeps otherwise).
  absl::StrAppend(&s, "  counter unattributed {\n  }\n");
  absl::StrAppend(&s, "  map rc_gen {\n    type mark : mark;\n  }\n",
                  "  map rc_jump {\n    type nf_proto : verdict;\n  }\n",
                  "  map ac_jump {\n    type nf_proto : verdict;\n  }\n");
  // The reject itself, shared by both generations (and by established flows).
  absl::StrAppend(&s, "  chain reject_now {\n");
  if (rules) {
    absl::StrAppend(&s,
                    "    meta l4proto tcp reject with tcp reset\n"
                    "    meta nfproto ipv4 reject with icmp type admin-prohibited\n"
                    "    reject with icmpv6 type admin-prohibited\n");
  }
  absl::StrAppend(&s, "  }\n");
  for (int g = 0; g < 2; ++g) {
    const std::vector<std::string> n = RejectCountSetNames(g);
    for (const char* family : {"4", "6"}) {
      const bool v4 = family[0] == '4';
      const std::string& ports = v4 ? n[0] : n[2];
      const std::string& other = v4 ? n[1] : n[3];
      const char* daddr = v4 ? "ip daddr" : "ip6 daddr";
      absl::StrAppend(&s, "  chain rc", family, "_", kGen[g], " {\n");
      if (rules) {
        // An add that a full set refuses ends its rule: the next rules
        // count the attempt as overflow (by uid), so a full set shows.
        absl::StrAppend(&s, "    meta l4proto { tcp, udp } add @", ports, " { meta skuid . ", daddr,
                        " . meta l4proto . th dport } goto reject_now\n",
                        "    meta l4proto != { tcp, udp } add @", other, " { meta skuid . ", daddr,
                        " . meta l4proto } goto reject_now\n", "    add @", n[4],
                        " { meta skuid } goto reject_now\n", "    goto reject_now\n");
      }
      absl::StrAppend(&s, "  }\n");
      // Accepted connections: the same keys in the accept sets; the chain
      // accepts (the output chain's last rule jumps here), so the fallback
      // rule after the verdict map never counts a connection twice.
      const std::string& accepted = v4 ? n[kCountSetsPerKind] : n[kCountSetsPerKind + 2];
      const std::string& accepted_other = v4 ? n[kCountSetsPerKind + 1] : n[kCountSetsPerKind + 3];
      absl::StrAppend(&s, "  chain ac", family, "_", kGen[g], " {\n");
      if (rules) {
        absl::StrAppend(&s, "    meta l4proto { tcp, udp } add @", accepted, " { meta skuid . ",
                        daddr, " . meta l4proto . th dport } accept\n",
                        "    meta l4proto != { tcp, udp } add @", accepted_other,
                        " { meta skuid . ", daddr, " . meta l4proto } accept\n", "    add @",
                        n[kCountSetsPerKind + 4], " { meta skuid } accept\n", "    accept\n");
      }
      absl::StrAppend(&s, "  }\n");
    }
  }
  return s;
}

std::string RenderAcceptCountEntryRules() {
  // The first packet of an account's new connection (not yet confirmed:
  // a retransmitted SYN or a second datagram before any reply finds its
  // entry confirmed), once every reject rule let it through: one count per
  // connection, as conntrack's NEW event. The ct mark with the account bit
  // was set by the rules above.
  return "    ct state new ct status ! confirmed ct mark 0x40000000 counter name unattributed\n"
         "    ct state new ct status ! confirmed ct mark & 0x80000000 == 0x80000000 meta nfproto "
         "vmap @ac_jump\n"
         "    ct state new ct status ! confirmed ct mark & 0x80000000 == 0x80000000 meta nfproto "
         "ipv4 jump ac4_a\n"
         "    ct state new ct status ! confirmed ct mark & 0x80000000 == 0x80000000 meta nfproto "
         "ipv6 jump ac6_a\n";
}

std::string RenderRejectCountEntryRules() {
  // New attempts only (what one REJECT is); the active generation through
  // rc_jump, generation a while it is empty; established flows of a newly
  // blocked destination are reset without being counted.
  return "    ct state new meta nfproto vmap @rc_jump\n"
         "    ct state new meta nfproto ipv4 goto rc4_a\n"
         "    ct state new meta nfproto ipv6 goto rc6_a\n"
         "    goto reject_now\n";
}

absl::StatusOr<uint64_t> ParseCounterPackets(absl::string_view json) {
  absl::StatusOr<Struct> root = ParseJson(json);
  if (!root.ok()) return root.status();
  absl::StatusOr<std::vector<const Struct*>> counters = Objects(*root, "counter");
  if (!counters.ok()) return counters.status();
  if (counters->size() != 1) return Bad("expected one counter");
  auto packets = (*counters)[0]->fields().find("packets");
  double d;
  if (packets == (*counters)[0]->fields().end() ||
      !Number(packets->second, 0, 9007199254740992.0, &d)) {
    return Bad("bad packet count");
  }
  return static_cast<uint64_t>(d);
}

absl::StatusOr<std::optional<RejectGenerations>> ParseRejectGenerations(absl::string_view json) {
  absl::StatusOr<Struct> root = ParseJson(json);
  if (!root.ok()) return root.status();
  absl::StatusOr<std::vector<const Struct*>> maps = Objects(*root, "map");
  if (!maps.ok()) return maps.status();
  if (maps->size() != 1) return Bad("expected one map");
  auto elem = (*maps)[0]->fields().find("elem");
  if (elem == (*maps)[0]->fields().end()) return std::optional<RejectGenerations>();
  if (!elem->second.has_list_value()) return Bad("elem is not a list");
  bool seen[3] = {false, false, false};
  double value[3] = {0, 0, 0};
  for (const Value& pair : elem->second.list_value().values()) {
    double k, v;
    if (!pair.has_list_value() || pair.list_value().values_size() != 2 ||
        !Number(pair.list_value().values(0), 0, 2, &k) ||
        !Number(pair.list_value().values(1), 0, 4294967295.0, &v)) {
      return Bad("bad rc_gen element");
    }
    seen[static_cast<int>(k)] = true;
    value[static_cast<int>(k)] = v;
  }
  if (!seen[0] || !seen[1] || !seen[2] || value[0] > 1) return Bad("incomplete rc_gen");
  RejectGenerations g;
  g.active = static_cast<int>(value[0]);
  g.number[0] = static_cast<uint32_t>(value[1]);
  g.number[1] = static_cast<uint32_t>(value[2]);
  if (g.number[g.active] == 0 || g.number[g.active] <= g.number[g.idle()]) {
    return Bad("rc_gen numbers out of order");
  }
  return std::optional<RejectGenerations>(g);
}

absl::StatusOr<RejectCount> DecodeCountElement(int set, absl::string_view key, uint64_t packets,
                                               uint64_t expires_ms) {
  const int kind = set % kCountSetsPerKind;
  // uid (4) . address (4 or 16) . protocol (1, padded to 4) [. port (2,
  // padded to 4)]; the overflow sets hold the uid alone.
  const bool v4 = kind < 2;
  const bool with_port = kind == 0 || kind == 2;
  const size_t address_bytes = v4 ? 4 : 16;
  const size_t want = kind == 4 ? 4 : 4 + address_bytes + 4 + (with_port ? 4 : 0);
  if (set < 0 || set >= 2 * kCountSetsPerKind || key.size() != want) {
    return Bad(absl::StrCat("a key of ", key.size(), " bytes in set ", set));
  }
  RejectCount c;
  c.set = set;
  c.packets = packets;
  c.expires_seconds = static_cast<int64_t>(expires_ms / 1000);
  std::memcpy(&c.uid, key.data(), 4);  // host order, as meta skuid
  if (kind == 4) return c;
  const auto* bytes = reinterpret_cast<const uint8_t*>(key.data());
  absl::StatusOr<IpAddress> dst =
      IpAddress::FromBytes(absl::MakeConstSpan(bytes + 4, address_bytes));
  if (!dst.ok()) return Bad("bad address");
  c.dst = *dst;
  c.protocol = bytes[4 + address_bytes];
  if (with_port) {
    const uint8_t* port = bytes + 4 + address_bytes + 4;
    c.port = static_cast<uint16_t>((port[0] << 8) | port[1]);
  }
  return c;
}

uint64_t KeysCounted(uint64_t mark, uint32_t number) {
  const uint32_t marked = static_cast<uint32_t>(mark >> 32);
  if (marked > number) return kAllKeys;
  if (marked < number) return 0;
  return static_cast<uint32_t>(mark);
}

uint32_t NextGenerationNumber(const RejectGenerations& gens, uint64_t mark, absl::Time now) {
  const int64_t s = absl::ToUnixSeconds(now);
  uint64_t n = static_cast<uint64_t>(std::clamp<int64_t>(s, 1, 0xfffffff0));
  n = std::max<uint64_t>(n, static_cast<uint64_t>(gens.number[0]) + 1);
  n = std::max<uint64_t>(n, static_cast<uint64_t>(gens.number[1]) + 1);
  n = std::max<uint64_t>(n, (mark >> 32) + 1);
  return static_cast<uint32_t>(std::min<uint64_t>(n, 0xffffffffu));
}

absl::Time RejectFirstSeen(const RejectCount& count, absl::Time read_time, uint32_t start,
                           uint32_t end) {
  absl::Time t = read_time;
  if (count.expires_seconds > 0) {
    t = read_time - absl::Seconds(kRejectCountTimeoutSeconds - count.expires_seconds);
  }
  // Numbers are the switch-in second, or a little above it when switches
  // came faster than one a second: never past the read.
  const absl::Time lo = std::min(absl::FromUnixSeconds(start), read_time);
  if (t < lo) t = lo;
  if (end != 0) {
    // The interval ends when the next generation was switched in.
    const absl::Time hi = std::min(absl::FromUnixSeconds(end), read_time + absl::Nanoseconds(1)) -
                          absl::Nanoseconds(1);
    if (t > hi && hi >= lo) t = hi;
  }
  return t;
}

std::string RenderGenerationInit(absl::string_view table, uint32_t number) {
  return absl::StrCat("add element inet ", table, " rc_gen { 0 : 0, 1 : ", number, ", 2 : 0 }\n",
                      JumpsTo(table, 0));
}

std::string RenderGenerationSwitch(absl::string_view table, const RejectGenerations& gens,
                                   uint32_t number) {
  const int next = gens.idle();
  std::string s;
  for (const std::string& set : RejectCountSetNames(next)) {
    absl::StrAppend(&s, "flush set inet ", table, " ", set, "\n");
  }
  absl::StrAppend(&s, "delete element inet ", table, " rc_gen { 0, ", next + 1, " }\n",
                  "add element inet ", table, " rc_gen { 0 : ", next, ", ", next + 1, " : ", number,
                  " }\n", JumpsTo(table, next));
  return s;
}

}  // namespace egress::agent
