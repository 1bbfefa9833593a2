#include "agent/spool_record.h"

#include <cstring>

#include "agent/crc32c.h"

namespace egress::agent {
namespace {

constexpr char kMagic[4] = {'E', 'G', 'S', 'B'};
constexpr char kMagic2[4] = {'E', 'G', 'S', '2'};

void PutU32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void PutU64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

}  // namespace

std::string EncodeSpoolRecord(absl::string_view payload, uint64_t high_water_mark,
                              uint64_t reject_mark) {
  const bool with_reject = reject_mark != 0;
  std::string record(with_reject ? kSpoolRecordHeaderBytesWithRejectMark : kSpoolRecordHeaderBytes,
                     '\0');
  std::memcpy(record.data(), with_reject ? kMagic2 : kMagic, 4);
  PutU32(record.data() + 4, static_cast<uint32_t>(payload.size()));
  PutU64(record.data() + 12, high_water_mark);
  if (with_reject) PutU64(record.data() + 20, reject_mark);
  record.append(payload.data(), payload.size());
  PutU32(record.data() + 8, Crc32c(absl::string_view(record).substr(12)));
  return record;
}

absl::StatusOr<SpoolRecord> DecodeSpoolRecord(absl::string_view data) {
  if (data.size() < kSpoolRecordHeaderBytes) {
    return absl::DataLossError("torn record: shorter than a header");
  }
  const bool with_reject = std::memcmp(data.data(), kMagic2, 4) == 0;
  if (!with_reject && std::memcmp(data.data(), kMagic, 4) != 0) {
    return absl::DataLossError("bad magic");
  }
  const size_t header =
      with_reject ? kSpoolRecordHeaderBytesWithRejectMark : kSpoolRecordHeaderBytes;
  if (data.size() < header) return absl::DataLossError("torn record: shorter than a header");
  const uint32_t length = GetU32(data.data() + 4);
  if (length > kMaxSpoolPayloadBytes) return absl::DataLossError("length out of range");
  if (data.size() - header < length) {
    return absl::DataLossError("torn record: payload cut short");
  }
  if (Crc32c(data.substr(12, header - 12 + length)) != GetU32(data.data() + 8)) {
    return absl::DataLossError("checksum mismatch");
  }
  SpoolRecord record;
  if (!record.batch.ParseFromArray(data.data() + header, static_cast<int>(length))) {
    return absl::DataLossError("payload is not a RecordBatch");
  }
  record.high_water_mark = GetU64(data.data() + 12);
  if (with_reject) {
    record.reject_mark = GetU64(data.data() + 20);
    // The encoder writes "EGS2" only with a mark; a zero one would read back
    // as "no mark" and re-encode as a different record, so it is damage.
    if (record.reject_mark == 0) return absl::DataLossError("reject-mark record without a mark");
  }
  record.header_bytes = static_cast<uint32_t>(header);
  record.payload_bytes = length;
  return record;
}

}  // namespace egress::agent
