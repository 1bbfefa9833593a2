// The seam to the kernel's REJECT counting sets (reject_count_sets.h): read
// the generation map, read a generation's counts, initialize a fresh table's
// generations, switch generations. The agent owns the bookkeeping (when to
// read, what was counted); implementations only talk to the kernel.
// Not thread-safe: the agent's event loop (and Create) call it.
#ifndef EGRESS_AGENT_REJECT_COUNTER_H_
#define EGRESS_AGENT_REJECT_COUNTER_H_

#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/reject_count_sets.h"

namespace egress::agent {

class RejectCounter {
 public:
  virtual ~RejectCounter() = default;
  // nullopt: a fresh table (generation a counting, not numbered yet).
  virtual absl::StatusOr<std::optional<RejectGenerations>> Generations() = 0;
  // Every element of generation `g`'s sets (0 a, 1 b).
  virtual absl::StatusOr<std::vector<RejectCount>> Read(int g) = 0;
  virtual absl::Status Init(uint32_t number) = 0;
  // One transaction: flush the idle generation, number it, activate it.
  virtual absl::Status Switch(const RejectGenerations& gens, uint32_t number) = 0;
  // New connections of non-account users since the previous call (read and
  // reset in one step; a statistic, not a count to keep exact).
  virtual absl::StatusOr<uint64_t> TakeUnattributed() = 0;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_REJECT_COUNTER_H_
