// The framing of one record in a spool segment file (see file_spool.h):
//   "EGSB" | u32 payload length | u32 CRC-32C of (mark and payload) |
//   u64 high-water mark | payload
// or, when the record carries a REJECT counting mark (reject_count_sets.h):
//   "EGS2" | u32 payload length | u32 CRC-32C of (marks and payload) |
//   u64 high-water mark | u64 reject mark | payload
// little-endian, the payload being a serialized RecordBatch.
//
// Pure functions over bytes, apart from the file I/O, so that the decoder can
// be tested and fuzzed on its own: it reads segment files that a crash may
// have torn or a disk may have damaged, so any byte string must give either a
// record or an error, never a crash or a read past `data`.
#ifndef EGRESS_AGENT_SPOOL_RECORD_H_
#define EGRESS_AGENT_SPOOL_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "egress/v1/collector.pb.h"

namespace egress::agent {

inline constexpr size_t kSpoolRecordHeaderBytes = 20;
inline constexpr size_t kSpoolRecordHeaderBytesWithRejectMark = 28;
// A batch is far smaller; a bigger length means a damaged header.
inline constexpr uint32_t kMaxSpoolPayloadBytes = 64u << 20;

struct SpoolRecord {
  egress::v1::RecordBatch batch;
  uint64_t high_water_mark = 0;
  // 0 when the record has none.
  uint64_t reject_mark = 0;
  // The record takes header_bytes + payload_bytes.
  uint32_t header_bytes = kSpoolRecordHeaderBytes;
  uint32_t payload_bytes = 0;
};

// The record for `payload` (a serialized RecordBatch, at most
// kMaxSpoolPayloadBytes), `high_water_mark` and `reject_mark` (0: the
// shorter "EGSB" framing).
std::string EncodeSpoolRecord(absl::string_view payload, uint64_t high_water_mark,
                              uint64_t reject_mark = 0);

// Decodes the record at the start of `data` (more bytes may follow).
// DATA_LOSS when it is torn (shorter than its header says), has a bad magic,
// a length above kMaxSpoolPayloadBytes, a bad checksum, or a payload that is
// not a RecordBatch.
absl::StatusOr<SpoolRecord> DecodeSpoolRecord(absl::string_view data);

}  // namespace egress::agent

#endif  // EGRESS_AGENT_SPOOL_RECORD_H_
