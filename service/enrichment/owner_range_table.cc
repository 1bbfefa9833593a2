#include "service/enrichment/owner_range_table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"

namespace egress {
namespace {

absl::uint128 Key(const IpAddress& ip) {
  absl::uint128 key = 0;
  for (uint8_t byte : ip.bytes()) key = (key << 8) | byte;
  return key;
}

absl::uint128 LastKey(const IpNetwork& network) { return Key(network.LastAddress()); }

struct Change {
  absl::uint128 start;
  int32_t owner;
};

// Appends "from `start` on, the owner is `owner`", merging with the previous
// change point when they coincide or carry the same owner.
void Emit(std::vector<Change>& out, absl::uint128 start, int32_t owner) {
  if (!out.empty() && out.back().start == start) {
    out.back().owner = owner;
    if (out.size() >= 2 && out[out.size() - 2].owner == owner) out.pop_back();
    return;
  }
  if (!out.empty() && out.back().owner == owner) return;
  if (out.empty() && owner < 0) return;
  out.push_back({start, owner});
}

// `order`: indexes into `networks` of one family sorted by (start, prefix
// length). CIDR blocks either nest or are disjoint, so a stack of the
// enclosing networks gives the most specific owner at every point.
template <typename Net>
std::vector<Change> Flatten(const std::vector<Net>& networks, const std::vector<int32_t>& order,
                            absl::uint128 max_key) {
  std::vector<Change> out;
  struct Open {
    absl::uint128 last;
    int32_t owner;
  };
  std::vector<Open> stack;
  auto close_until = [&](const absl::uint128* next_start) {
    while (!stack.empty() && (next_start == nullptr || stack.back().last < *next_start)) {
      absl::uint128 last = stack.back().last;
      stack.pop_back();
      if (last != max_key) Emit(out, last + 1, stack.empty() ? -1 : stack.back().owner);
    }
  };
  for (int32_t index : order) {
    const IpNetwork& network = networks[index].network;
    absl::uint128 start = Key(network.address());
    close_until(&start);
    Emit(out, start, index);
    stack.push_back({LastKey(network), index});
  }
  close_until(nullptr);
  return out;
}

}  // namespace

void OwnerRangeTable::Builder::AddNetwork(const IpNetwork& network, uint32_t asn,
                                          absl::string_view country, bool anycast) {
  Pending pending{network, asn, {0, 0}, anycast, networks_.size()};
  if (country.size() == 2 && absl::ascii_isalpha(country[0]) && absl::ascii_isalpha(country[1])) {
    pending.country[0] = absl::ascii_toupper(country[0]);
    pending.country[1] = absl::ascii_toupper(country[1]);
  }
  networks_.push_back(pending);
}

void OwnerRangeTable::Builder::AddAsName(uint32_t asn, absl::string_view name) {
  as_names_[asn] = std::string(name);
}

OwnerRangeTable OwnerRangeTable::Builder::Build() && {
  // Same network twice: the last added wins.
  std::stable_sort(networks_.begin(), networks_.end(),
                   [](const Pending& a, const Pending& b) { return a.network < b.network; });
  OwnerRangeTable table;
  for (size_t i = 0; i < networks_.size(); ++i) {
    if (i + 1 < networks_.size() && networks_[i + 1].network == networks_[i].network) continue;
    const Pending& p = networks_[i];
    table.networks_.push_back(
        {p.network, p.asn, p.country[0] != 0 ? std::string(p.country, 2) : "", p.anycast});
  }
  networks_.clear();
  networks_.shrink_to_fit();

  // IpNetwork orders by address (v4 before v6), then prefix length: already
  // the order Flatten needs.
  std::vector<int32_t> v4, v6;
  for (size_t i = 0; i < table.networks_.size(); ++i) {
    (table.networks_[i].network.address().is_v4() ? v4 : v6).push_back(static_cast<int32_t>(i));
  }
  for (const Change& c : Flatten(table.networks_, v4, absl::uint128(0xffffffffu))) {
    table.v4_starts_.push_back(static_cast<uint32_t>(c.start));
    table.v4_owners_.push_back(c.owner);
  }
  for (const Change& c : Flatten(table.networks_, v6, absl::Uint128Max())) {
    table.v6_starts_.push_back(c.start);
    table.v6_owners_.push_back(c.owner);
  }
  table.v4_buckets_.resize(65537);
  table.v6_buckets_.resize(65537);
  for (uint32_t k = 0; k <= 65536; ++k) {
    table.v4_buckets_[k] = static_cast<uint32_t>(
        k == 65536 ? table.v4_starts_.size()
                   : std::lower_bound(table.v4_starts_.begin(), table.v4_starts_.end(), k << 16) -
                         table.v4_starts_.begin());
    table.v6_buckets_[k] = static_cast<uint32_t>(
        k == 65536 ? table.v6_starts_.size()
                   : std::lower_bound(table.v6_starts_.begin(), table.v6_starts_.end(),
                                      absl::uint128(k) << 112) -
                         table.v6_starts_.begin());
  }
  table.as_names_ = std::move(as_names_);
  return table;
}

std::optional<OwnerInfo> OwnerRangeTable::Lookup(const IpAddress& raw) const {
  const IpAddress ip = raw.Unmapped();
  int32_t owner = -1;
  // Every start before the bucket is below the address and every start from
  // the next bucket on is above it, so searching the bucket alone finds the
  // last start <= address (which may be just before the bucket).
  if (ip.is_v4()) {
    if (v4_starts_.empty()) return std::nullopt;
    const uint32_t key = ip.v4();
    auto begin = v4_starts_.begin();
    auto it =
        std::upper_bound(begin + v4_buckets_[key >> 16], begin + v4_buckets_[(key >> 16) + 1], key);
    if (it == begin) return std::nullopt;
    owner = v4_owners_[static_cast<size_t>(it - begin) - 1];
  } else {
    if (v6_starts_.empty()) return std::nullopt;
    const absl::uint128 key = Key(ip);
    const size_t bucket = static_cast<size_t>(absl::Uint128High64(key) >> 48);
    auto begin = v6_starts_.begin();
    auto it = std::upper_bound(begin + v6_buckets_[bucket], begin + v6_buckets_[bucket + 1], key);
    if (it == begin) return std::nullopt;
    owner = v6_owners_[static_cast<size_t>(it - begin) - 1];
  }
  if (owner < 0) return std::nullopt;
  const Network& network = networks_[static_cast<size_t>(owner)];
  OwnerInfo info{network.network, network.asn, std::string(), network.country, network.anycast};
  if (network.asn != 0) {
    auto name = as_names_.find(network.asn);
    if (name != as_names_.end()) info.as_name = name->second;
  }
  return info;
}

}  // namespace egress
