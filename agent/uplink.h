// The agent's connection to the service: sends spooled batches, receives the
// Welcome, acks and rule sets.
//
// Contract:
//  - Start() begins connecting in the background and returns at once; the
//    uplink reconnects by itself (exponential backoff with jitter) until
//    Stop(). Nothing is lost while disconnected: batches wait in the spool.
//  - On every (re)connection the uplink sends Hello, waits for Welcome, hands
//    it to the listener (which applies the rule set before anything else),
//    acknowledges the spool up to Welcome.last_committed_seq, then sends the
//    remaining spooled batches oldest first, at most a window of them unacked.
//  - BatchReady() may be called from any thread after a batch was appended
//    to the spool; it only wakes the sender.
//  - Listener methods run on gRPC callback threads, one at a time per
//    stream; they must not call back into the uplink.
#ifndef EGRESS_AGENT_UPLINK_H_
#define EGRESS_AGENT_UPLINK_H_

#include <cstdint>
#include <optional>

#include "absl/time/time.h"
#include "egress/v1/collector.pb.h"

namespace egress::agent {

class UplinkListener {
 public:
  virtual ~UplinkListener() = default;
  // The Welcome of a new stream. Returns what to acknowledge for its rule set.
  virtual v1::RulesApplied OnWelcome(const v1::Welcome& welcome) = 0;
  // A rule set pushed later on the stream. nullopt: it cannot be applied on
  // top of what this stream delivered before (a partial rule set with
  // another base): the uplink drops the stream, and the next Welcome
  // carries a full rule set.
  virtual std::optional<v1::RulesApplied> OnRuleSet(const v1::RuleSet& rules) = 0;
  // Current counters, for Hello and the periodic stats message.
  virtual v1::AgentStats Stats() = 0;
};

struct UplinkStats {
  uint64_t connects = 0;
  uint64_t disconnects = 0;
  uint64_t batches_sent = 0;
  uint64_t batches_acked = 0;
  bool connected = false;  // Welcome received on the current stream
};

class Uplink {
 public:
  virtual ~Uplink() = default;
  virtual void Start() = 0;
  virtual void BatchReady() = 0;
  // Waits up to `timeout` until every spooled batch is acknowledged; true if so.
  virtual bool WaitForAcks(absl::Duration timeout) = 0;
  // Closes the stream and joins the background thread. Idempotent.
  virtual void Stop() = 0;
  virtual UplinkStats stats() const = 0;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_UPLINK_H_
