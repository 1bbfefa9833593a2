// Daily aggregates merged by their connection_daily key, in memory: what a
// group commit writes (directly, or as one ingest_journal entry) and what a
// journal fold writes. Merging is exact and order-free (sum, min, max), so
// batches and journal entries may be merged in any grouping.
#ifndef EGRESS_SERVICE_STORAGE_AGGREGATES_H_
#define EGRESS_SERVICE_STORAGE_AGGREGATES_H_

#include <algorithm>
#include <cstdint>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/action.h"
#include "common/ip_address.h"
#include "common/protocol.h"

namespace egress {

// A connection_daily primary key. `account` points into storage that
// outlives the map (the batches, or the decoded journal entries).
struct AggregateKey {
  absl::string_view account;
  absl::CivilDay day;
  IpAddress ip;
  Protocol protocol = Protocol::kTcp;
  uint16_t port = 0;
  Action action = Action::kAccept;

  friend bool operator==(const AggregateKey&, const AggregateKey&) = default;
  // The primary key's order (account ids compare bytewise, as the C and
  // C.UTF-8 collations do).
  friend bool operator<(const AggregateKey& a, const AggregateKey& b) {
    return std::tie(a.account, a.day, a.ip, a.protocol, a.port, a.action) <
           std::tie(b.account, b.day, b.ip, b.protocol, b.port, b.action);
  }
  template <typename H>
  friend H AbslHashValue(H h, const AggregateKey& k) {
    return H::combine(std::move(h), k.account, k.day - absl::CivilDay(), k.ip, k.protocol, k.port,
                      k.action);
  }
};

struct Aggregate {
  uint64_t count = 0;
  absl::Time first_seen = absl::InfiniteFuture();
  absl::Time last_seen = absl::InfinitePast();

  void Add(uint64_t more, absl::Time first, absl::Time last) {
    count += more;
    first_seen = std::min(first_seen, first);
    last_seen = std::max(last_seen, last);
  }
};

using AggregateMap = absl::flat_hash_map<AggregateKey, Aggregate>;

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_AGGREGATES_H_
