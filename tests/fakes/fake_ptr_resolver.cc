#include "tests/fakes/fake_ptr_resolver.h"

#include <algorithm>

namespace egress::testing {

FakePtrResolver::FakePtrResolver() : thread_([this] { Run(); }) {}

FakePtrResolver::~FakePtrResolver() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void FakePtrResolver::Answer(const IpAddress& ip, PtrLookupResult result) {
  absl::MutexLock lock(&mu_);
  answers_[ip] = std::move(result);
}

void FakePtrResolver::AnswerPtr(const IpAddress& ip, const std::string& name) {
  PtrLookupResult result;
  result.outcome = PtrLookupResult::Outcome::kFound;
  result.ptr = name;
  result.ptr_confirmed = true;
  Answer(ip, std::move(result));
}

void FakePtrResolver::Hold() {
  absl::MutexLock lock(&mu_);
  held_ = true;
}

void FakePtrResolver::Release() {
  absl::MutexLock lock(&mu_);
  held_ = false;
}

int FakePtrResolver::in_flight() const {
  absl::MutexLock lock(&mu_);
  return in_flight_;
}

int FakePtrResolver::max_in_flight() const {
  absl::MutexLock lock(&mu_);
  return max_in_flight_;
}

int FakePtrResolver::lookups(const IpAddress& ip) const {
  absl::MutexLock lock(&mu_);
  auto it = lookups_.find(ip);
  return it == lookups_.end() ? 0 : it->second;
}

bool FakePtrResolver::WaitForLookups(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, count]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return total_lookups_ >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

void FakePtrResolver::Resolve(const IpAddress& ip, Callback done) {
  absl::MutexLock lock(&mu_);
  ++lookups_[ip];
  ++total_lookups_;
  ++in_flight_;
  max_in_flight_ = std::max(max_in_flight_, in_flight_);
  queue_.emplace_back(ip, std::move(done));
}

void FakePtrResolver::Run() {
  for (;;) {
    std::pair<IpAddress, Callback> next;
    PtrLookupResult result;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || (!held_ && !queue_.empty());
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping, nothing left
      next = std::move(queue_.front());
      queue_.pop_front();
      if (stopping_) {
        result.error = "shutting down";
      } else if (auto it = answers_.find(next.first); it != answers_.end()) {
        result = it->second;
      } else {
        result.error = "timeout";
      }
      // Answered from here on: the callback may ask for the next lookup.
      --in_flight_;
    }
    // Outside the lock: the callback may take the caller's locks.
    next.second(std::move(result));
  }
}

}  // namespace egress::testing
