// IP addresses and networks (CIDR blocks) as small value types.
//
// Both classes are immutable values: copyable, comparable, hashable
// (absl::Hash) and safe to share between threads. All functions are pure.
//
// Parsing is strict because the text comes from users and other services and
// ends up in kernel rules: anything that is not exactly one well-formed address
// is rejected with InvalidArgument. Error messages quote the input through
// QuoteForMessage and never name a field; callers add the field name with
// AnnotateField (common/field_status.h).
//
// IPv4-mapped IPv6 text ("::ffff:1.2.3.4") is normalised to IPv4 by both
// Parse functions and by IpNetwork::Create/Host, because the kernel reports
// such connections as IPv4: a rule or filter kept as IPv6 would never match.
#ifndef EGRESS_COMMON_IP_ADDRESS_H_
#define EGRESS_COMMON_IP_ADDRESS_H_

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace egress {

// Longest text IpAddress::Parse accepts (the longest IPv6 form is 45 bytes).
inline constexpr size_t kMaxIpAddressTextBytes = 64;
// Longest text IpNetwork::Parse accepts: an address, '/', and up to 3 digits.
inline constexpr size_t kMaxIpNetworkTextBytes = kMaxIpAddressTextBytes + 4;

class IpAddress {
 public:
  enum class Family : uint8_t { kV4 = 4, kV6 = 6 };

  // 0.0.0.0
  IpAddress();

  // `host_order`: 0x7f000001 is 127.0.0.1.
  static IpAddress FromV4(uint32_t host_order);
  // Raw: a v4-mapped address stays IPv6 (see Unmapped()).
  static IpAddress FromV6(const std::array<uint8_t, 16>& bytes);
  // Network-order bytes: 4 for IPv4, 16 for IPv6 (raw, as FromV6); any other
  // size is InvalidArgument.
  static absl::StatusOr<IpAddress> FromBytes(absl::Span<const uint8_t> bytes);

  // Accepts exactly:
  //  - IPv4 dotted quad: 4 decimal parts 0..255, no leading zeros (so no
  //    octal-looking "010"), no hex, no shorthand ("1.2.3", "127.1");
  //  - IPv6 in any RFC 4291 text form: full, "::"-compressed, mixed with a
  //    trailing dotted quad ("::1.2.3.4"), upper- or lower-case hex.
  // IPv4-mapped IPv6 is returned as IPv4 ("::ffff:1.2.3.4" -> 1.2.3.4).
  // Rejects (InvalidArgument): empty text, any whitespace, NUL or other bytes
  // that cannot occur in an address, zone ids ("fe80::1%eth0"), brackets
  // ("[::1]"), prefix lengths ("1.2.3.0/24"; use IpNetwork), and text longer
  // than kMaxIpAddressTextBytes.
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  bool is_v6() const { return family_ == Family::kV6; }

  // Host order. Precondition: is_v4().
  uint32_t v4() const;
  // Precondition: is_v6().
  const std::array<uint8_t, 16>& v6_bytes() const;
  // Network order; 4 bytes for IPv4, 16 for IPv6. Valid while *this lives.
  absl::Span<const uint8_t> bytes() const;
  // 32 or 128.
  int bit_length() const { return is_v4() ? 32 : 128; }

  // Canonical text: dotted quad for IPv4, RFC 5952 for IPv6 (lower case,
  // longest zero run compressed, mixed notation only for v4-mapped).
  // Parse(a.ToString()) == a for every address except raw v4-mapped ones,
  // which Parse normalises to IPv4.
  std::string ToString() const;

  // 127.0.0.0/8 or ::1.
  bool IsLoopback() const;
  // 0.0.0.0 or ::.
  bool IsUnspecified() const;
  // In ::ffff:0:0/96. Only raw values (FromV6, FromBytes) can be; Parse never
  // returns one.
  bool IsV4Mapped() const;
  // ::ffff:a.b.c.d -> a.b.c.d; any other address is returned unchanged.
  IpAddress Unmapped() const;

  // Ordering: every IPv4 address sorts before every IPv6 address, then
  // numerically (bytewise in network order).
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend std::strong_ordering operator<=>(const IpAddress&, const IpAddress&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const IpAddress& address) {
    return H::combine(std::move(h), address.family_, address.bytes_);
  }

  friend std::ostream& operator<<(std::ostream& os, const IpAddress& address) {
    return os << address.ToString();
  }

 private:
  IpAddress(Family family, const std::array<uint8_t, 16>& bytes) : family_(family), bytes_(bytes) {}

  // Declaration order is the comparison order of the defaulted operators.
  Family family_;
  // Network order. For IPv4 only the first 4 bytes are used; the rest are
  // always zero so that the defaulted operators and the hash stay correct.
  std::array<uint8_t, 16> bytes_;
};

// A CIDR block: an address with all host bits zero, and a prefix length.
class IpNetwork {
 public:
  // Accepts "<address>/<length>" or a bare address (the host network: /32 or
  // /128). The address follows IpAddress::Parse. The length is decimal, 0 up
  // to the address's bit length, without sign or leading zeros.
  // Rejects (InvalidArgument): empty text or an empty length ("1.2.3.0/"),
  // length above the bit length ("1.2.3.4/33"), '+', '-', leading zeros
  // ("/024"), non-digits, more than one '/', whitespace, NUL, host bits set
  // (the message suggests the network: "10.0.0.1/8" -> 10.0.0.0/8), and text
  // longer than kMaxIpNetworkTextBytes.
  // Normalisation: a v4-mapped network with length >= 96
  // ("::ffff:1.2.3.0/120") becomes IPv4 (1.2.3.0/24); with a shorter length
  // it covers more than mapped addresses and stays IPv6.
  static absl::StatusOr<IpNetwork> Parse(absl::string_view text);

  // Same validation and normalisation as Parse. InvalidArgument if
  // `prefix_length` is outside 0..address.bit_length() or host bits are set.
  static absl::StatusOr<IpNetwork> Create(IpAddress address, int prefix_length);
  // The network holding only `address` (/32 or /128; a raw v4-mapped address
  // becomes an IPv4 /32).
  static IpNetwork Host(IpAddress address);

  // The first (network) address.
  const IpAddress& address() const { return address_; }
  int prefix_length() const { return prefix_length_; }
  // True for /32 IPv4 and /128 IPv6.
  bool is_host() const { return prefix_length_ == address_.bit_length(); }
  // Covers a large part of its family's address space: shorter than /8 for
  // IPv4, shorter than /7 for IPv6 (fc00::/7, the widest private range, is
  // not). Such a network as an exemption or a suggestion would quietly mean
  // "everything".
  bool is_catch_all() const {
    return prefix_length_ < (address_.is_v4() ? kCatchAllV4Below : kCatchAllV6Below);
  }
  static constexpr int kCatchAllV4Below = 8;
  static constexpr int kCatchAllV6Below = 7;

  // False when the families differ: an IPv4 network never contains an IPv6
  // address, v4-mapped or not (use IpAddress::Unmapped first on raw values).
  bool Contains(const IpAddress& address) const;
  // True if every address of `network` is in *this (a network contains itself).
  bool Contains(const IpNetwork& network) const;
  // The highest address in the block (the IPv4 broadcast address).
  IpAddress LastAddress() const;

  // "<address>/<length>", also for host networks ("1.2.3.4/32").
  std::string ToString() const;

  // Ordered by address, then by prefix length.
  friend bool operator==(const IpNetwork&, const IpNetwork&) = default;
  friend std::strong_ordering operator<=>(const IpNetwork&, const IpNetwork&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const IpNetwork& network) {
    return H::combine(std::move(h), network.address_, network.prefix_length_);
  }

  friend std::ostream& operator<<(std::ostream& os, const IpNetwork& network) {
    return os << network.ToString();
  }

 private:
  IpNetwork(IpAddress address, int prefix_length)
      : address_(address), prefix_length_(prefix_length) {}

  IpAddress address_;
  int prefix_length_;
};

}  // namespace egress

#endif  // EGRESS_COMMON_IP_ADDRESS_H_
