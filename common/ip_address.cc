#include "common/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/field_status.h"

namespace egress {
namespace {

using Bytes = std::array<uint8_t, 16>;

constexpr size_t kV4Bytes = 4;
constexpr size_t kV6Bytes = 16;

// The internal parsers return errors whose message is only the reason; the
// public entry points prefix the quoted input, so each message quotes it once.
absl::Status Reason(absl::string_view reason) { return absl::InvalidArgumentError(reason); }

std::string DescribeByte(char c) { return absl::StrCat("'", absl::CHexEscape({&c, 1}), "'"); }

// inet_pton needs a C string; callers have already capped the length, so a
// stack buffer avoids an allocation per parse.
std::array<char, kMaxIpAddressTextBytes + 1> NulTerminated(absl::string_view text) {
  std::array<char, kMaxIpAddressTextBytes + 1> buffer{};
  std::memcpy(buffer.data(), text.data(), std::min(text.size(), kMaxIpAddressTextBytes));
  return buffer;
}

// Checks shared by addresses and networks: bytes that can never be part of
// the text, reported by name because they are the common mistakes (pasted
// whitespace, zone ids copied from `ip addr`, URL brackets).
absl::Status CheckForbiddenBytes(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\0') return Reason(absl::StrCat("contains a NUL byte at offset ", i));
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      return Reason(absl::StrCat("contains whitespace at offset ", i));
    }
    if (c == '%') return Reason("zone ids are not allowed (remove the '%...' suffix)");
    if (c == '[' || c == ']') return Reason("brackets are not allowed");
  }
  return absl::OkStatus();
}

// Our own checks run first so that messages say what is wrong; inet_pton then
// has the last word.
absl::StatusOr<IpAddress> ParseV4(absl::string_view text) {
  size_t part_count = 0;
  for (absl::string_view part : absl::StrSplit(text, '.')) {
    if (++part_count > 4) break;
    if (part.empty()) return Reason("an IPv4 address part is empty");
    for (char c : part) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
        return Reason(absl::StrCat("IPv4 part ", QuoteForMessage(part),
                                   " is not a decimal number 0..255 (hex is not allowed)"));
      }
    }
    if (part.size() > 1 && part[0] == '0') {
      // inet_aton and many tools read "010" as octal 8; refuse the ambiguity.
      return Reason(absl::StrCat("IPv4 part ", QuoteForMessage(part),
                                 " has a leading zero (octal-looking parts are ambiguous)"));
    }
    int value = 0;
    for (char c : part.substr(0, 4)) value = value * 10 + (c - '0');
    if (value > 255) {
      return Reason(absl::StrCat("IPv4 part ", QuoteForMessage(part), " is greater than 255"));
    }
  }
  if (part_count != 4) {
    return Reason(absl::StrCat("an IPv4 address has exactly 4 dot-separated parts, found ",
                               part_count > 4 ? "more than 4" : std::to_string(part_count)));
  }
  in_addr addr;
  if (inet_pton(AF_INET, NulTerminated(text).data(), &addr) != 1) {
    return Reason("not a dotted-quad IPv4 address");
  }
  uint8_t bytes[kV4Bytes];
  std::memcpy(bytes, &addr, kV4Bytes);
  return IpAddress::FromBytes(bytes);
}

absl::StatusOr<IpAddress> ParseV6(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') {
      return Reason(absl::StrCat("contains ", DescribeByte(c), " at offset ", i,
                                 ", which cannot occur in an IPv6 address"));
    }
  }
  in6_addr addr;
  if (inet_pton(AF_INET6, NulTerminated(text).data(), &addr) != 1) {
    if (absl::StrContains(text, ":::")) return Reason("':::' is not valid in an IPv6 address");
    const size_t first = text.find("::");
    if (first != absl::string_view::npos && text.find("::", first + 1) != absl::string_view::npos) {
      return Reason("'::' may appear only once in an IPv6 address");
    }
    return Reason(
        "expected up to 8 groups of 1-4 hex digits, at most one "
        "'::', optionally ending in a dotted quad");
  }
  Bytes bytes;
  std::memcpy(bytes.data(), &addr, kV6Bytes);
  return IpAddress::FromV6(bytes);
}

// Parses without v4-mapped normalisation, so IpNetwork can look at the prefix
// length before deciding the family.
absl::StatusOr<IpAddress> ParseRaw(absl::string_view text) {
  if (text.empty()) return Reason("the text is empty");
  if (text.size() > kMaxIpAddressTextBytes) {
    return Reason(absl::StrCat("the text is too long (", text.size(), " bytes, at most ",
                               kMaxIpAddressTextBytes, ")"));
  }
  if (absl::Status status = CheckForbiddenBytes(text); !status.ok()) return status;
  if (text.find('/') != absl::string_view::npos) {
    return Reason("a prefix length is not allowed here; give a bare address");
  }
  if (text.find(':') != absl::string_view::npos) return ParseV6(text);
  return ParseV4(text);
}

absl::Status WithInput(absl::string_view text, absl::string_view what, const absl::Status& status) {
  return absl::InvalidArgumentError(
      absl::StrCat(QuoteForMessage(text), " is not a valid ", what, ": ", status.message()));
}

size_t ByteLength(const IpAddress& address) { return address.is_v4() ? kV4Bytes : kV6Bytes; }

// Bits of byte `index` that lie after the first `prefix_length` bits.
uint8_t HostMask(int prefix_length, size_t index) {
  const int bits_kept = std::clamp(prefix_length - static_cast<int>(index) * 8, 0, 8);
  return static_cast<uint8_t>(0xff >> bits_kept);
}

// `address` with every bit after the first `prefix_length` set to `host_bit`.
IpAddress WithHostBits(const IpAddress& address, int prefix_length, bool host_bit) {
  Bytes bytes{};
  const absl::Span<const uint8_t> in = address.bytes();
  for (size_t i = 0; i < in.size(); ++i) {
    const uint8_t mask = HostMask(prefix_length, i);
    bytes[i] = host_bit ? static_cast<uint8_t>(in[i] | mask) : static_cast<uint8_t>(in[i] & ~mask);
  }
  if (address.is_v6()) return IpAddress::FromV6(bytes);
  return IpAddress::FromV4((uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) |
                           (uint32_t{bytes[2]} << 8) | uint32_t{bytes[3]});
}

// Whether the first `prefix_length` bits of two same-family addresses agree.
bool SamePrefix(absl::Span<const uint8_t> a, absl::Span<const uint8_t> b, int prefix_length) {
  for (size_t i = 0; i < a.size(); ++i) {
    const uint8_t network_mask = static_cast<uint8_t>(~HostMask(prefix_length, i));
    if (network_mask == 0) break;
    if (((a[i] ^ b[i]) & network_mask) != 0) return false;
  }
  return true;
}

}  // namespace

IpAddress::IpAddress() : family_(Family::kV4), bytes_{} {}

IpAddress IpAddress::FromV4(uint32_t host_order) {
  Bytes bytes{};
  bytes[0] = static_cast<uint8_t>(host_order >> 24);
  bytes[1] = static_cast<uint8_t>(host_order >> 16);
  bytes[2] = static_cast<uint8_t>(host_order >> 8);
  bytes[3] = static_cast<uint8_t>(host_order);
  return IpAddress(Family::kV4, bytes);
}

IpAddress IpAddress::FromV6(const std::array<uint8_t, 16>& bytes) {
  return IpAddress(Family::kV6, bytes);
}

absl::StatusOr<IpAddress> IpAddress::FromBytes(absl::Span<const uint8_t> bytes) {
  Bytes copy{};
  if (bytes.size() == kV4Bytes) {
    std::copy(bytes.begin(), bytes.end(), copy.begin());
    return IpAddress(Family::kV4, copy);
  }
  if (bytes.size() == kV6Bytes) {
    std::copy(bytes.begin(), bytes.end(), copy.begin());
    return IpAddress(Family::kV6, copy);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("an IP address has 4 or 16 bytes, got ", bytes.size()));
}

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  absl::StatusOr<IpAddress> raw = ParseRaw(text);
  if (!raw.ok()) return WithInput(text, "IP address", raw.status());
  return raw->Unmapped();
}

uint32_t IpAddress::v4() const {
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         uint32_t{bytes_[3]};
}

const std::array<uint8_t, 16>& IpAddress::v6_bytes() const { return bytes_; }

absl::Span<const uint8_t> IpAddress::bytes() const {
  return absl::MakeConstSpan(bytes_.data(), ByteLength(*this));
}

std::string IpAddress::ToString() const {
  if (is_v4()) return absl::StrCat(bytes_[0], ".", bytes_[1], ".", bytes_[2], ".", bytes_[3]);
  // glibc prints the deprecated IPv4-compatible range (::/96) in mixed
  // notation ("::1.2.0.0"); RFC 5952 reserves that for well-known prefixes
  // such as v4-mapped, so print these in plain hex. (:: and ::1 have a longer
  // zero run and never reach this branch's formatting difference.)
  if (std::all_of(bytes_.begin(), bytes_.begin() + 12, [](uint8_t b) { return b == 0; }) &&
      (bytes_[12] != 0 || bytes_[13] != 0)) {
    return absl::StrFormat("::%x:%x", (bytes_[12] << 8) | bytes_[13],
                           (bytes_[14] << 8) | bytes_[15]);
  }
  char text[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, bytes_.data(), text, sizeof(text)) == nullptr) {
    // Cannot happen with a correctly sized buffer; keep the value printable.
    return absl::BytesToHexString(
        absl::string_view(reinterpret_cast<const char*>(bytes_.data()), bytes_.size()));
  }
  return text;
}

bool IpAddress::IsLoopback() const {
  if (is_v4()) return bytes_[0] == 127;
  static constexpr Bytes kLoopback = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return bytes_ == kLoopback;
}

bool IpAddress::IsUnspecified() const { return bytes_ == Bytes{}; }

bool IpAddress::IsV4Mapped() const {
  return is_v6() &&
         std::all_of(bytes_.begin(), bytes_.begin() + 10, [](uint8_t b) { return b == 0; }) &&
         bytes_[10] == 0xff && bytes_[11] == 0xff;
}

IpAddress IpAddress::Unmapped() const {
  if (!IsV4Mapped()) return *this;
  Bytes bytes{};
  std::copy(bytes_.begin() + 12, bytes_.end(), bytes.begin());
  return IpAddress(Family::kV4, bytes);
}

absl::StatusOr<IpNetwork> IpNetwork::Parse(absl::string_view text) {
  auto invalid = [text](const absl::Status& status) { return WithInput(text, "network", status); };
  if (text.empty()) return invalid(Reason("the text is empty"));
  if (text.size() > kMaxIpNetworkTextBytes) {
    return invalid(Reason(absl::StrCat("the text is too long (", text.size(), " bytes, at most ",
                                       kMaxIpNetworkTextBytes, ")")));
  }
  if (absl::Status status = CheckForbiddenBytes(text); !status.ok()) return invalid(status);
  const size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    absl::StatusOr<IpAddress> address = ParseRaw(text);
    if (!address.ok()) return invalid(address.status());
    return Host(*address);
  }
  if (text.find('/', slash + 1) != absl::string_view::npos) {
    return invalid(Reason("has more than one '/'"));
  }
  const absl::string_view length_text = text.substr(slash + 1);
  if (length_text.empty()) return invalid(Reason("the prefix length after '/' is empty"));
  if (!std::all_of(length_text.begin(), length_text.end(),
                   [](char c) { return absl::ascii_isdigit(static_cast<unsigned char>(c)); })) {
    return invalid(Reason("the prefix length must be a decimal number without sign"));
  }
  if (length_text.size() > 1 && length_text[0] == '0') {
    return invalid(Reason("the prefix length has a leading zero"));
  }
  // At most 3 digits are needed (128); longer would only risk overflow.
  if (length_text.size() > 3) return invalid(Reason("the prefix length is greater than 128"));
  int prefix_length = 0;
  if (!absl::SimpleAtoi(length_text, &prefix_length)) {
    return invalid(Reason("the prefix length is not a number"));
  }
  absl::StatusOr<IpAddress> address = ParseRaw(text.substr(0, slash));
  if (!address.ok()) return invalid(address.status());
  absl::StatusOr<IpNetwork> network = Create(*address, prefix_length);
  if (!network.ok()) return invalid(network.status());
  return network;
}

absl::StatusOr<IpNetwork> IpNetwork::Create(IpAddress address, int prefix_length) {
  if (prefix_length < 0 || prefix_length > address.bit_length()) {
    return absl::InvalidArgumentError(
        absl::StrCat("prefix length ", prefix_length, " is out of range for IPv",
                     address.is_v4() ? 4 : 6, " (0..", address.bit_length(), ")"));
  }
  if (address.IsV4Mapped() && prefix_length >= 96) {
    address = address.Unmapped();
    prefix_length -= 96;
  }
  const IpAddress network_address = WithHostBits(address, prefix_length, false);
  if (network_address != address) {
    const IpNetwork suggestion(network_address, prefix_length);
    if (suggestion.is_catch_all()) {
      // Never suggest "everything": the address alone is the likelier intent.
      return absl::InvalidArgumentError(absl::StrCat("host bits are set; for the one address use ",
                                                     address.ToString(), "/",
                                                     address.bit_length()));
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "host bits are set; did you mean ", network_address.ToString(), "/", prefix_length, "?"));
  }
  return IpNetwork(address, prefix_length);
}

IpNetwork IpNetwork::Host(IpAddress address) {
  const IpAddress unmapped = address.Unmapped();
  return IpNetwork(unmapped, unmapped.bit_length());
}

bool IpNetwork::Contains(const IpAddress& address) const {
  if (address.family() != address_.family()) return false;
  return SamePrefix(address.bytes(), address_.bytes(), prefix_length_);
}

bool IpNetwork::Contains(const IpNetwork& network) const {
  return network.prefix_length_ >= prefix_length_ && Contains(network.address_);
}

IpAddress IpNetwork::LastAddress() const { return WithHostBits(address_, prefix_length_, true); }

std::string IpNetwork::ToString() const {
  return absl::StrCat(address_.ToString(), "/", prefix_length_);
}

}  // namespace egress
