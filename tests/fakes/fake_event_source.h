// An event source tests script: events pushed by the test come out of
// ReadAvailable() in order, through the agent's real event loop (fd() is an
// eventfd that is readable while events are queued). It plays either role,
// the conntrack source (ConntrackSource: high-water mark, table resync,
// recovered overruns) or the reject log (the extra methods unused).
//
// Mirrors the real sources' contract: at most `max_events` per call;
// last_drain_nanos() is the clock's time when a read last found the queue
// empty; TakeLostEvents() hands out what AddLost() announced, once; stats()
// counts delivered events and the overruns announced. Resync() delivers the
// table's entries (SetTable) that started after the mark, in order.
// Thread-safe: the test pushes from its thread while the agent reads.
#ifndef EGRESS_TESTS_FAKES_FAKE_EVENT_SOURCE_H_
#define EGRESS_TESTS_FAKES_FAKE_EVENT_SOURCE_H_

#include <cstdint>
#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/conntrack_source.h"
#include "common/clock.h"

namespace egress::testing {

class FakeEventSource final : public agent::ConntrackSource {
 public:
  // `clock` must outlive the source.
  explicit FakeEventSource(const Clock* clock);
  ~FakeEventSource() override;
  FakeEventSource(const FakeEventSource&) = delete;
  FakeEventSource& operator=(const FakeEventSource&) = delete;

  // Test side, any thread.
  void Push(const agent::ConnectionEvent& event);
  // All at once: the reader sees none of them or the first of all of them.
  void PushAll(const std::vector<agent::ConnectionEvent>& events);
  // Makes fd() readable with nothing queued (a wakeup that reads nothing).
  void Wake();
  // An overrun that lost `events` for good (TakeLostEvents).
  void AddLost(uint64_t events);
  // An overrun a table dump recovered (TakeRecoveredOverruns).
  void AddRecoveredOverrun();
  // The connections the kernel still knows, by start time (event.time).
  void SetTable(std::vector<agent::ConnectionEvent> entries);
  void set_resync_window(absl::Duration window);
  void set_events_sysctl(int value);
  // The next ReadAvailable() fails with `status` (an unusable socket).
  void FailNextRead(absl::Status status);
  // Waits until every pushed event was delivered and a read found the queue
  // empty after the last Push or Wake (so the agent's loop has handled
  // that wakeup); false after `timeout`.
  bool WaitUntilDrained(absl::Duration timeout);
  // The mark of each Resync() call, in order.
  std::vector<uint64_t> resync_calls() const;
  uint64_t delivered() const;

  // agent::ConntrackSource.
  int fd() const override { return fd_; }
  absl::StatusOr<size_t> ReadAvailable(size_t max_events, const agent::EventSink& sink) override;
  uint64_t TakeLostEvents() override;
  agent::EventSourceStats stats() const override;
  uint64_t TakeRecoveredOverruns() override;
  uint64_t last_drain_nanos() const override;
  absl::StatusOr<size_t> Resync(uint64_t after_unix_nanos, const agent::EventSink& sink) override;
  absl::Duration ResyncWindow() const override;
  int events_sysctl() const override;

 private:
  void Signal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Unsignal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock* clock_;
  int fd_ = -1;
  mutable absl::Mutex mu_;
  std::deque<agent::ConnectionEvent> queue_ ABSL_GUARDED_BY(mu_);
  // Taken by ReadAvailable but not yet delivered.
  size_t in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  // fd() is readable.
  bool signalled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<agent::ConnectionEvent> table_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> resync_calls_ ABSL_GUARDED_BY(mu_);
  agent::EventSourceStats stats_ ABSL_GUARDED_BY(mu_);
  uint64_t lost_pending_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t recovered_pending_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_drain_nanos_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration resync_window_ ABSL_GUARDED_BY(mu_) = absl::Seconds(10);
  int events_sysctl_ ABSL_GUARDED_BY(mu_) = 1;
  absl::Status next_read_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_FAKES_FAKE_EVENT_SOURCE_H_
