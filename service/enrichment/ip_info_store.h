// The ip_info cache: PTR and owner of every destination IP, each looked up
// once however many accounts and nodes see it, refreshed when it expires.
#ifndef EGRESS_SERVICE_ENRICHMENT_IP_INFO_STORE_H_
#define EGRESS_SERVICE_ENRICHMENT_IP_INFO_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/ip_address.h"

namespace egress {

// Values as stored (ip_info.status) and as in IpInfo.Status of the API.
enum class IpInfoStatus : int16_t {
  kPending = 1,
  kOk = 2,
  kNoPtr = 3,
  kTemporaryFailure = 4,
};

// One row of ip_info.
struct IpInfoRecord {
  IpAddress ip;
  IpInfoStatus status = IpInfoStatus::kPending;
  std::string ptr;
  bool ptr_confirmed = false;
  uint32_t asn = 0;
  std::string as_name;
  std::string country;
  std::optional<IpNetwork> network;
  // Unset while pending.
  std::optional<absl::Time> looked_up_at;
  // When the row is due for a (re)lookup; unset: due now (new row). While a
  // worker holds a claim this is the end of its lease.
  std::optional<absl::Time> expires_at;
  // Lookups started since the last conclusive answer (OK / NO_PTR).
  int attempts = 0;
};

// The outcome of one lookup, to be saved.
struct IpInfoResult {
  IpAddress ip;
  // kOk, kNoPtr or kTemporaryFailure.
  IpInfoStatus status = IpInfoStatus::kTemporaryFailure;
  std::string ptr;
  bool ptr_confirmed = false;
  uint32_t asn = 0;
  std::string as_name;
  std::string country;
  std::optional<IpNetwork> network;
};

struct IpInfoTtls {
  // OK rows (a PTR was found).
  absl::Duration positive = absl::Hours(24);
  // NO_PTR rows and temporary failures.
  absl::Duration negative = absl::Hours(1);
};

struct IpInfoStoreStats {
  // Rows never looked up yet (status pending).
  int64_t pending = 0;
  // Rows due now: new, expired, or whose claim lapsed.
  int64_t due = 0;
  int64_t total = 0;
};

// Thread-safe. Every method is one transaction with a bounded number of
// statements, whatever the batch size. Errors are the storage layer's
// (UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, INTERNAL; see database.h) plus
// INVALID_ARGUMENT for bad arguments.
class IpInfoStore {
 public:
  virtual ~IpInfoStore() = default;

  // Adds the addresses not yet known as pending rows, due now; known ones
  // are left alone. Duplicates in `ips` are fine. Returns how many were new.
  // Cheap enough for the ingest path: one INSERT ... ON CONFLICT DO NOTHING.
  virtual absl::StatusOr<int64_t> EnqueueNew(absl::Span<const IpAddress> ips) = 0;

  // Claims up to `limit` due rows, oldest due first with new rows before
  // refreshes, for `lease`: they are not due again until the lease ends, so
  // several workers (in any number of replicas) never take the same row,
  // and a worker that dies only delays its rows by the lease. Increments
  // `attempts`. The rows keep their data (a refresh shows the old answer
  // until the new one is saved).
  virtual absl::StatusOr<std::vector<IpInfoRecord>> ClaimDue(int limit, absl::Duration lease) = 0;

  // Saves lookups (upsert: rows need not exist). looked_up_at = now;
  // expires_at = now + the TTL for the status. A temporary failure of a row
  // that has a conclusive earlier answer (OK or NO_PTR) keeps that answer
  // (the PTR fields and status) and only refreshes owner data and expiry,
  // so a resolver outage does not erase what was known. `attempts` is reset
  // by OK / NO_PTR. Each IP at most once per call (INVALID_ARGUMENT).
  virtual absl::Status SaveResults(absl::Span<const IpInfoResult> results,
                                   const IpInfoTtls& ttls) = 0;

  // The row of `ip`, or nullopt if unknown.
  virtual absl::StatusOr<std::optional<IpInfoRecord>> Get(const IpAddress& ip) = 0;
  // The rows of those of `ips` that are known, in IP order.
  virtual absl::StatusOr<std::vector<IpInfoRecord>> GetMany(absl::Span<const IpAddress> ips) = 0;

  virtual absl::StatusOr<IpInfoStoreStats> Stats() = 0;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ENRICHMENT_IP_INFO_STORE_H_
