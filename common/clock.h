// The source of "now" for logic where time decides something (which civil
// day a record may belong to, whether a token or a temporary block has
// expired, whether a scan report is from the future), so that such logic is
// tested deterministically (tests/fakes/fake_clock.h) across midnight in any
// time zone and across DST changes. Timers that only pace work (retry
// pauses, fold intervals) use absl::Now() directly.
#ifndef EGRESS_COMMON_CLOCK_H_
#define EGRESS_COMMON_CLOCK_H_

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace egress {

// Thread-safe in every implementation.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
};

class RealClock final : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  // The process's one real clock (stateless, never destroyed).
  static const Clock* Get() {
    static const RealClock* const clock = new RealClock();
    return clock;
  }
};

}  // namespace egress

#endif  // EGRESS_COMMON_CLOCK_H_
