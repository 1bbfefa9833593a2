#include "service/enrichment/ptr_resolver.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace egress {

std::ostream& operator<<(std::ostream& os, PtrLookupResult::Outcome outcome) {
  switch (outcome) {
    case PtrLookupResult::Outcome::kFound:
      return os << "found";
    case PtrLookupResult::Outcome::kNoPtr:
      return os << "no PTR";
    case PtrLookupResult::Outcome::kTemporaryFailure:
      return os << "temporary failure";
  }
  return os << "?";
}

std::string ReverseDnsName(const IpAddress& raw) {
  static constexpr char kHex[] = "0123456789abcdef";
  const IpAddress ip = raw.Unmapped();
  absl::Span<const uint8_t> bytes = ip.bytes();
  std::string name;
  if (ip.is_v4()) {
    for (size_t i = bytes.size(); i-- > 0;) absl::StrAppend(&name, bytes[i], ".");
    name += "in-addr.arpa";
  } else {
    name.reserve(72);
    for (size_t i = bytes.size(); i-- > 0;) {
      name += kHex[bytes[i] & 0xf];
      name += '.';
      name += kHex[bytes[i] >> 4];
      name += '.';
    }
    name += "ip6.arpa";
  }
  return name;
}

PtrLookupResult PtrResolver::ResolveSync(const IpAddress& ip) {
  auto done = std::make_shared<absl::Notification>();
  auto result = std::make_shared<PtrLookupResult>();
  Resolve(ip, [done, result](PtrLookupResult r) {
    *result = std::move(r);
    done->Notify();
  });
  done->WaitForNotification();
  return *result;
}

}  // namespace egress
