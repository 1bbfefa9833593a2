// An immutable in-memory longest-prefix-match table from networks to owner
// data, flattened into sorted, non-overlapping ranges so that a lookup is one
// binary search over a compact array (no allocation apart from the returned
// strings). Built once per (re)load by the owner databases.
#ifndef EGRESS_SERVICE_ENRICHMENT_OWNER_RANGE_TABLE_H_
#define EGRESS_SERVICE_ENRICHMENT_OWNER_RANGE_TABLE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/numeric/int128.h"
#include "absl/strings/string_view.h"
#include "common/ip_address.h"
#include "service/enrichment/owner_database.h"

namespace egress {

class OwnerRangeTable {
 public:
  // Collects networks and AS names in any order. Networks may nest (the most
  // specific one wins, as in routing); the same network added twice keeps
  // the last data. Not thread-safe.
  class Builder {
   public:
    // `country` is kept only if it is two ASCII letters (stored upper case).
    void AddNetwork(const IpNetwork& network, uint32_t asn, absl::string_view country,
                    bool anycast);
    void AddAsName(uint32_t asn, absl::string_view name);
    OwnerRangeTable Build() &&;

   private:
    struct Pending {
      IpNetwork network;
      uint32_t asn;
      char country[2];
      bool anycast;
      size_t order;
    };
    std::vector<Pending> networks_;
    absl::flat_hash_map<uint32_t, std::string> as_names_;
  };

  OwnerRangeTable() = default;

  // Thread-safe (const, immutable).
  std::optional<OwnerInfo> Lookup(const IpAddress& ip) const;

  // Calls fn(first, last, owner) for every flattened IPv4 range that has an
  // owner, in address order (for exports and benchmarks). `first`/`last`
  // are host-order addresses.
  template <typename Fn>
  void ForEachV4Range(Fn&& fn) const {
    for (size_t i = 0; i < v4_starts_.size(); ++i) {
      if (v4_owners_[i] < 0) continue;
      uint32_t last = i + 1 < v4_starts_.size() ? v4_starts_[i + 1] - 1 : 0xffffffffu;
      fn(v4_starts_[i], last, *Lookup(IpAddress::FromV4(v4_starts_[i])));
    }
  }

  size_t network_count() const { return networks_.size(); }
  // Flattened ranges (for tests and stats).
  size_t range_count() const { return v4_starts_.size() + v6_starts_.size(); }

 private:
  struct Network {
    IpNetwork network;
    uint32_t asn;
    std::string country;
    bool anycast;
  };

  std::vector<Network> networks_;
  // Range i starts at starts[i] and ends before starts[i + 1] (or at the end
  // of the address space); owners[i] indexes networks_, or -1 for no owner.
  std::vector<uint32_t> v4_starts_;
  std::vector<int32_t> v4_owners_;
  std::vector<absl::uint128> v6_starts_;
  std::vector<int32_t> v6_owners_;
  // First range index whose start is >= k << 16 (IPv4) or k << 112 (IPv6),
  // for k in 0..65536: a lookup binary-searches only its top-16-bit bucket
  // (a few cache lines instead of ~20 misses over the whole array).
  std::vector<uint32_t> v4_buckets_;
  std::vector<uint32_t> v6_buckets_;
  absl::flat_hash_map<uint32_t, std::string> as_names_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_OWNER_RANGE_TABLE_H_
