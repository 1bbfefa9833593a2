// A PtrResolver with scripted answers: Answer(ip, result) sets what a lookup
// of `ip` returns (an unscripted address: kTemporaryFailure "timeout"). As
// the contract asks, every callback runs on the resolver's own thread, once;
// Hold() keeps answers back until Release(), so a test can look at lookups
// in flight. Destruction answers what is held (kTemporaryFailure, "shutting
// down"). Thread-safe.
#ifndef EGRESS_TESTS_FAKES_FAKE_PTR_RESOLVER_H_
#define EGRESS_TESTS_FAKES_FAKE_PTR_RESOLVER_H_

#include <deque>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/ip_address.h"
#include "service/enrichment/ptr_resolver.h"

namespace egress::testing {

class FakePtrResolver final : public PtrResolver {
 public:
  FakePtrResolver();
  ~FakePtrResolver() override;
  FakePtrResolver(const FakePtrResolver&) = delete;
  FakePtrResolver& operator=(const FakePtrResolver&) = delete;

  // Test side.
  void Answer(const IpAddress& ip, PtrLookupResult result);
  // A confirmed PTR `name` for `ip`.
  void AnswerPtr(const IpAddress& ip, const std::string& name);
  void Hold();
  void Release();
  // Lookups asked for and not answered yet.
  int in_flight() const;
  // The most lookups in flight at once so far.
  int max_in_flight() const;
  // How often `ip` was looked up.
  int lookups(const IpAddress& ip) const;
  bool WaitForLookups(int count, absl::Duration timeout) const;

  // PtrResolver.
  void Resolve(const IpAddress& ip, Callback done) override;

 private:
  void Run();

  mutable absl::Mutex mu_;
  absl::flat_hash_map<IpAddress, PtrLookupResult> answers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<IpAddress, int> lookups_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<IpAddress, Callback>> queue_ ABSL_GUARDED_BY(mu_);
  int total_lookups_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int max_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_FAKES_FAKE_PTR_RESOLVER_H_
