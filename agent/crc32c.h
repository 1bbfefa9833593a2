// CRC-32C (Castagnoli), as used by the spool's record checksums. Pure.
#ifndef EGRESS_AGENT_CRC32C_H_
#define EGRESS_AGENT_CRC32C_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace egress::agent {

uint32_t Crc32c(absl::string_view data);

}  // namespace egress::agent

#endif  // EGRESS_AGENT_CRC32C_H_
