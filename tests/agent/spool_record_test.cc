// The spool's record framing on its own: round trip and every kind of damage
// that a crash or a bad disk can leave.
#include "agent/spool_record.h"

#include "agent/crc32c.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace egress::agent {
namespace {

using ::egress::testing::StatusIs;

std::string Payload(uint64_t seq) {
  egress::v1::RecordBatch batch;
  batch.set_seq(seq);
  batch.add_records()->set_uid(1001);
  return batch.SerializeAsString();
}

TEST(SpoolRecordTest, CarriesTheRejectMarkAndEveryDamageIsDataLoss) {
  const std::string record = EncodeSpoolRecord(Payload(9), 55, 0x1234567800000003u);
  ASSERT_EQ(record.size(), kSpoolRecordHeaderBytesWithRejectMark + Payload(9).size());
  absl::StatusOr<SpoolRecord> decoded = DecodeSpoolRecord(record + "x");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->batch.seq(), 9u);
  EXPECT_EQ(decoded->high_water_mark, 55u);
  EXPECT_EQ(decoded->reject_mark, 0x1234567800000003u);
  EXPECT_EQ(decoded->header_bytes, kSpoolRecordHeaderBytesWithRejectMark);
  for (size_t n = 0; n < record.size(); ++n) {
    EXPECT_THAT(DecodeSpoolRecord(record.substr(0, n)), StatusIs(absl::StatusCode::kDataLoss)) << n;
  }
  for (size_t i = 0; i < record.size(); ++i) {
    if (i >= 4 && i < 8) continue;  // a changed length is "torn", also DataLoss
    std::string bad = record;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    EXPECT_THAT(DecodeSpoolRecord(bad), StatusIs(absl::StatusCode::kDataLoss)) << i;
  }
  // Without a mark, the old framing (older spools still load).
  EXPECT_EQ(EncodeSpoolRecord(Payload(9), 55, 0), EncodeSpoolRecord(Payload(9), 55));
}

// Found by the fuzzer: an "EGS2" record with a valid checksum but a zero mark
// decoded as a record without a mark, which encodes to other bytes.
TEST(SpoolRecordTest, AMarkedRecordWithAZeroMarkIsDataLoss) {
  std::string zero_mark = EncodeSpoolRecord(Payload(9), 55, 1);
  ASSERT_EQ(zero_mark.substr(0, 4), "EGS2");
  for (int i = 20; i < 28; ++i) zero_mark[i] = '\0';
  // A valid checksum (CRC-32C from the high-water mark on), so that only the
  // zero mark is wrong.
  const uint32_t crc = Crc32c(absl::string_view(zero_mark).substr(12));
  for (int i = 0; i < 4; ++i) zero_mark[8 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  EXPECT_THAT(DecodeSpoolRecord(zero_mark),
              StatusIs(absl::StatusCode::kDataLoss, "reject-mark record without a mark"));
}

TEST(SpoolRecordTest, RoundTripsAndIgnoresWhatFollows) {
  const std::string record = EncodeSpoolRecord(Payload(7), 1234567);
  ASSERT_EQ(record.size(), kSpoolRecordHeaderBytes + Payload(7).size());
  absl::StatusOr<SpoolRecord> decoded = DecodeSpoolRecord(record + "next record");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->batch.seq(), 7u);
  EXPECT_EQ(decoded->high_water_mark, 1234567u);
  EXPECT_EQ(decoded->payload_bytes, Payload(7).size());
}

TEST(SpoolRecordTest, EveryDamageIsDataLoss) {
  const std::string good = EncodeSpoolRecord(Payload(7), 99);
  // Torn at every length, including inside the header.
  for (size_t n = 0; n < good.size(); ++n) {
    EXPECT_THAT(DecodeSpoolRecord(good.substr(0, n)), StatusIs(absl::StatusCode::kDataLoss)) << n;
  }
  // Any single flipped bit: magic, length, checksum, mark or payload.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    EXPECT_THAT(DecodeSpoolRecord(bad), StatusIs(absl::StatusCode::kDataLoss)) << i;
  }
  // A huge length is refused before anything is read.
  std::string huge = good;
  huge[7] = '\x7f';
  EXPECT_THAT(DecodeSpoolRecord(huge),
              StatusIs(absl::StatusCode::kDataLoss, "length out of range"));
  // A checksummed payload that is not a RecordBatch.
  EXPECT_THAT(DecodeSpoolRecord(EncodeSpoolRecord("\xff\xff\xff", 0)),
              StatusIs(absl::StatusCode::kDataLoss, "payload is not a RecordBatch"));
}

}  // namespace
}  // namespace egress::agent
