// Which source address an account's outgoing connections use, per family:
// its first-ordered dedicated IP of that family, else the node's server IP
// of that family (the panel page: "from server direct IP address or with
// dedicated IP (if ordered) ... the one that was ordered first").
#ifndef EGRESS_SERVICE_STORAGE_EGRESS_ADDRESS_H_
#define EGRESS_SERVICE_STORAGE_EGRESS_ADDRESS_H_

#include <optional>
#include <vector>

#include "common/ip_address.h"
#include "service/storage/accounts_store.h"

namespace egress {

// `dedicated_ips` in any order; ties in order time go to the lower address.
inline std::optional<IpAddress> EgressAddress(IpAddress::Family family,
                                              const std::vector<DedicatedIp>& dedicated_ips,
                                              const std::optional<IpAddress>& server_ip) {
  const DedicatedIp* first = nullptr;
  for (const DedicatedIp& dedicated : dedicated_ips) {
    if (dedicated.ip.family() != family) continue;
    if (first == nullptr || dedicated.ordered_at < first->ordered_at ||
        (dedicated.ordered_at == first->ordered_at && dedicated.ip < first->ip)) {
      first = &dedicated;
    }
  }
  if (first != nullptr) return first->ip;
  if (server_ip.has_value() && server_ip->family() == family) return server_ip;
  return std::nullopt;
}

}  // namespace egress

#endif  // EGRESS_SERVICE_STORAGE_EGRESS_ADDRESS_H_
