// An in-memory IpInfoStore with PgIpInfoStore's rules, on a Clock instead of
// the database's now(): new rows are due at once and claimed before expired
// ones (oldest first); a claim leases the row (expires_at = now + lease) and
// counts an attempt; a save sets looked_up_at = now and expires_at by the
// TTL of its status, and a temporary failure keeps an earlier conclusive
// answer (OK / NO_PTR) while refreshing the owner data. FailNext() makes the
// next call of a method fail, as the database would. Thread-safe.
#ifndef EGRESS_TESTS_FAKES_FAKE_IP_INFO_STORE_H_
#define EGRESS_TESTS_FAKES_FAKE_IP_INFO_STORE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "service/enrichment/ip_info_store.h"

namespace egress::testing {

class FakeIpInfoStore final : public IpInfoStore {
 public:
  // `clock` must outlive the store.
  explicit FakeIpInfoStore(const Clock* clock) : clock_(clock) {}

  // Test side. `method` is "EnqueueNew", "ClaimDue", "SaveResults", "Get",
  // "GetMany" or "Stats"; its next call returns `status`.
  void FailNext(const std::string& method, absl::Status status);
  int save_calls() const;
  // Waits until SaveResults was called `count` times in all, failed or not.
  bool WaitForSaveCalls(int count, absl::Duration timeout) const;

  // IpInfoStore.
  absl::StatusOr<int64_t> EnqueueNew(absl::Span<const IpAddress> ips) override;
  absl::StatusOr<std::vector<IpInfoRecord>> ClaimDue(int limit, absl::Duration lease) override;
  absl::Status SaveResults(absl::Span<const IpInfoResult> results, const IpInfoTtls& ttls) override;
  absl::StatusOr<std::optional<IpInfoRecord>> Get(const IpAddress& ip) override;
  absl::StatusOr<std::vector<IpInfoRecord>> GetMany(absl::Span<const IpAddress> ips) override;
  absl::StatusOr<IpInfoStoreStats> Stats() override;

 private:
  absl::Status Injected(const std::string& method) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool Due(const IpInfoRecord& row, absl::Time now) const;

  const Clock* clock_;
  mutable absl::Mutex mu_;
  // By address: GetMany returns rows in IpAddress order.
  std::map<IpAddress, IpInfoRecord> rows_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> failures_ ABSL_GUARDED_BY(mu_);
  int save_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace egress::testing

#endif  // EGRESS_TESTS_FAKES_FAKE_IP_INFO_STORE_H_
