#include "common/ip_text_prefix.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"

namespace egress {
namespace {

// The values a group of canonical text starting with `digits` can have: the
// value itself, then one more digit, two more..., up to `max_digits` digits
// and `max_value`. Canonical text has no leading zeros, so "0" is only 0.
// nullopt if none.
std::optional<std::pair<uint32_t, uint32_t>> GroupRange(absl::string_view digits, int base,
                                                        size_t max_digits, uint32_t max_value) {
  if (digits.empty()) return std::make_pair(0u, max_value);
  if (digits.size() > max_digits) return std::nullopt;
  if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
  uint32_t value = 0;
  for (char c : digits) {
    const uint32_t digit =
        absl::ascii_isdigit(c) ? c - '0' : static_cast<uint32_t>(absl::ascii_tolower(c) - 'a' + 10);
    value = value * base + digit;
  }
  if (value > max_value) return std::nullopt;
  if (value == 0) return std::make_pair(0u, 0u);
  // k more digits make [value * base^k, value * base^k + base^k - 1].
  uint32_t last = value;
  uint64_t scale = 1;
  for (size_t k = 1; digits.size() + k <= max_digits; ++k) {
    scale *= base;
    const uint64_t low = value * scale;
    if (low > max_value) break;
    last = static_cast<uint32_t>(std::min<uint64_t>(low + scale - 1, max_value));
  }
  return std::make_pair(value, last);
}

// Full groups (each exactly canonical) then one partial group; the rest of
// the address is free. `groups` is 4 octets or 8 hextets.
std::optional<IpRange> Hull(const std::vector<absl::string_view>& full, absl::string_view partial,
                            bool v4) {
  const size_t groups = v4 ? 4 : 8;
  const int base = v4 ? 10 : 16;
  const size_t max_digits = v4 ? 3 : 4;
  const uint32_t max_value = v4 ? 255 : 0xffff;
  if (full.size() >= groups) return std::nullopt;
  std::vector<uint32_t> first(groups, 0), last(groups, max_value);
  for (size_t i = 0; i < full.size(); ++i) {
    // A full group is exactly one canonical value.
    if (full[i].empty()) return std::nullopt;
    auto range = GroupRange(full[i], base, max_digits, max_value);
    if (!range.has_value()) return std::nullopt;
    first[i] = last[i] = range->first;
  }
  auto range = GroupRange(partial, base, max_digits, max_value);
  if (!range.has_value()) return std::nullopt;
  first[full.size()] = range->first;
  last[full.size()] = range->second;
  if (v4) {
    auto pack = [](const std::vector<uint32_t>& o) {
      return IpAddress::FromV4(o[0] << 24 | o[1] << 16 | o[2] << 8 | o[3]);
    };
    return IpRange{pack(first), pack(last)};
  }
  auto pack = [](const std::vector<uint32_t>& h) {
    std::array<uint8_t, 16> bytes{};
    for (size_t i = 0; i < 8; ++i) {
      bytes[2 * i] = static_cast<uint8_t>(h[i] >> 8);
      bytes[2 * i + 1] = static_cast<uint8_t>(h[i] & 0xff);
    }
    return IpAddress::FromV6(bytes);
  };
  return IpRange{pack(first), pack(last)};
}

std::optional<IpRange> V4Hull(absl::string_view prefix) {
  std::vector<absl::string_view> parts = absl::StrSplit(prefix, '.');
  const absl::string_view partial = parts.back();
  parts.pop_back();
  return Hull(parts, partial, /*v4=*/true);
}

std::optional<IpRange> V6Hull(absl::string_view prefix) {
  if (absl::StartsWith(prefix, ":")) return std::nullopt;
  // Groups after "::" sit at unknown positions: bound by those before it.
  const size_t compressed = prefix.find("::");
  if (compressed != absl::string_view::npos) {
    prefix = prefix.substr(0, compressed + 1);  // "2001:db8::1" → "2001:db8:"
  }
  std::vector<absl::string_view> parts = absl::StrSplit(prefix, ':');
  const absl::string_view partial = parts.back();
  parts.pop_back();
  return Hull(parts, partial, /*v4=*/false);
}

// The values of one octet whose text starts with `digits`, as disjoint
// ascending ranges: the value, then each longer run ("2" → 2, 20–29,
// 200–255; "0" → 0 only; "" → 0–255). Empty if none.
std::vector<std::pair<uint32_t, uint32_t>> OctetRanges(absl::string_view digits) {
  if (digits.empty()) return {{0, 255}};
  if (digits.size() > 3 || (digits.size() > 1 && digits[0] == '0')) return {};
  uint32_t value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  if (value > 255) return {};
  std::vector<std::pair<uint32_t, uint32_t>> ranges = {{value, value}};
  if (value == 0) return ranges;
  uint32_t scale = 1;
  for (size_t length = digits.size() + 1; length <= 3; ++length) {
    scale *= 10;
    const uint32_t low = value * scale;
    if (low > 255) break;
    const uint32_t high = std::min<uint32_t>(low + scale - 1, 255);
    if (low == ranges.back().second + 1) {
      ranges.back().second = high;
    } else {
      ranges.emplace_back(low, high);
    }
  }
  return ranges;
}

}  // namespace

std::optional<std::vector<IpRange>> TextPrefixV4Ranges(absl::string_view prefix) {
  if (prefix.find('.') == absl::string_view::npos) return std::nullopt;
  for (char c : prefix) {
    if (c != '.' && !absl::ascii_isdigit(c)) return std::nullopt;
  }
  std::vector<absl::string_view> parts = absl::StrSplit(prefix, '.');
  const absl::string_view partial = parts.back();
  parts.pop_back();
  std::vector<IpRange> ranges;
  if (parts.size() >= 4) return ranges;
  uint32_t fixed = 0;  // the full octets, left-aligned
  for (size_t i = 0; i < parts.size(); ++i) {
    std::vector<std::pair<uint32_t, uint32_t>> exact = OctetRanges(parts[i]);
    // A full octet is exactly one canonical value.
    if (parts[i].empty() || exact.empty()) return ranges;
    fixed |= exact.front().first << (24 - 8 * i);
  }
  const int shift = 24 - 8 * static_cast<int>(parts.size());
  const uint32_t free_bits = shift == 0 ? 0 : (1u << shift) - 1;
  for (const auto& [low, high] : OctetRanges(partial)) {
    ranges.push_back(IpRange{IpAddress::FromV4(fixed | low << shift),
                             IpAddress::FromV4(fixed | high << shift | free_bits)});
  }
  return ranges;
}

std::optional<IpRange> TextPrefixHull(absl::string_view prefix) {
  if (prefix.empty()) return std::nullopt;
  bool dot = false, colon = false, hex_letter = false;
  for (char c : prefix) {
    if (c == '.') {
      dot = true;
    } else if (c == ':') {
      colon = true;
    } else if (absl::ascii_isxdigit(c) && !absl::ascii_isdigit(c)) {
      hex_letter = true;
    } else if (!absl::ascii_isdigit(c)) {
      return std::nullopt;
    }
  }
  if (dot && (colon || hex_letter)) return std::nullopt;  // "::ffff:1.2" and the like
  if (dot) return V4Hull(prefix);
  if (colon || hex_letter) return V6Hull(prefix);
  // Digits only: the start of an IPv4 or of an IPv6 address. One range
  // holding both: from the IPv4 hull's first to the IPv6 hull's last.
  std::optional<IpRange> v4 = V4Hull(prefix);
  std::optional<IpRange> v6 = V6Hull(prefix);
  if (!v4.has_value()) return v6;
  if (!v6.has_value()) return v4;
  return IpRange{v4->first, v6->last};
}

}  // namespace egress
