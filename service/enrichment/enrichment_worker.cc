#include "service/enrichment/enrichment_worker.h"

#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace egress {
namespace {

// Results of finished lookups wait at most this long before being saved.
constexpr absl::Duration kFlushInterval = absl::Milliseconds(100);
// How often the backlog is counted while running.
constexpr absl::Duration kStatsInterval = absl::Seconds(5);

IpInfoStatus StatusOf(const PtrLookupResult& ptr) {
  switch (ptr.outcome) {
    case PtrLookupResult::Outcome::kFound:
      return IpInfoStatus::kOk;
    case PtrLookupResult::Outcome::kNoPtr:
      return IpInfoStatus::kNoPtr;
    case PtrLookupResult::Outcome::kTemporaryFailure:
      return IpInfoStatus::kTemporaryFailure;
  }
  return IpInfoStatus::kTemporaryFailure;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EnrichmentWorker>> EnrichmentWorker::Create(
    const EnrichmentOptions& options, OwnerDatabase* owner, PtrResolver* resolver,
    IpInfoStore* store) {
  EGRESS_RETURN_IF_ERROR(ValidateEnrichmentOptions(options));
  if (resolver == nullptr || store == nullptr) {
    return absl::InvalidArgumentError("enrichment worker needs a resolver and a store");
  }
  return std::unique_ptr<EnrichmentWorker>(new EnrichmentWorker(options, owner, resolver, store));
}

EnrichmentWorker::EnrichmentWorker(const EnrichmentOptions& options, OwnerDatabase* owner,
                                   PtrResolver* resolver, IpInfoStore* store)
    : options_(options),
      owner_(owner),
      resolver_(resolver),
      store_(store),
      low_water_(std::max(1, options.max_in_flight / 2)) {}

EnrichmentWorker::~EnrichmentWorker() { Stop(); }

void EnrichmentWorker::Start() {
  absl::MutexLock lock(&mutex_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void EnrichmentWorker::Stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void EnrichmentWorker::Wake() {
  absl::MutexLock lock(&mutex_);
  wake_ = true;
}

EnrichmentStats EnrichmentWorker::stats() const {
  absl::MutexLock lock(&mutex_);
  EnrichmentStats stats = stats_;
  stats.in_flight = in_flight_;
  return stats;
}

IpInfoResult EnrichmentWorker::OwnerResult(const IpAddress& ip) {
  IpInfoResult result;
  result.ip = ip.Unmapped();
  if (owner_ != nullptr) {
    if (std::optional<OwnerInfo> owner = owner_->Lookup(result.ip)) {
      result.asn = owner->asn;
      result.as_name = std::move(owner->as_name);
      result.country = std::move(owner->country);
      result.network = owner->network;
    }
  }
  return result;
}

void EnrichmentWorker::Complete(IpInfoResult result, const PtrLookupResult& ptr) {
  result.status = StatusOf(ptr);
  result.ptr = ptr.ptr;
  result.ptr_confirmed = ptr.ptr_confirmed;
  ++stats_.looked_up;
  if (result.network.has_value()) ++stats_.owner_found;
  switch (result.status) {
    case IpInfoStatus::kOk:
      ++stats_.ptr_found;
      if (result.ptr_confirmed) ++stats_.ptr_confirmed;
      break;
    case IpInfoStatus::kNoPtr:
      ++stats_.no_ptr;
      break;
    default:
      ++stats_.temporary_failures;
      break;
  }
  completed_.push_back(std::move(result));
}

void EnrichmentWorker::Save(std::vector<IpInfoResult>& results) {
  const IpInfoTtls ttls{options_.positive_ttl, options_.negative_ttl};
  for (size_t start = 0; start < results.size();
       start += static_cast<size_t>(options_.save_batch)) {
    size_t end = std::min(results.size(), start + static_cast<size_t>(options_.save_batch));
    absl::Span<const IpInfoResult> batch(results.data() + start, end - start);
    absl::Status status = store_->SaveResults(batch, ttls);
    absl::MutexLock lock(&mutex_);
    if (status.ok()) {
      stats_.saved += batch.size();
    } else {
      // The rows stay claimed until their lease ends, then are retried.
      if (stats_.save_errors++ % 100 == 0) {
        LogError("enrichment_save_failed",
                 {{"error", status.ToString()}, {"rows", static_cast<int64_t>(batch.size())}});
      }
    }
  }
  results.clear();
}

void EnrichmentWorker::Run() {
  bool idle = false;  // the last claim found less than it asked for
  absl::Time next_claim = absl::InfinitePast();
  absl::Time next_owner_check = absl::Now() + options_.owner_database_check_interval;
  absl::Time next_stats = absl::Now();
  std::vector<IpInfoResult> done;
  for (;;) {
    int64_t in_flight;
    {
      absl::MutexLock lock(&mutex_);
      absl::Time now = absl::Now();
      absl::Time deadline = std::min(next_owner_check, next_stats);
      if (in_flight_ > 0 || !completed_.empty())
        deadline = std::min(deadline, now + kFlushInterval);
      if (in_flight_ < low_water_) deadline = std::min(deadline, next_claim);
      auto ready = [this, &idle]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) {
        return stopping_ || wake_ ||
               completed_.size() >= static_cast<size_t>(options_.save_batch) ||
               (!idle && in_flight_ < low_water_);
      };
      mutex_.AwaitWithDeadline(absl::Condition(&ready), deadline);
      if (wake_) {
        wake_ = false;
        idle = false;
      }
      done.swap(completed_);
      in_flight = in_flight_;
      if (stopping_) break;
    }
    if (!done.empty()) Save(done);

    absl::Time now = absl::Now();
    if (owner_ != nullptr && now >= next_owner_check) {
      // A failed reload keeps the old data and is logged by the database.
      if (!owner_->ReloadIfChanged().ok()) {
        absl::MutexLock lock(&mutex_);
        ++stats_.owner_reload_errors;
      }
      next_owner_check = absl::Now() + options_.owner_database_check_interval;
    }
    if (now >= next_stats) {
      absl::StatusOr<IpInfoStoreStats> counts = store_->Stats();
      if (counts.ok()) {
        absl::MutexLock lock(&mutex_);
        stats_.backlog = counts->due;
        stats_.pending = counts->pending;
        stats_.backlog_at = now;
      }
      next_stats = now + kStatsInterval;
    }
    if (in_flight < low_water_ && (!idle || now >= next_claim)) {
      const int want = options_.max_in_flight - static_cast<int>(in_flight);
      absl::StatusOr<std::vector<IpInfoRecord>> claimed =
          store_->ClaimDue(want, options_.claim_lease);
      if (!claimed.ok()) {
        absl::MutexLock lock(&mutex_);
        if (stats_.claim_errors++ % 100 == 0) {
          LogError("enrichment_claim_failed", {{"error", claimed.status().ToString()}});
        }
        idle = true;
        next_claim = now + options_.idle_poll_interval;
        continue;
      }
      idle = static_cast<int>(claimed->size()) < want;
      if (idle) next_claim = now + options_.idle_poll_interval;
      {
        absl::MutexLock lock(&mutex_);
        in_flight_ += static_cast<int64_t>(claimed->size());
        stats_.claimed += claimed->size();
      }
      for (const IpInfoRecord& record : *claimed) {
        IpInfoResult base = OwnerResult(record.ip);
        resolver_->Resolve(record.ip, [this, base = std::move(base)](PtrLookupResult ptr) mutable {
          absl::MutexLock lock(&mutex_);
          --in_flight_;
          Complete(std::move(base), ptr);
        });
      }
    }
  }

  // Stopping: let the lookups in flight finish (bounded by the resolver's
  // timeouts) and save what they found.
  {
    absl::MutexLock lock(&mutex_);
    auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_) { return in_flight_ == 0; };
    // Every lookup ends within the resolver's own timeouts, and its callback
    // touches this worker: wait for all of them, however long it takes.
    if (!mutex_.AwaitWithTimeout(absl::Condition(&drained),
                                 WorstCaseLookupTime(options_) + absl::Seconds(1))) {
      LogWarning("enrichment_stop_slow", {{"in_flight", in_flight_}});
      mutex_.Await(absl::Condition(&drained));
    }
    done.insert(done.end(), std::make_move_iterator(completed_.begin()),
                std::make_move_iterator(completed_.end()));
    completed_.clear();
  }
  if (!done.empty()) Save(done);
}

absl::StatusOr<IpInfoRecord> EnrichmentWorker::Lookup(const IpAddress& raw_ip, bool refresh) {
  const IpAddress ip = raw_ip.Unmapped();
  if (!refresh) {
    EGRESS_ASSIGN_OR_RETURN(std::optional<IpInfoRecord> cached, store_->Get(ip));
    if (cached.has_value() && cached->status != IpInfoStatus::kPending) return *cached;
  }
  IpInfoResult result = OwnerResult(ip);
  PtrLookupResult ptr = resolver_->ResolveSync(ip);
  {
    absl::MutexLock lock(&mutex_);
    Complete(std::move(result), ptr);
    result = std::move(completed_.back());
    completed_.pop_back();
  }
  EGRESS_RETURN_IF_ERROR(
      store_->SaveResults({result}, IpInfoTtls{options_.positive_ttl, options_.negative_ttl}));
  {
    absl::MutexLock lock(&mutex_);
    ++stats_.saved;
  }
  EGRESS_ASSIGN_OR_RETURN(std::optional<IpInfoRecord> stored, store_->Get(ip));
  if (!stored.has_value()) return absl::InternalError("ip_info row vanished after saving");
  return *stored;
}

}  // namespace egress
