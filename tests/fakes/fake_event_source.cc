#include "tests/fakes/fake_event_source.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdlib>
#include <utility>

namespace egress::testing {

FakeEventSource::FakeEventSource(const Clock* clock) : clock_(clock) {
  fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // A test cannot run without it; fail loudly rather than hang in poll().
  if (fd_ < 0) std::abort();
  // As the real source: opened empty, so drained as of now.
  last_drain_nanos_ = static_cast<uint64_t>(absl::ToUnixNanos(clock_->Now()));
}

FakeEventSource::~FakeEventSource() { close(fd_); }

void FakeEventSource::Signal() {
  signalled_ = true;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(fd_, &one, sizeof(one));
}

void FakeEventSource::Unsignal() {
  signalled_ = false;
  uint64_t value;
  [[maybe_unused]] ssize_t n = read(fd_, &value, sizeof(value));
}

void FakeEventSource::Push(const agent::ConnectionEvent& event) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(event);
  Signal();
}

void FakeEventSource::PushAll(const std::vector<agent::ConnectionEvent>& events) {
  absl::MutexLock lock(&mu_);
  queue_.insert(queue_.end(), events.begin(), events.end());
  Signal();
}

void FakeEventSource::Wake() {
  absl::MutexLock lock(&mu_);
  Signal();
}

void FakeEventSource::AddLost(uint64_t events) {
  absl::MutexLock lock(&mu_);
  lost_pending_ += events;
  stats_.lost += events;
  ++stats_.overruns;
}

void FakeEventSource::AddRecoveredOverrun() {
  absl::MutexLock lock(&mu_);
  ++recovered_pending_;
  ++stats_.overruns;
  ++stats_.resyncs;
}

void FakeEventSource::SetTable(std::vector<agent::ConnectionEvent> entries) {
  absl::MutexLock lock(&mu_);
  table_ = std::move(entries);
}

void FakeEventSource::set_resync_window(absl::Duration window) {
  absl::MutexLock lock(&mu_);
  resync_window_ = window;
}

void FakeEventSource::set_events_sysctl(int value) {
  absl::MutexLock lock(&mu_);
  events_sysctl_ = value;
}

void FakeEventSource::FailNextRead(absl::Status status) {
  absl::MutexLock lock(&mu_);
  next_read_error_ = std::move(status);
  Signal();
}

bool FakeEventSource::WaitUntilDrained(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return queue_.empty() && in_flight_ == 0 && !signalled_;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&drained), timeout);
}

std::vector<uint64_t> FakeEventSource::resync_calls() const {
  absl::MutexLock lock(&mu_);
  return resync_calls_;
}

uint64_t FakeEventSource::delivered() const {
  absl::MutexLock lock(&mu_);
  return stats_.events;
}

absl::StatusOr<size_t> FakeEventSource::ReadAvailable(size_t max_events,
                                                      const agent::EventSink& sink) {
  const uint64_t read_started_at = static_cast<uint64_t>(absl::ToUnixNanos(clock_->Now()));
  std::vector<agent::ConnectionEvent> taken;
  {
    absl::MutexLock lock(&mu_);
    if (!next_read_error_.ok()) return std::exchange(next_read_error_, absl::OkStatus());
    while (!queue_.empty() && taken.size() < max_events) {
      taken.push_back(queue_.front());
      queue_.pop_front();
    }
    in_flight_ = taken.size();
    if (taken.size() < max_events) {
      // The queue was read empty: everything before now is delivered.
      last_drain_nanos_ = read_started_at;
    }
    if (queue_.empty()) Unsignal();
  }
  // Outside the lock: the sink may seal a batch, and the test may push.
  for (const agent::ConnectionEvent& event : taken) sink(event);
  absl::MutexLock lock(&mu_);
  stats_.events += taken.size();
  in_flight_ = 0;
  return taken.size();
}

uint64_t FakeEventSource::TakeLostEvents() {
  absl::MutexLock lock(&mu_);
  return std::exchange(lost_pending_, 0);
}

agent::EventSourceStats FakeEventSource::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

uint64_t FakeEventSource::TakeRecoveredOverruns() {
  absl::MutexLock lock(&mu_);
  return std::exchange(recovered_pending_, 0);
}

uint64_t FakeEventSource::last_drain_nanos() const {
  absl::MutexLock lock(&mu_);
  return last_drain_nanos_;
}

absl::StatusOr<size_t> FakeEventSource::Resync(uint64_t after_unix_nanos,
                                               const agent::EventSink& sink) {
  std::vector<agent::ConnectionEvent> found;
  {
    absl::MutexLock lock(&mu_);
    resync_calls_.push_back(after_unix_nanos);
    ++stats_.resyncs;
    for (const agent::ConnectionEvent& entry : table_) {
      if (static_cast<uint64_t>(absl::ToUnixNanos(entry.time)) > after_unix_nanos) {
        found.push_back(entry);
      }
    }
  }
  for (const agent::ConnectionEvent& event : found) sink(event);
  absl::MutexLock lock(&mu_);
  stats_.events += found.size();
  return found.size();
}

absl::Duration FakeEventSource::ResyncWindow() const {
  absl::MutexLock lock(&mu_);
  return resync_window_;
}

int FakeEventSource::events_sysctl() const {
  absl::MutexLock lock(&mu_);
  return events_sysctl_;
}

}  // namespace egress::testing
