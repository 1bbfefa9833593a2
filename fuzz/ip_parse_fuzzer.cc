// IpAddress::Parse, IpNetwork::Parse and IpAddress::FromBytes on any bytes:
// no crash, only INVALID_ARGUMENT errors, and whatever parses prints back to
// text that parses to the same value.
#include <cstddef>
#include <cstdint>

#include "common/ip_address.h"
#include "fuzz/fuzz_check.h"

namespace egress {
namespace {

void CheckAddress(absl::string_view text) {
  absl::StatusOr<IpAddress> address = IpAddress::Parse(text);
  if (!address.ok()) {
    FUZZ_CHECK(address.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(text.size() <= kMaxIpAddressTextBytes);
  FUZZ_CHECK(!address->IsV4Mapped());
  absl::StatusOr<IpAddress> again = IpAddress::Parse(address->ToString());
  FUZZ_CHECK(again.ok() && *again == *address);
  FUZZ_CHECK(address->bytes().size() == (address->is_v4() ? 4u : 16u));
}

void CheckNetwork(absl::string_view text) {
  absl::StatusOr<IpNetwork> network = IpNetwork::Parse(text);
  if (!network.ok()) {
    FUZZ_CHECK(network.status().code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(text.size() <= kMaxIpNetworkTextBytes);
  FUZZ_CHECK(network->prefix_length() >= 0 &&
             network->prefix_length() <= network->address().bit_length());
  absl::StatusOr<IpNetwork> again = IpNetwork::Parse(network->ToString());
  FUZZ_CHECK(again.ok() && *again == *network);
  absl::StatusOr<IpNetwork> created =
      IpNetwork::Create(network->address(), network->prefix_length());
  FUZZ_CHECK(created.ok() && *created == *network);
  FUZZ_CHECK(network->Contains(network->address()));
  FUZZ_CHECK(network->Contains(network->LastAddress()));
  FUZZ_CHECK(network->Contains(*network));
  FUZZ_CHECK(network->LastAddress() >= network->address());
}

void CheckBytes(absl::Span<const uint8_t> bytes) {
  absl::StatusOr<IpAddress> address = IpAddress::FromBytes(bytes);
  FUZZ_CHECK(address.ok() == (bytes.size() == 4 || bytes.size() == 16));
  if (!address.ok()) return;
  FUZZ_CHECK(address->bytes() == bytes);
  // Text of a raw value parses to its unmapped form.
  absl::StatusOr<IpAddress> parsed = IpAddress::Parse(address->ToString());
  FUZZ_CHECK(parsed.ok() && *parsed == address->Unmapped());
  FUZZ_CHECK(IpNetwork::Host(*address).Contains(address->Unmapped()));
}

}  // namespace
}  // namespace egress

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  egress::CheckAddress(text);
  egress::CheckNetwork(text);
  egress::CheckBytes(absl::MakeConstSpan(data, size));
  return 0;
}
