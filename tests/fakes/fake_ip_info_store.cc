#include "tests/fakes/fake_ip_info_store.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"

namespace egress::testing {

void FakeIpInfoStore::FailNext(const std::string& method, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failures_[method] = std::move(status);
}

int FakeIpInfoStore::save_calls() const {
  absl::MutexLock lock(&mu_);
  return save_calls_;
}

bool FakeIpInfoStore::WaitForSaveCalls(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return save_calls_ >= count; };
  return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
}

absl::Status FakeIpInfoStore::Injected(const std::string& method) {
  auto it = failures_.find(method);
  if (it == failures_.end()) return absl::OkStatus();
  absl::Status status = std::move(it->second);
  failures_.erase(it);
  return status;
}

bool FakeIpInfoStore::Due(const IpInfoRecord& row, absl::Time now) const {
  return !row.expires_at.has_value() || *row.expires_at <= now;
}

absl::StatusOr<int64_t> FakeIpInfoStore::EnqueueNew(absl::Span<const IpAddress> ips) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Injected("EnqueueNew"); !s.ok()) return s;
  int64_t added = 0;
  for (const IpAddress& ip : ips) {
    if (rows_.contains(ip)) continue;
    IpInfoRecord row;
    row.ip = ip;
    rows_.emplace(ip, std::move(row));
    ++added;
  }
  return added;
}

absl::StatusOr<std::vector<IpInfoRecord>> FakeIpInfoStore::ClaimDue(int limit,
                                                                    absl::Duration lease) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Injected("ClaimDue"); !s.ok()) return s;
  const absl::Time now = clock_->Now();
  std::vector<IpInfoRecord*> due;
  for (auto& [ip, row] : rows_) {
    if (Due(row, now)) due.push_back(&row);
  }
  // New rows (no expiry) first, then the longest expired.
  std::stable_sort(due.begin(), due.end(), [](const IpInfoRecord* a, const IpInfoRecord* b) {
    if (a->expires_at.has_value() != b->expires_at.has_value()) return !a->expires_at.has_value();
    return a->expires_at.has_value() && *a->expires_at < *b->expires_at;
  });
  if (static_cast<int>(due.size()) > limit) due.resize(static_cast<size_t>(std::max(limit, 0)));
  std::vector<IpInfoRecord> claimed;
  for (IpInfoRecord* row : due) {
    row->expires_at = now + lease;
    ++row->attempts;
    claimed.push_back(*row);
  }
  return claimed;
}

absl::Status FakeIpInfoStore::SaveResults(absl::Span<const IpInfoResult> results,
                                          const IpInfoTtls& ttls) {
  absl::MutexLock lock(&mu_);
  ++save_calls_;
  if (absl::Status s = Injected("SaveResults"); !s.ok()) return s;
  absl::flat_hash_set<IpAddress> seen;
  for (const IpInfoResult& r : results) {
    if (!seen.insert(r.ip).second) return absl::InvalidArgumentError("an IP saved twice");
  }
  const absl::Time now = clock_->Now();
  for (const IpInfoResult& r : results) {
    IpInfoRecord& row = rows_[r.ip];
    row.ip = r.ip;
    const bool keep_answer =
        r.status == IpInfoStatus::kTemporaryFailure &&
        (row.status == IpInfoStatus::kOk || row.status == IpInfoStatus::kNoPtr);
    if (!keep_answer) {
      row.status = r.status;
      row.ptr = r.ptr;
      row.ptr_confirmed = r.ptr_confirmed;
      row.looked_up_at = now;
    }
    row.asn = r.asn;
    row.as_name = r.as_name;
    row.country = r.country;
    row.network = r.network;
    row.expires_at = now + (r.status == IpInfoStatus::kOk ? ttls.positive : ttls.negative);
    row.attempts = r.status == IpInfoStatus::kTemporaryFailure ? std::max(row.attempts, 1) : 0;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<IpInfoRecord>> FakeIpInfoStore::Get(const IpAddress& ip) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Injected("Get"); !s.ok()) return s;
  auto it = rows_.find(ip);
  if (it == rows_.end()) return std::optional<IpInfoRecord>();
  return std::optional<IpInfoRecord>(it->second);
}

absl::StatusOr<std::vector<IpInfoRecord>> FakeIpInfoStore::GetMany(
    absl::Span<const IpAddress> ips) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Injected("GetMany"); !s.ok()) return s;
  absl::flat_hash_set<IpAddress> wanted(ips.begin(), ips.end());
  std::vector<IpInfoRecord> out;
  for (const auto& [ip, row] : rows_) {
    if (wanted.contains(ip)) out.push_back(row);
  }
  return out;
}

absl::StatusOr<IpInfoStoreStats> FakeIpInfoStore::Stats() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = Injected("Stats"); !s.ok()) return s;
  const absl::Time now = clock_->Now();
  IpInfoStoreStats stats;
  for (const auto& [ip, row] : rows_) {
    if (row.status == IpInfoStatus::kPending) ++stats.pending;
    if (Due(row, now)) ++stats.due;
    ++stats.total;
  }
  return stats;
}

}  // namespace egress::testing
