// The agent's spool record decoder on any bytes (what a crash or a bad disk
// leaves in a segment file): a record or DATA_LOSS, never a read past the
// input; a decoded record encodes back to the same bytes.
#include <cstddef>
#include <cstdint>

#include "agent/spool_record.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace egress::agent;  // NOLINT: a fuzzer entry point
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  // Walk the input as a segment: records back to back until the first damage.
  size_t offset = 0;
  while (offset < bytes.size()) {
    absl::StatusOr<SpoolRecord> record = DecodeSpoolRecord(bytes.substr(offset));
    if (!record.ok()) {
      FUZZ_CHECK(record.status().code() == absl::StatusCode::kDataLoss);
      break;
    }
    const size_t length = record->header_bytes + record->payload_bytes;
    FUZZ_CHECK(length <= bytes.size() - offset);
    const absl::string_view payload =
        bytes.substr(offset + record->header_bytes, record->payload_bytes);
    FUZZ_CHECK(record->header_bytes == kSpoolRecordHeaderBytes || record->reject_mark != 0);
    FUZZ_CHECK(EncodeSpoolRecord(payload, record->high_water_mark, record->reject_mark) ==
               bytes.substr(offset, length));
    offset += length;
  }
  return 0;
}
