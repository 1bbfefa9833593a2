// The agent's source of time, so logic that depends on "now" can be tested.
#ifndef EGRESS_AGENT_CLOCK_H_
#define EGRESS_AGENT_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace egress::agent {

// Thread-safe in every implementation.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class RealClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_CLOCK_H_
