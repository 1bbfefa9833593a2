// Outbound abuse detection over the records agents send (one batch per node
// every second or so): 10-minute sliding windows per (node, account) in
// 10-second buckets, checked against the account's AbusePolicy as each
// batch arrives, so a threshold crossed is reported within one batch of it.
//
// Why here and not on the node: the service sees every node (one policy
// store, one place that alerts and locks, incidents de-duplicated across
// replicas in the database), attributes records to accounts exactly, and
// still reacts within seconds because agents send a batch every ~1 s.
//
// Pure: no I/O. Time comes from the Clock (the bucket of a record is when
// its batch arrived: records carry only first/last seen per day). Memory is
// bounded per account: buckets are fixed, and the scan check keeps at most
// threshold + 1 addresses per port and kMaxTrackedPorts ports per account;
// accounts idle for a window are forgotten (Forget).
//
// Not thread-safe: the owner serialises calls.
#ifndef EGRESS_SERVICE_ABUSE_DETECTOR_H_
#define EGRESS_SERVICE_ABUSE_DETECTOR_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "common/action.h"
#include "common/clock.h"
#include "common/ip_address.h"
#include "common/protocol.h"
#include "service/domain/abuse_policy.h"

namespace egress {

// One aggregated record of an acknowledged batch.
struct AbuseObservation {
  std::string account_id;
  uint32_t uid = 0;
  IpAddress ip;
  Protocol protocol = Protocol::kTcp;
  uint16_t port = 0;
  Action action = Action::kAccept;
  uint64_t count = 0;
};

// A condition over its threshold now.
struct AbuseFinding {
  std::string node_id;
  std::string account_id;
  AbuseKind kind = AbuseKind::kSmtp;
  // What was seen, for people: "312 SMTP connections in 10 minutes (limit 100)".
  std::string detail;
  // The ports involved (what a port lock blocks); empty for a REJECT spike.
  std::vector<uint16_t> ports;
  uint64_t measure = 0;
  uint64_t threshold = 0;
  AbusePolicy policy;
};

class AbuseDetector {
 public:
  // How often a condition that lasts is reported again (the store
  // de-duplicates it into its open incident, and re-opens one after support
  // lifted the lock and the grace passed).
  static constexpr absl::Duration kRepeatAfter = absl::Seconds(30);
  static constexpr size_t kMaxTrackedPorts = 256;

  explicit AbuseDetector(const Clock* clock) : clock_(*clock) {}

  // Counts `records` of `node_id` at Now() and returns what is over its
  // threshold (each (account, kind) at most once per kRepeatAfter).
  std::vector<AbuseFinding> Observe(const std::string& node_id,
                                    const std::vector<AbuseObservation>& records,
                                    const AbusePolicySet& policies);

  // Drops accounts with nothing in the window; returns how many remain.
  size_t Forget();

 private:
  static constexpr int kBuckets = kAbuseWindowSeconds / kAbuseBucketSeconds;
  struct Ring {
    std::array<uint64_t, kBuckets> counts{};
    int64_t newest = 0;  // bucket number of counts[newest % kBuckets]
    void Add(int64_t bucket, uint64_t n);
    uint64_t Sum(int64_t now_bucket) const;
  };
  struct AccountWindow {
    Ring smtp;
    Ring rejects;
    Ring watched;
    std::vector<uint16_t> watched_ports_seen;
    // port -> address -> newest bucket it was seen in.
    absl::flat_hash_map<uint16_t, absl::flat_hash_map<IpAddress, int64_t>> scan;
    int64_t last_bucket = 0;
    absl::flat_hash_map<int, absl::Time> reported;  // AbuseKind -> when
  };
  int64_t BucketOf(absl::Time t) const;
  bool Due(AccountWindow& window, AbuseKind kind, absl::Time now);

  const Clock& clock_;
  absl::flat_hash_map<std::pair<std::string, std::string>, AccountWindow> windows_;
};

}  // namespace egress

#endif  // EGRESS_SERVICE_ABUSE_DETECTOR_H_
