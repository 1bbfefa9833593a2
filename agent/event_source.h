// A source of connection events read from the kernel: conntrack NEW events
// (ACCEPT) or logged rejects (REJECT). Each implementation wraps one netlink
// socket; the agent's event loop polls fd() and calls ReadAvailable().
//
// Contract:
//  - fd() is valid for the source's lifetime, non-blocking, pollable (POLLIN).
//  - ReadAvailable() never blocks. It delivers at most `max_events` events to
//    `sink` (the per-wakeup limit that keeps one socket from starving the
//    others) and returns how many it delivered. The ConnectionEvent passed to
//    `sink` is only valid during the call.
//  - Receive-buffer overruns (ENOBUFS) are not errors: the source counts them,
//    grows its buffer up to its cap, logs once per burst and adds what it
//    knows was lost to TakeLostEvents(). Only an unusable socket is an error
//    (Internal), after which the source should be recreated.
//  - Not thread-safe: one thread (the event loop) owns the source.
#ifndef EGRESS_AGENT_EVENT_SOURCE_H_
#define EGRESS_AGENT_EVENT_SOURCE_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "agent/connection_event.h"

namespace egress::agent {

struct EventSourceStats {
  // Events delivered to the sink.
  uint64_t events = 0;
  // Messages read but not delivered (not an account's, exempt, unparsable).
  uint64_t filtered = 0;
  // Connections of users that are not accounts (conntrack only).
  uint64_t unattributed = 0;
  // ENOBUFS seen on the socket.
  uint64_t overruns = 0;
  // Events known lost (exact when the source can tell, else a lower bound).
  uint64_t lost = 0;
  // Table dumps run to recover events (conntrack only).
  uint64_t resyncs = 0;
  // Current receive buffer size asked of the kernel.
  int rcvbuf_bytes = 0;
};

using EventSink = std::function<void(const ConnectionEvent&)>;

class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual int fd() const = 0;
  virtual absl::StatusOr<size_t> ReadAvailable(size_t max_events, const EventSink& sink) = 0;
  // Events known lost since the previous call (0 if none).
  virtual uint64_t TakeLostEvents() = 0;
  virtual EventSourceStats stats() const = 0;
};

}  // namespace egress::agent

#endif  // EGRESS_AGENT_EVENT_SOURCE_H_
