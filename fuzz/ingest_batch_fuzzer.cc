// An agent's RecordBatch as the service receives it (any bytes that parse as
// one): ValidateBatch never crashes, refuses the whole batch only for a bad
// header (seq 0 or beyond bigint, too many records, a loss count beyond
// bigint), and otherwise accounts for every record exactly once: stored,
// rejected with a reason naming a field, or counted as an unknown uid.
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "common/field_status.h"
#include "fuzz/fuzz_check.h"
#include "service/ingest_validation.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace egress;  // NOLINT: a fuzzer entry point
  egress::v1::RecordBatch batch;
  if (!batch.ParseFromArray(data, static_cast<int>(size))) return 0;
  NodeInfo node;
  node.node_id = "web-01";
  node.account_by_uid = {{1001, "alice"}, {1002, "bob"}, {0, "root-owned"}};
  IngestLimits limits;
  limits.today = absl::CivilDay(2026, 3, 1);
  limits.retention_days = 400;
  limits.max_records = 1000;
  absl::StatusOr<ValidatedBatch> validated = ValidateBatch(batch, node, limits);
  if (!validated.ok()) {
    FUZZ_CHECK(validated.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(absl::StartsWith(validated.status().message(), "batch."));
    bool huge_loss = false;
    for (const egress::v1::LossReport& loss : batch.losses()) {
      huge_loss = huge_loss || loss.events() > kMaxWireInteger;
    }
    FUZZ_CHECK(batch.seq() == 0 || batch.seq() > kMaxWireInteger ||
               batch.records_size() > limits.max_records || huge_loss);
    return 0;
  }
  FUZZ_CHECK(validated->batch.seq == batch.seq());
  FUZZ_CHECK(validated->batch.records.size() + validated->rejections.size() +
                 validated->unknown_uid_records ==
             static_cast<size_t>(batch.records_size()));
  for (const IngestRecord& record : validated->batch.records) {
    FUZZ_CHECK(record.account_id == "alice" || record.account_id == "bob" ||
               record.account_id == "root-owned");
    FUZZ_CHECK(record.day >= limits.today - limits.retention_days &&
               record.day <= limits.today + 1);
    FUZZ_CHECK(!record.ip.IsUnspecified() && !record.ip.IsV4Mapped());
    const bool ports =
        record.protocol == egress::Protocol::kTcp || record.protocol == egress::Protocol::kUdp;
    FUZZ_CHECK(ports ? record.port >= 1 : record.port == 0);
    FUZZ_CHECK(record.action == egress::Action::kAccept ||
               record.action == egress::Action::kReject);
    FUZZ_CHECK(record.count >= 1 && record.count <= (uint64_t{1} << 40));
    FUZZ_CHECK(record.first_seen <= record.last_seen);
  }
  for (const egress::v1::RecordRejection& rejection : validated->rejections) {
    FUZZ_CHECK(rejection.index() < static_cast<uint32_t>(batch.records_size()));
    FUZZ_CHECK(rejection.reason().find(": ") != std::string::npos);
  }
  for (const IngestLoss& loss : validated->batch.losses) {
    FUZZ_CHECK(loss.day >= limits.today - limits.retention_days && loss.day <= limits.today + 1);
  }
  return 0;
}
