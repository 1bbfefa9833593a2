// IngestRecord and IngestBatch makers for store tests: one TCP/443 key per
// (account, ip, action, day), seen for 10 s from `seen`.
#ifndef EGRESS_TESTS_SUPPORT_INGEST_BATCHES_H_
#define EGRESS_TESTS_SUPPORT_INGEST_BATCHES_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/ip_address.h"
#include "service/storage/collector_store.h"

namespace egress::testing {

// The day the store tests write to (its month's partition is made by them).
inline const absl::CivilDay kIngestTestDay(2026, 3, 10);

inline IngestRecord Record(const std::string& account, const std::string& ip, uint64_t count,
                           Action action = Action::kAccept, int64_t seen = 1773100000,
                           absl::CivilDay day = kIngestTestDay) {
  IngestRecord record;
  record.account_id = account;
  record.day = day;
  record.ip = *IpAddress::Parse(ip);
  record.protocol = Protocol::kTcp;
  record.port = 443;
  record.action = action;
  record.count = count;
  record.first_seen = absl::FromUnixSeconds(seen);
  record.last_seen = absl::FromUnixSeconds(seen + 10);
  return record;
}

inline IngestBatch Batch(const std::string& node, uint64_t seq, std::vector<IngestRecord> records) {
  IngestBatch batch;
  batch.node_id = node;
  batch.seq = seq;
  batch.records = std::move(records);
  return batch;
}

}  // namespace egress::testing

#endif  // EGRESS_TESTS_SUPPORT_INGEST_BATCHES_H_
