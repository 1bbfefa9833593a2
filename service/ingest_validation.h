// Turns an agent's RecordBatch into an IngestBatch: each record is checked
// and attributed on its own, so one bad record is refused with its reason
// while the rest of the batch is committed.
#ifndef EGRESS_SERVICE_INGEST_VALIDATION_H_
#define EGRESS_SERVICE_INGEST_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/time/civil_time.h"
#include "egress/v1/collector.pb.h"
#include "service/storage/collector_store.h"

namespace egress {

struct IngestLimits {
  // Days accepted: [today - retention_days, today + 1] in the service's zone
  // (one day ahead tolerates agents' clock skew around midnight).
  absl::CivilDay today;
  int retention_days = 400;
  // Most records in one batch; larger batches are refused whole.
  int max_records = 100000;
};

struct ValidatedBatch {
  IngestBatch batch;
  std::vector<egress::v1::RecordRejection> rejections;
  uint32_t unknown_uid_records = 0;
};

// INVALID_ARGUMENT (the whole batch) only for a bad header: seq 0 or too many
// records. Everything else is per record.
absl::StatusOr<ValidatedBatch> ValidateBatch(const egress::v1::RecordBatch& batch,
                                             const NodeInfo& node, const IngestLimits& limits);

}  // namespace egress

#endif  // EGRESS_SERVICE_INGEST_VALIDATION_H_
