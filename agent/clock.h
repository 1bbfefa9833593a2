// The agent's source of time is the project's one Clock (common/clock.h), so
// the agent's logic that depends on "now" (which civil day an event counts
// for, when a batch is sealed, how long the node was down) is tested with the
// same fake clock as the service's (tests/fakes/fake_clock.h).
#ifndef EGRESS_AGENT_CLOCK_H_
#define EGRESS_AGENT_CLOCK_H_

#include "common/clock.h"

namespace egress::agent {

using Clock = ::egress::Clock;
using RealClock = ::egress::RealClock;

}  // namespace egress::agent

#endif  // EGRESS_AGENT_CLOCK_H_
